/** A provider whose base URL is broken is reported for that, not as missing its key. */
import assert from 'node:assert/strict';
import { builtInRouterConfig, type RouterConfig } from '../../../src/core/router/config';
import { RouteError, Router } from '../../../src/core/router/router';
import { MemoryLedger } from './memory-ledger';

describe('Router: a bad base URL is not "no API key"', () => {
  for (const baseUrl of ['not a url', 'ftp://example.com/v1']) {
    it(`with its key set and baseUrl "${baseUrl}", the skip reason names the URL`, async () => {
      const config: RouterConfig = {
        ...builtInRouterConfig(),
        providers: [{
          id: 'corp', kind: 'openai-compatible', tier: 'free', baseUrl, apiKeyEnv: ['CORP_KEY'], disabled: false, source: 'test', quotas: [],
          models: [{ id: 'corp-1', input_per_mtok: 0, output_per_mtok: 0, context: 100_000 }],
        }],
        routing: { chain: ['free'], allow_paid: false, tasks: {} },
      };
      const router = new Router({ config, ledger: new MemoryLedger(), env: { CORP_KEY: 'corp-key-' + 'x'.repeat(20) }, providerFor: () => assert.fail('no provider may be created') });
      const err = await router.route({ task: 'code', messages: [{ role: 'user', content: 'hi' }] }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof RouteError);
      const reasons = err.skipped.filter((s) => s.provider === 'corp').map((s) => s.reason).join('; ');
      assert.match(reasons, /baseUrl of provider "corp" (is not a valid URL|must be an http)/);
      assert.doesNotMatch(reasons, /no API key/);
    });
  }

  it('without a key, "no API key" is still what it says', async () => {
    const config: RouterConfig = {
      ...builtInRouterConfig(),
      providers: [{ id: 'corp', kind: 'openai-compatible', tier: 'free', baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: ['CORP_KEY'], disabled: false, source: 'test', quotas: [], models: [{ id: 'corp-1', input_per_mtok: 0, output_per_mtok: 0, context: 100_000 }] }],
      routing: { chain: ['free'], allow_paid: false, tasks: {} },
    };
    const router = new Router({ config, ledger: new MemoryLedger(), env: {} });
    const err = await router.route({ task: 'code', messages: [{ role: 'user', content: 'hi' }] }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RouteError);
    assert.match(err.skipped.map((s) => s.reason).join('; '), /no API key \(set CORP_KEY\)/);
  });
});
