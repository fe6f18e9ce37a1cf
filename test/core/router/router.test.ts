/**
 * Routing decisions of the Router class with an in-process scripted Provider and the in-memory Ledger double.
 * (The real SDKs, fake server and SqlJsLedger are exercised in router-e2e.test.ts.)
 */
import assert from 'node:assert/strict';
import { builtInRouterConfig, type ProviderSpec, type RouterConfig } from '../../../src/core/router/config';
import { cooldownKey, RouteError, Router, type LocalProbe, type RouteRequest } from '../../../src/core/router/router';
import { ProviderError, type GenerationRequest, type GenerationResult, type Provider } from '../../../src/core/providers/types';
import { MemoryLedger } from './memory-ledger';

type Script = Array<GenerationResult | ProviderError>;

class ScriptedProvider implements Provider {
  readonly kind = 'openai-compatible' as const;
  calls: GenerationRequest[] = [];
  constructor(readonly id: string, private readonly script: Script) {}
  async generate(request: GenerationRequest): Promise<GenerationResult> {
    this.calls.push(request);
    const next = this.script.shift() ?? ok('default');
    if (next instanceof ProviderError) throw next;
    return next;
  }
}

function ok(text: string, extra: Partial<GenerationResult> = {}): GenerationResult {
  return { text, model: 'm', usage: { inputTokens: 100, outputTokens: 50 }, usageEstimated: false, finishReason: 'stop', complete: true, ...extra };
}
const fail = (id: string, failure: ProviderError['failure'], details: ConstructorParameters<typeof ProviderError>[3] = {}) => new ProviderError(id, failure, `${failure} from ${id}`, details);

function spec(id: string, tier: ProviderSpec['tier'], over: Partial<ProviderSpec> = {}): ProviderSpec {
  return {
    id, kind: 'openai-compatible', tier, apiKeyEnv: [], disabled: false, source: 'test', quotas: [],
    models: [{ id: `${id}-m`, input_per_mtok: tier === 'paid' ? 1 : 0, output_per_mtok: tier === 'paid' ? 2 : 0, context: 100_000 }],
    ...over,
  };
}

function setup(providers: ProviderSpec[], scripts: Record<string, Script>, routing: Partial<RouterConfig['routing']> = {}, extra: { probe?: LocalProbe; env?: NodeJS.ProcessEnv } = {}) {
  const config: RouterConfig = { ...builtInRouterConfig(), providers, routing: { chain: ['local', 'free', 'paid'], allow_paid: true, tasks: {}, ...routing } };
  const ledger = new MemoryLedger();
  const instances = new Map<string, ScriptedProvider>();
  const sleeps: number[] = [];
  let now = Date.UTC(2026, 0, 15, 12);
  const router = new Router({
    config, ledger, env: extra.env ?? {}, clock: () => now, random: () => 1,
    sleep: async (ms) => { sleeps.push(ms); now += ms; },
    probe: extra.probe ?? (async () => ({ up: false, models: [], reason: 'no local server (test)' })),
    providerFor: (s) => {
      const p = new ScriptedProvider(s.id, scripts[s.id] ?? []);
      instances.set(s.id, p);
      return p;
    },
  });
  return { router, ledger, instances, sleeps, advance: (ms: number) => { now += ms; } };
}

const req = (over: Partial<RouteRequest> = {}): RouteRequest => ({ task: 'tests', messages: [{ role: 'user', content: 'write tests' }], maxTokens: 50, ...over });

