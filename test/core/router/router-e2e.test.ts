/**
 * End to end: the Router with the REAL provider SDKs (through the providers registry) against the fake provider
 * server on 127.0.0.1, and the REAL SqlJsLedger in a temporary SWITCHBOARD_HOME. For every fault of issue 3 the
 * route ends classified correctly, within its deadline, failed over where it should, and charged once — checked
 * in the fake server's request log and in the ledger.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../../src/core/errors';
import { SqlJsLedger } from '../../../src/core/ledger';
import { clearProbeCache } from '../../../src/core/providers/probe';
import { createProvider } from '../../../src/core/providers/registry';
import type { CallLimits, FailureClass, ProviderKind } from '../../../src/core/providers/types';
import { builtInRouterConfig, type ProviderSpec, type RouterConfig } from '../../../src/core/router/config';
import { cooldownKey, RouteError, Router, type RouteRequest, type RouteResult } from '../../../src/core/router/router';
import { OPENAI_RATE_LIMIT_HEADERS, startFakeProviderServer, type FakeProviderServer, type Fault } from '../../fakes/provider-server';

const LIMITS: CallLimits = { headersTimeoutMs: 800, idleTimeoutMs: 400, totalDeadlineMs: 1500, maxResponseBytes: 256 * 1024 };

const KEYS = {
  OPENAI_API_KEY: 'sk-proj-FAKEKEYFORTESTSabcdefghijklmnop',
  TOGETHER_API_KEY: 'tgp_v1_FAKEKEYFORTESTSabcdefghijklmnop',
  HF_TOKEN: 'hf_FAKEKEYFORTESTSabcdefghijklmnop',
  GEMINI_API_KEY: 'AIzaFAKEKEYFORTESTSabcdefghijklmnopqrstu',
};

const PRIMARY_RULES = [{ metric: 'requests' as const, window: 'minute' as const, limit: 60 }, { metric: 'requests' as const, window: 'day' as const, limit: 100, reset_tz: 'America/Los_Angeles' }];
const BACKUP_RULES = [{ metric: 'requests' as const, window: 'month' as const, limit: 100 }];

interface Case {
  name: string;
  kind: Exclude<ProviderKind, 'switchboard'>;
  fault: Fault;
  times?: number;
  stream?: boolean;
  /** Outcomes in order, e.g. ['primary:rate_limited', 'primary:ok']. */
  attempts: string[];
  servedBy?: 'primary' | 'backup';
  /** The route fails with this RouteError code instead. */
  error?: string;
  sleeps?: Array<[number, number]>;
  complete?: boolean;
  cooldown?: boolean;
}

