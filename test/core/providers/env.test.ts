/** Key and base-URL resolution from the SPEC's environment variables and router.yaml entries. */
import assert from 'node:assert/strict';
import { UserError } from '../../../src/core/errors';
import { baseUrlEnvVar, resolveProviderConfig } from '../../../src/core/providers/env';
import { createProviderFromEntry } from '../../../src/core/providers/registry';
import { startFakeProviderServer } from '../../fakes/provider-server';

describe('provider env resolution', () => {
  it('names the base-URL variable from the provider id', () => {
    assert.equal(baseUrlEnvVar('gemini'), 'SWITCHBOARD_GEMINI_BASE_URL');
    assert.equal(baseUrlEnvVar('lm-studio.local'), 'SWITCHBOARD_LM_STUDIO_LOCAL_BASE_URL');
    assert.equal(baseUrlEnvVar('Ollama2'), 'SWITCHBOARD_OLLAMA2_BASE_URL');
  });

  it('takes each kind’s key from its variables, first set wins, blanks ignored', () => {
    const cases: [Parameters<typeof resolveProviderConfig>[0]['kind'], NodeJS.ProcessEnv, string | undefined, string | undefined][] = [
      ['openai', { OPENAI_API_KEY: ' sk-1 ' }, 'sk-1', 'OPENAI_API_KEY'],
      ['gemini', { GEMINI_API_KEY: 'g1', GOOGLE_API_KEY: 'g2' }, 'g1', 'GEMINI_API_KEY'],
      ['gemini', { GEMINI_API_KEY: '  ', GOOGLE_API_KEY: 'g2' }, 'g2', 'GOOGLE_API_KEY'],
      ['huggingface', { HUGGINGFACE_API_TOKEN: 'h2' }, 'h2', 'HUGGINGFACE_API_TOKEN'],
      ['huggingface', { HF_TOKEN: 'h1', HUGGINGFACE_API_TOKEN: 'h2' }, 'h1', 'HF_TOKEN'],
      ['together', { TOGETHER_AI_API_KEY: 't2' }, 't2', 'TOGETHER_AI_API_KEY'],
      ['together', {}, undefined, undefined],
      ['openai-compatible', { OPENAI_API_KEY: 'sk-1' }, undefined, undefined],
    ];
    for (const [kind, env, key, from] of cases) {
      const r = resolveProviderConfig({ id: kind, kind, tier: 'free' }, env);
      assert.equal(r.apiKey, key, `${kind} ${JSON.stringify(env)}`);
      assert.equal(r.keyEnvVar, from);
    }
  });

  it('an apiKeyEnv entry replaces the defaults', () => {
    const env = { OPENAI_API_KEY: 'default', WORK_OPENAI_KEY: 'work' };
    assert.equal(resolveProviderConfig({ id: 'work', kind: 'openai', tier: 'paid', apiKeyEnv: 'WORK_OPENAI_KEY' }, env).apiKey, 'work');
    const missing = resolveProviderConfig({ id: 'work', kind: 'openai', tier: 'paid', apiKeyEnv: ['NOPE_1', 'NOPE_2'] }, env);
    assert.equal(missing.apiKey, undefined, 'no silent fallback to the default account');
    assert.deepEqual(missing.keyEnvVars, ['NOPE_1', 'NOPE_2']);
    assert.equal(resolveProviderConfig({ id: 'lm', kind: 'openai-compatible', tier: 'local', apiKeyEnv: 'LM_KEY' }, { LM_KEY: 'k' }).apiKey, 'k');
  });

  it('base URL: env over router.yaml over the SDK default', () => {
    const entry = { id: 'gemini', kind: 'gemini' as const, tier: 'free' as const, baseUrl: 'https://proxy.example/gemini/' };
    const fromEnv = resolveProviderConfig(entry, { SWITCHBOARD_GEMINI_BASE_URL: 'http://127.0.0.1:9/g' });
    assert.equal(fromEnv.baseUrl, 'http://127.0.0.1:9/g');
    assert.equal(fromEnv.baseUrlSource, 'env');
    const fromYaml = resolveProviderConfig(entry, {});
    assert.equal(fromYaml.baseUrl, 'https://proxy.example/gemini', 'trailing slash dropped');
    assert.equal(fromYaml.baseUrlSource, 'router.yaml');
    const byDefault = resolveProviderConfig({ ...entry, baseUrl: undefined }, { SWITCHBOARD_GEMINI_BASE_URL: ' ' });
    assert.equal(byDefault.baseUrl, undefined);
    assert.equal(byDefault.baseUrlSource, 'default');
  });

  it('a bad base URL is a plain user error naming where it came from', () => {
    assert.throws(
      () => resolveProviderConfig({ id: 'openai', kind: 'openai', tier: 'paid' }, { SWITCHBOARD_OPENAI_BASE_URL: 'not a url' }),
      (e: unknown) => e instanceof UserError && /SWITCHBOARD_OPENAI_BASE_URL is not a valid URL/.test(e.message),
    );
    assert.throws(
      () => resolveProviderConfig({ id: 'x', kind: 'openai', tier: 'paid', baseUrl: 'file:///etc/passwd' }, {}),
      (e: unknown) => e instanceof UserError && /baseUrl of provider "x" must be an http/.test(e.message),
    );
  });

  it('SWITCHBOARD_<ID>_BASE_URL points the real SDK at a fake server', async () => {
    const server = await startFakeProviderServer();
    try {
      const env = { SWITCHBOARD_MY_GEMINI_BASE_URL: server.baseUrl('gemini', 'g'), GOOGLE_API_KEY: 'AIzaFAKEKEYFORTESTSabcdefghijklmnopqrstu' };
      const provider = createProviderFromEntry({ id: 'my-gemini', kind: 'gemini', tier: 'free', baseUrl: 'https://unused.example' }, env);
      const result = await provider.generate({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] }, { headersTimeoutMs: 2000, idleTimeoutMs: 2000, totalDeadlineMs: 5000, maxResponseBytes: 1e6 });
      assert.equal(result.complete, true);
      assert.equal(server.completions('g')[0]!.headers['x-goog-api-key'], env.GOOGLE_API_KEY);
    } finally {
      await server.close();
    }
  });
});