describe('Router: routing decisions', () => {
  it('serves from the cheapest tier, settles real usage and reports the whole story', async () => {
    const local = spec('local', 'local', { baseUrl: 'http://127.0.0.1:1/v1' });
    const { router, ledger } = setup([spec('pd', 'paid'), local, spec('fr', 'free', { quotas: [{ metric: 'requests', window: 'day', limit: 10 }] })], { fr: [ok('done')] });
    const r = await router.route(req());
    assert.equal(r.provider, 'fr');
    assert.equal(r.tier, 'free');
    assert.equal(r.text, 'done');
    assert.equal(r.costUsd, 0);
    assert.equal(r.baselineUsd, (100 * 3 + 50 * 15) / 1e6);
    assert.deepEqual([r.inputTokens, r.outputTokens, r.complete], [100, 50, true]);
    assert.deepEqual(r.attempts.map((a) => [a.provider, a.outcome]), [['fr', 'ok']]);
    assert.deepEqual(r.quotaLeft.map((q) => [q.metric, q.window, q.limit, q.used, q.left]), [['requests', 'day', 10, 1, 9]]);
    assert.equal(ledger.records.length, 1);
    assert.deepEqual(ledger.records[0]!.amounts, { requests: 1, input_chars: 11, tokens: 150, usd: 0 });
    assert.equal(ledger.reservations.size, 0, 'no reservation left open');
    assert.deepEqual(r.skipped, [{ provider: 'local', reason: 'no local server (test)' }]);
  });

  it('skips a provider whose quota would be exceeded (by reservation) and says why', async () => {
    const { router, ledger } = setup([spec('fr', 'free', { quotas: [{ metric: 'input_chars', window: 'month', limit: 20 }] }), spec('pd', 'paid')], {});
    await router.route(req()); // 11 chars
    const r = await router.route(req()); // another 11 would make 22 > 20
    assert.equal(r.provider, 'pd');
    assert.match(r.skipped.find((s) => s.provider === 'fr')!.reason, /^quota would be exceeded: input_chars\/month 11 of 20 used/);
    assert.equal(ledger.records.length, 2);
  });

  it('retries the same provider on 5xx with backoff, then fails over, charging only the successful call', async () => {
    const { router, ledger, sleeps } = setup([spec('a', 'free'), spec('b', 'free')], {
      a: [fail('a', 'server_error'), fail('a', 'server_error'), fail('a', 'server_error')],
      b: [ok('from b')],
    });
    const r = await router.route(req());
    assert.equal(r.provider, 'b');
    assert.deepEqual(r.attempts.map((a) => `${a.provider}:${a.outcome}`), ['a:server_error', 'a:server_error', 'a:server_error', 'b:ok']);
    assert.deepEqual(sleeps, [500, 1000], 'exponential backoff (jitter pinned to 100 %)');
    assert.equal(ledger.records.length, 1);
    assert.equal(ledger.released.length, 1, "a's reservation was given back");
    assert.deepEqual(ledger.outcomes, [{ providerId: 'a', ok: false }, { providerId: 'a', ok: false }, { providerId: 'a', ok: false }, { providerId: 'b', ok: true }]);
  });

  it('honours Retry-After on a 429 and fails over (with a shared cooldown) when the wait is long', async () => {
    const { router, ledger, sleeps } = setup([spec('a', 'free'), spec('b', 'free')], {
      a: [fail('a', 'rate_limited', { retryAfterMs: 1200 }), fail('a', 'rate_limited', { retryAfterMs: 86_400_000, status: 429 })],
      b: [ok('from b')],
    });
    const r = await router.route(req());
    assert.equal(r.provider, 'b');
    assert.deepEqual(sleeps, [1200]);
    const cool = ledger.cooldowns.get(cooldownKey('a', undefined))!;
    assert.equal(cool.reason, 'rate limited');
    // The next route skips "a" without calling it.
    const again = await router.route(req());
    assert.equal(again.provider, 'b');
    assert.match(again.skipped.find((s) => s.provider === 'a')!.reason, /^cooling down until .* \(rate limited\)$/);
  });

  it('on an auth error cools that provider/key down in the ledger and fails over', async () => {
    const env = { A_KEY: 'key-one-123456' };
    const { router, ledger, instances } = setup([spec('a', 'free', { apiKeyEnv: ['A_KEY'] }), spec('b', 'free')], { a: [fail('a', 'auth', { status: 401 })], b: [ok('b1'), ok('b2')] }, {}, { env });
    assert.equal((await router.route(req())).provider, 'b');
    assert.ok(ledger.cooldowns.has(cooldownKey('a', 'key-one-123456')));
    assert.ok(![...ledger.cooldowns.keys()].some((k) => k.includes('key-one')), 'the key itself is never stored');
    await router.route(req());
    assert.equal(instances.get('a')!.calls.length, 1, 'a is not called again while cooling down');
  });

  it('stops at once on a bad request: no other provider is tried, the reservation is released', async () => {
    const { router, ledger, instances } = setup([spec('a', 'free'), spec('b', 'free')], { a: [fail('a', 'bad_request', { status: 400 })] });
    await assert.rejects(router.route(req()), (e: unknown) => e instanceof RouteError && e.code === 'bad_request' && /a refused the request/.test(e.message) && e.attempts.length === 1);
    assert.equal(instances.get('b'), undefined);
    assert.equal(ledger.reservations.size, 0);
    assert.equal(ledger.records.length, 0);
  });

  it('after a context-length refusal moves only to models with a larger context', async () => {
    const models = (id: string, ctx: number[]) => ctx.map((c, i) => ({ id: `${id}-${i}`, input_per_mtok: 0, output_per_mtok: 0, context: c }));
    const { router } = setup([spec('a', 'free', { models: models('a', [8000, 8000, 32000]) })], {
      a: [fail('a', 'context_length', { status: 400 }), ok('big')],
    });
    const r = await router.route(req());
    assert.equal(r.model, 'a-2');
    assert.deepEqual(r.attempts.map((x) => `${x.model}:${x.outcome}`), ['a-0:context_length', 'a-2:ok']);
    assert.ok(r.skipped.some((s) => s.model === 'a-1' && /not larger than the model that refused/.test(s.reason)));
  });

  it('fails over on timeouts, resets and malformed bodies without retrying the same provider', async () => {
    for (const failure of ['timeout', 'network', 'malformed'] as const) {
      const { router, sleeps } = setup([spec('a', 'free'), spec('b', 'free')], { a: [fail('a', failure)], b: [ok('b')] });
      const r = await router.route(req());
      assert.deepEqual(r.attempts.map((x) => `${x.provider}:${x.outcome}`), [`a:${failure}`, 'b:ok'], failure);
      assert.deepEqual(sleeps, []);
    }
  });

  it('returns incomplete output marked incomplete, and charges it', async () => {
    const { router, ledger } = setup([spec('a', 'free')], { a: [ok('half', { complete: false, finishReason: 'length' })] });
    const r = await router.route(req());
    assert.equal(r.complete, false);
    assert.equal(r.finishReason, 'length');
    assert.match(r.attempts[0]!.message, /incomplete \(length\)/);
    assert.equal(ledger.records.length, 1);
  });

  it('skips a provider whose circuit is open', async () => {
    const { router, ledger } = setup([spec('a', 'free'), spec('b', 'free')], { b: [ok('b')] });
    ledger.circuits.set('a', { state: 'open', untilMs: Date.UTC(2030, 0, 1) });
    const r = await router.route(req());
    assert.equal(r.provider, 'b');
    assert.match(r.skipped.find((s) => s.provider === 'a')!.reason, /circuit open/);
  });

  it('keeps paid spending within budget_usd_month', async () => {
    const { router, ledger } = setup([spec('pd', 'paid')], {}, { budget_usd_month: 0.001 });
    ledger.spendUsd = 0.00095;
    await assert.rejects(router.route(req()), (e: unknown) => e instanceof RouteError && e.code === 'no_provider' && /over budget_usd_month/.test(e.message));
    ledger.spendUsd = 0;
    assert.equal((await router.route(req())).provider, 'pd');
  });

  it('explains every skip when nothing can take the task', async () => {
    const { router } = setup([spec('k', 'free', { apiKeyEnv: ['K_KEY'] }), spec('pd', 'paid')], {}, { allow_paid: false });
    await assert.rejects(router.route(req()), (e: unknown) => {
      assert.ok(e instanceof RouteError);
      assert.match(e.message, /^no provider could take this tests task: /);
      assert.match(e.message, /k: no API key \(set K_KEY\)/);
      assert.match(e.message, /pd: paid and routing.allow_paid is false/);
      return true;
    });
  });

  it('uses the local tier only when it answers, with the models it serves', async () => {
    const probes: string[] = [];
    const probe: LocalProbe = async (url) => { probes.push(url); return { up: true, models: ['qwen2.5-coder'] }; };
    const local = spec('local', 'local', { models: [], baseUrl: 'http://127.0.0.1:1/v1' });
    const { router } = setup([local, spec('fr', 'free')], { local: [ok('local answer')] }, {}, { probe });
    const r = await router.route(req());
    assert.deepEqual([r.provider, r.model, r.tier], ['local', 'qwen2.5-coder', 'local']);
    assert.deepEqual(probes, ['http://127.0.0.1:1/v1']);
  });

  it('redacts keys from attempt messages', async () => {
    const env = { OPENAI_API_KEY: 'sk-test-abcdefghijklmnopqrstuv' };
    const { router } = setup([spec('a', 'free'), spec('b', 'free')], {
      a: [new ProviderError('a', 'malformed', 'bad body echoing sk-test-abcdefghijklmnopqrstuv')], b: [ok('b')],
    }, {}, { env });
    const r = await router.route(req());
    assert.ok(!JSON.stringify(r).includes('abcdefghijklmnop'));
    assert.match(r.attempts[0]!.message, /\[REDACTED\]/);
  });

  it('an abort while waiting to retry ends the route as cancelled and releases the reservation', async () => {
    const controller = new AbortController();
    const { router, ledger } = setup([spec('a', 'free')], { a: [fail('a', 'server_error')] });
    (router as unknown as { sleep: (ms: number, s?: AbortSignal) => Promise<void> }).sleep = async () => { controller.abort(); throw new Error('aborted'); };
    await assert.rejects(router.route(req({ signal: controller.signal })), (e: unknown) => e instanceof RouteError && e.code === 'cancelled');
    assert.equal(ledger.reservations.size, 0);
  });
});