const fo = (f: FailureClass) => [`primary:${f}`, 'backup:ok'];
const CASES: Case[] = [
  { name: '429 Retry-After seconds: waits as told, same provider', kind: 'openai', fault: { kind: 'rate_limit_seconds', seconds: 2 }, attempts: ['primary:rate_limited', 'primary:ok'], servedBy: 'primary', sleeps: [[2000, 2000]] },
  { name: '429 Retry-After HTTP date: waits about as told', kind: 'gemini', fault: { kind: 'rate_limit_date', seconds: 5 }, attempts: ['primary:rate_limited', 'primary:ok'], servedBy: 'primary', sleeps: [[2500, 5000]] },
  { name: '429 retry-after-ms', kind: 'together', fault: { kind: 'rate_limit_ms', ms: 1500 }, attempts: ['primary:rate_limited', 'primary:ok'], servedBy: 'primary', sleeps: [[1500, 1500]] },
  { name: '429 without a hint: backoff, then fail over', kind: 'huggingface', fault: { kind: 'rate_limit_plain' }, times: 3, attempts: ['primary:rate_limited', 'primary:rate_limited', 'primary:rate_limited', 'backup:ok'], servedBy: 'backup', sleeps: [[250, 500], [500, 1000]] },
  { name: '429 with a day-long Retry-After: fail over and cool down', kind: 'openai', fault: { kind: 'rate_limit_day' }, attempts: fo('rate_limited'), servedBy: 'backup', cooldown: true },
  ...[500, 502, 503, 504].map((status, i): Case => ({
    name: `HTTP ${status} x3: retries with backoff, then fail over`, kind: (['openai', 'gemini', 'together', 'huggingface'] as const)[i]!, fault: { kind: 'status', status }, times: 3,
    attempts: ['primary:server_error', 'primary:server_error', 'primary:server_error', 'backup:ok'], servedBy: 'backup', sleeps: [[250, 500], [500, 1000]],
  })),
  { name: 'HTTP 503 once: a retry on the same provider succeeds', kind: 'gemini', fault: { kind: 'status', status: 503 }, attempts: ['primary:server_error', 'primary:ok'], servedBy: 'primary', sleeps: [[250, 500]] },
  { name: '401: cool the key down and fail over', kind: 'together', fault: { kind: 'status', status: 401, message: 'Invalid API key.' }, attempts: fo('auth'), servedBy: 'backup', cooldown: true },
  { name: '400 context length: fail over to a larger context', kind: 'huggingface', fault: { kind: 'context_length' }, attempts: fo('context_length'), servedBy: 'backup' },
  { name: '400 other: stop at once, nowhere else', kind: 'openai', fault: { kind: 'status', status: 400, message: 'Invalid value for temperature.' }, attempts: ['primary:bad_request'], error: 'bad_request' },
  { name: 'connection reset before headers', kind: 'gemini', fault: { kind: 'reset_before_headers' }, attempts: fo('network'), servedBy: 'backup' },
  { name: 'connection reset mid-stream', kind: 'openai', fault: { kind: 'reset_mid_stream' }, stream: true, attempts: fo('network'), servedBy: 'backup' },
  { name: 'hang before headers', kind: 'together', fault: { kind: 'hang_before_headers' }, attempts: fo('timeout'), servedBy: 'backup' },
  { name: 'headers then silence', kind: 'huggingface', fault: { kind: 'headers_then_silence' }, stream: true, attempts: fo('timeout'), servedBy: 'backup' },
  { name: 'slow drip past the deadline', kind: 'gemini', fault: { kind: 'slow_drip', intervalMs: 100, chunks: 40 }, stream: true, attempts: fo('timeout'), servedBy: 'backup' },
  { name: 'truncated JSON', kind: 'openai', fault: { kind: 'truncated_json' }, attempts: fo('malformed'), servedBy: 'backup' },
  { name: '200 text/html', kind: 'gemini', fault: { kind: 'html' }, attempts: fo('malformed'), servedBy: 'backup' },
  { name: 'empty body', kind: 'together', fault: { kind: 'empty_body' }, attempts: fo('malformed'), servedBy: 'backup' },
  { name: 'choices: []', kind: 'huggingface', fault: { kind: 'no_choices' }, attempts: fo('malformed'), servedBy: 'backup' },
  { name: 'body far over the byte cap', kind: 'openai', fault: { kind: 'oversized', bytes: 4 * 1024 * 1024 }, attempts: fo('malformed'), servedBy: 'backup' },
  { name: 'error event mid-stream', kind: 'together', fault: { kind: 'sse_error_event' }, stream: true, attempts: ['primary:server_error', 'primary:ok'], servedBy: 'primary', sleeps: [[250, 500]] },
  { name: 'finish_reason length: returned, marked incomplete, charged', kind: 'openai', fault: { kind: 'finish_length' }, attempts: ['primary:ok'], servedBy: 'primary', complete: false },
  { name: 'SSE without [DONE]: returned, marked incomplete, charged', kind: 'openai', fault: { kind: 'sse_no_done' }, stream: true, attempts: ['primary:ok'], servedBy: 'primary', complete: false },
];

describe('Router end to end: real SDKs, fake server, SqlJsLedger', function () {
  this.timeout(30_000);
  let server: FakeProviderServer;
  let home: string;
  let ledger: SqlJsLedger;
  let sleeps: number[];

  before(async () => {
    server = await startFakeProviderServer();
    // Load and JIT every SDK once, so a cold first request is not mistaken for a headers timeout.
    for (const kind of ['openai', 'gemini', 'together', 'huggingface', 'openai-compatible'] as const) {
      await createProvider({ id: 'warmup', kind, tier: 'free', baseUrl: server.baseUrl(kind, 'warmup'), apiKey: 'warmup-key-123456' })
        .generate({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }, { ...LIMITS, headersTimeoutMs: 10_000, totalDeadlineMs: 10_000 });
    }
    server.reset();
  });
  after(async () => { await server.close(); });
  beforeEach(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-router-e2e-'));
    ledger = await SqlJsLedger.open({ file: path.join(home, 'ledger.sqlite') });
    sleeps = [];
    clearProbeCache();
  });
  afterEach(async () => {
    await ledger.close();
    fs.rmSync(home, { recursive: true, force: true });
    server.reset();
  });

  function makeRouter(primaryKind: Exclude<ProviderKind, 'switchboard'>, over: Partial<RouterConfig['routing']> = {}, extra: ProviderSpec[] = []): { router: Router; env: NodeJS.ProcessEnv } {
    const primary: ProviderSpec = {
      id: 'primary', kind: primaryKind, tier: 'free', apiKeyEnv: primaryKind === 'openai-compatible' ? [] : builtInKeyEnv(primaryKind), disabled: false, source: 'test',
      models: [{ id: 'p-model', input_per_mtok: 0, output_per_mtok: 0, context: 32_000 }], quotas: PRIMARY_RULES,
    };
    const backup: ProviderSpec = {
      id: 'backup', kind: 'openai-compatible', tier: 'free', apiKeyEnv: [], disabled: false, source: 'test',
      models: [{ id: 'b-model', input_per_mtok: 0, output_per_mtok: 0, context: 128_000 }], quotas: BACKUP_RULES,
    };
    const config: RouterConfig = { ...builtInRouterConfig(), providers: [...extra, primary, backup], routing: { chain: ['local', 'free', 'paid'], allow_paid: false, tasks: {}, ...over } };
    const env: NodeJS.ProcessEnv = {
      ...KEYS,
      SWITCHBOARD_PRIMARY_BASE_URL: server.baseUrl(primaryKind === 'openai-compatible' ? 'openai-compatible' : primaryKind, 'primary'),
      SWITCHBOARD_BACKUP_BASE_URL: server.baseUrl('openai-compatible', 'backup'),
      // Every provider points at the fake server: no request ever leaves 127.0.0.1.
      ...Object.fromEntries(extra.map((p) => [`SWITCHBOARD_${p.id.toUpperCase()}_BASE_URL`, p.baseUrl ?? server.baseUrl(p.kind === 'gemini' ? 'gemini' : 'openai', p.id)])),
    };
    const router = new Router({ config, ledger, env, limits: LIMITS, random: () => 0.5, sleep: async (ms) => { sleeps.push(ms); } });
    return { router, env };
  }

  const request = (over: Partial<RouteRequest> = {}): RouteRequest => ({ task: 'tests', messages: [{ role: 'user', content: 'Write a unit test for add().' }], maxTokens: 200, ...over });

  async function used(provider: string, rules: typeof PRIMARY_RULES | typeof BACKUP_RULES): Promise<Array<[number, number]>> {
    return (await ledger.quota(provider, rules)).map((s) => [s.used, s.reserved]);
  }

  for (const c of CASES) {
    it(`${c.name} (${c.kind}${c.stream ? ', stream' : ''})`, async () => {
      const { router } = makeRouter(c.kind);
      server.enqueue('primary', c.fault, c.times ?? 1);
      let result: RouteResult | undefined;
      let error: unknown;
      try {
        result = await router.route(request({ stream: c.stream }));
      } catch (err) {
        error = err;
      }
      const primaryCalls = c.attempts.filter((a) => a.startsWith('primary')).length;
      // No clock bound (loaded machines stall): a limit not enforced leaves the call to the SDK's own timeout
      // (minutes), and this suite's mocha timeout fails it.

      if (c.error) {
        assert.ok(error instanceof RouteError, String(error));
        assert.equal(error.code, c.error);
        assert.deepEqual(error.attempts.map((a) => `${a.provider}:${a.outcome}`), c.attempts);
        assert.equal(server.completions('backup').length, 0, 'no other provider was tried');
        assert.equal((await ledger.monthSpend()).calls, 0, 'nothing charged');
        assert.deepEqual(await used('primary', PRIMARY_RULES), [[0, 0], [0, 0]], 'reservation released');
        assert.ok(!Object.values(KEYS).some((k) => error.message.includes(k)));
        return;
      }
      assert.equal(error, undefined, `unexpected: ${String(error)}`);
      const r = result!;
      assert.deepEqual(r.attempts.map((a) => `${a.provider}:${a.outcome}`), c.attempts, JSON.stringify(r.attempts));
      assert.equal(r.provider, c.servedBy);
      assert.equal(r.complete, c.complete ?? true);
      // Charged once: one request per attempt reached the server, and exactly one call is in the ledger.
      assert.equal(server.completions('primary').length, primaryCalls);
      assert.equal(server.completions('backup').length, c.servedBy === 'backup' ? 1 : 0);
      assert.equal((await ledger.monthSpend()).calls, 1);
      if (c.servedBy === 'backup') {
        assert.deepEqual(await used('primary', PRIMARY_RULES), [[0, 0], [0, 0]], "primary's reservation released");
        assert.deepEqual(await used('backup', BACKUP_RULES), [[1, 0]]);
      } else {
        assert.deepEqual(await used('primary', PRIMARY_RULES), [[1, 0], [1, 0]]);
      }
      assert.equal(sleeps.length, (c.sleeps ?? []).length, `sleeps ${JSON.stringify(sleeps)}`);
      (c.sleeps ?? []).forEach(([min, max], i) => assert.ok(sleeps[i]! >= min && sleeps[i]! <= max, `sleep ${i} = ${sleeps[i]}`));
      assert.equal(r.inputTokens, 11);
      assert.equal(r.outputTokens, 7);
      assert.ok(!Object.values(KEYS).some((k) => JSON.stringify(r).includes(k)), 'no key in the result');

      if (c.cooldown) {
        const again = await router.route(request());
        assert.equal(again.provider, 'backup');
        assert.match(again.skipped.find((s) => s.provider === 'primary')!.reason, /^cooling down until/);
        assert.equal(server.completions('primary').length, primaryCalls, 'every process now skips it without a request');
      }
    });
  }

  it('skips a provider whose circuit another process opened, holding no quota for it; a success resets a failure count another process left', async () => {
    const { router } = makeRouter('openai');
    const other = await SqlJsLedger.open({ file: ledger.file, circuitFailures: 1 });
    try {
      await other.recordOutcome('primary', false);
      const r = await router.route(request());
      assert.equal(r.provider, 'backup');
      assert.match(r.skipped.find((s) => s.provider === 'primary')!.reason, /^circuit open after repeated failures, until /);
      assert.equal(server.completions('primary').length, 0);
      assert.deepEqual(await used('primary', PRIMARY_RULES), [[0, 0], [0, 0]], 'nothing reserved for the skipped provider');
      // A counted failure below the threshold: the call goes, and its success resets the count for every process.
      await ledger.recordOutcome('primary', true);
      const twoFailures = await SqlJsLedger.open({ file: ledger.file, circuitFailures: 2 });
      try {
        assert.deepEqual(await twoFailures.recordOutcome('primary', false), { state: 'closed' });
        assert.equal((await router.route(request())).provider, 'primary');
        assert.deepEqual(await twoFailures.recordOutcome('primary', false), { state: 'closed' }, 'the success reset the count: this is failure 1 again, not 2');
      } finally {
        await twoFailures.close();
      }
    } finally {
      await other.close();
    }
  });

  it('reconciles x-ratelimit-* headers into the ledger and reports the quota left', async () => {
    const { router } = makeRouter('openai');
    server.enqueue('primary', { kind: 'rate_limit_headers', headers: { ...OPENAI_RATE_LIMIT_HEADERS, 'x-ratelimit-remaining-requests': '10' } });
    const r = await router.route(request());
    assert.equal(r.provider, 'primary');
    const minute = r.quotaLeft.find((q) => q.window === 'minute')!;
    assert.equal(minute.left, 10, 'the provider says 10 left of its 60/minute: believed over our count of 1');
    assert.equal(r.quotaLeft.find((q) => q.window === 'day')!.left, 99);
  });

  it('reports threshold events (80 / 95 / 100 %) as they are crossed', async () => {
    const { router } = makeRouter('openai');
    const rules = [{ metric: 'requests' as const, window: 'month' as const, limit: 5 }];
    (router.config.providers.find((p) => p.id === 'primary')!).quotas = rules;
    const events: number[][] = [];
    for (let i = 0; i < 5; i++) events.push((await router.route(request())).events.map((e) => e.threshold));
    assert.deepEqual(events, [[], [], [], [0.8], [0.95, 1]]);
    const sixth = await router.route(request());
    assert.equal(sixth.provider, 'backup');
    assert.match(sixth.skipped.find((s) => s.provider === 'primary')!.reason, /^quota would be exceeded: requests\/month 5 of 5 used/);
  });

  it('uses a local server first when it answers, with a model it serves; skips it when it does not', async () => {
    const local: ProviderSpec = { id: 'local', kind: 'openai-compatible', tier: 'local', apiKeyEnv: [], disabled: false, source: 'test', models: [], quotas: [], baseUrl: server.baseUrl('openai-compatible', 'local') };
    const { router } = makeRouter('openai', {}, [local]);
    const r = await router.route(request());
    assert.deepEqual([r.provider, r.tier], ['local', 'local']);
    assert.ok(r.model.length > 0, 'a model the local server listed');
    assert.equal(server.completions('local').length, 1);

    clearProbeCache();
    const downLocal = { ...local, baseUrl: 'http://127.0.0.1:9/v1' };
    const { router: r2 } = makeRouter('openai', {}, [downLocal]);
    const served = await r2.route(request());
    assert.equal(served.provider, 'primary');
    assert.match(served.skipped.find((s) => s.provider === 'local')!.reason, /no local server answering at http:\/\/127\.0\.0\.1:9\/v1/);
  });

  it('an explicit paid provider without allow_paid is refused before any request', async () => {
    const paid: ProviderSpec = { id: 'premium', kind: 'openai', tier: 'paid', apiKeyEnv: ['OPENAI_API_KEY'], disabled: false, source: 'test', quotas: [], models: [{ id: 'gpt-x', input_per_mtok: 5, output_per_mtok: 15, context: 128_000 }] };
    const { router } = makeRouter('openai', { allow_paid: false }, [paid]);
    await assert.rejects(router.route(request({ provider: 'premium' })), (e: unknown) => e instanceof UserError && e.code === 'paid_not_allowed' && /allow_paid/.test(e.message));
    assert.equal(server.count(), 0);
    assert.equal((await ledger.monthSpend()).calls, 0);
  });

  it('a paid call records its cost and the baseline for savings', async () => {
    const paid: ProviderSpec = { id: 'premium', kind: 'openai', tier: 'paid', apiKeyEnv: ['OPENAI_API_KEY'], disabled: false, source: 'test', quotas: [{ metric: 'usd', window: 'month', limit: 5 }], models: [{ id: 'gpt-x', input_per_mtok: 1, output_per_mtok: 2, context: 128_000 }] };
    const { router } = makeRouter('openai', { allow_paid: true, budget_usd_month: 1 }, [paid]);
    const r = await router.route(request({ provider: 'premium' }));
    assert.equal(r.costUsd, (11 * 1 + 7 * 2) / 1e6);
    assert.equal(r.baselineUsd, (11 * 3 + 7 * 15) / 1e6);
    const spend = await ledger.monthSpend();
    assert.equal(spend.calls, 1);
    assert.ok(Math.abs(spend.usd - r.costUsd) < 1e-12);
    assert.ok(Math.abs(spend.baselineUsd - r.baselineUsd) < 1e-12);
    assert.equal(r.quotaLeft[0]!.metric, 'usd');
    assert.ok(Math.abs(r.quotaLeft[0]!.left - (5 - r.costUsd)) < 1e-9);
  });

  it('holds the caller\'s budgets by reservation: a principal over budget is refused, with a reason naming the budget', async () => {
    const paid: ProviderSpec = { id: 'premium', kind: 'openai', tier: 'paid', apiKeyEnv: ['OPENAI_API_KEY'], disabled: false, source: 'test', quotas: [], models: [{ id: 'gpt-x', input_per_mtok: 1, output_per_mtok: 2, context: 128_000 }] };
    const { router } = makeRouter('openai', { allow_paid: true, budget_usd_month: 1, chain: ['paid'] }, [paid]);
    const alice = { id: 'alice', team: 'red' };
    const served = await router.route(request({ provider: 'premium', principal: alice, budgets: [{ scope: 'principal', limitUsd: 0.01, window: 'month' }] }));
    assert.equal(served.provider, 'premium');
    // Her first call's real cost now counts against her: a budget just above it refuses the next call.
    await assert.rejects(
      router.route(request({ provider: 'premium', principal: alice, budgets: [{ scope: 'principal', limitUsd: served.costUsd + 1e-7, window: 'month' }] })),
      (e: unknown) => e instanceof RouteError && /over the principal budget of "alice": \$0\.\d+ spent in \d{4}-\d{2}, this call ~\$/.test(e.message),
    );
    // Bob, in the same team, is not held to alice's budget; the team's own budget is shared by both.
    const bob = await router.route(request({ provider: 'premium', principal: { id: 'bob', team: 'red' }, budgets: [{ scope: 'principal', limitUsd: 0.01, window: 'month' }] }));
    assert.equal(bob.provider, 'premium');
    await assert.rejects(
      router.route(request({ provider: 'premium', principal: { id: 'carol', team: 'red' }, budgets: [{ scope: 'team', limitUsd: served.costUsd + bob.costUsd, window: 'month' }] })),
      (e: unknown) => e instanceof RouteError && /over the team budget of "red"/.test(e.message),
    );
    assert.equal(server.count(), 2, 'refused calls never reach the provider');
    assert.equal((await ledger.monthSpend()).calls, 2);
  });

  it('a cooldown set by one process is honoured by another (same ledger file)', async () => {
    const { router, env } = makeRouter('together');
    server.enqueue('primary', { kind: 'status', status: 401 });
    assert.equal((await router.route(request())).provider, 'backup');
    const other = await SqlJsLedger.open({ file: ledger.file });
    try {
      const cool = await other.cooldown(cooldownKey('primary', env.TOGETHER_API_KEY));
      assert.ok(cool && cool.untilMs > Date.now() + 30 * 60_000, 'cooled down for a long while');
      assert.equal(cool.reason, 'key rejected');
    } finally { await other.close(); }
  });
});


function builtInKeyEnv(kind: ProviderKind): string[] {
  return builtInRouterConfig().providers.find((p) => p.kind === kind)!.apiKeyEnv;
}
