/**
 * Routing regret. A reference workload — over 1,000 tasks across 60 simulated days (an injectable clock), six
 * providers with quotas (a daily one resetting at midnight America/Los_Angeles across the March DST change,
 * monthly ones in requests, input characters and dollars), prices, a monthly paid budget, a local server that
 * is only up in office hours, and injected outages (5xx, timeouts, malformed bodies, a long 429) — is routed
 * through the REAL Router with the REAL SqlJsLedger (temp file) on the simulated clock.
 *
 * Provider layer: an in-process Provider written here (not the fake HTTP server), so 60 days run in seconds.
 * It returns deterministic usage — input tokens = ceil(prompt chars / 4) and output tokens = maxTokens — so what
 * the router estimates before a call is exactly what the call uses, and the oracle can know it in advance.
 * It also meters what it serves per window as the provider would, to prove no quota was ever exceeded.
 *
 * The ORACLE below shares no code with the router or the ledger: at each step it tries every provider by brute
 * force, from prices and its own count of remaining quotas (integer micro-dollars, its own LA-midnight windows),
 * and picks the cheapest one that can take the task. Ties (equal price) go local → free → paid, then to the
 * provider whose quota window is shortest (a daily quota unused today is lost), then to list order — the policy
 * the router documents, re-stated here. Both must pay exactly the same, task by task.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqlJsLedger } from '../../../src/core/ledger';
import { ProviderError, type FailureClass, type GenerationRequest, type GenerationResult, type Provider } from '../../../src/core/providers/types';
import { builtInRouterConfig, type ProviderSpec, type RouterConfig } from '../../../src/core/router/config';
import { RouteError, Router } from '../../../src/core/router/router';

// ---------------------------------------------------------------------------------------------------------
// The world: providers, prices, quotas, outages, the workload. Plain data, used by both router and oracle.

type Tier = 'local' | 'free' | 'paid';
interface WorldProvider {
  id: string;
  tier: Tier;
  inPerM: number; // $ per million input tokens (integers, so the oracle can count exact micro-dollars)
  outPerM: number;
  context: number;
  caps?: string[];
  quotas: Array<{ metric: 'requests' | 'input_chars' | 'usd'; window: 'day' | 'month'; limit: number; tz?: string }>;
}

const LA = 'America/Los_Angeles';
const WORLD: WorldProvider[] = [
  { id: 'ollama', tier: 'local', inPerM: 0, outPerM: 0, context: 8192, quotas: [] },
  { id: 'gemini', tier: 'free', inPerM: 0, outPerM: 0, context: 1_048_576, caps: ['chat', 'code', 'review'], quotas: [{ metric: 'requests', window: 'day', limit: 6, tz: LA }] },
  { id: 'together', tier: 'free', inPerM: 0, outPerM: 0, context: 131_072, caps: ['chat', 'code'], quotas: [{ metric: 'requests', window: 'month', limit: 80 }] },
  { id: 'hf', tier: 'free', inPerM: 0, outPerM: 0, context: 32_768, caps: ['code'], quotas: [{ metric: 'input_chars', window: 'month', limit: 250_000 }] },
  { id: 'cheap', tier: 'paid', inPerM: 1, outPerM: 4, context: 128_000, caps: ['chat', 'code'], quotas: [{ metric: 'usd', window: 'month', limit: 1 }] },
  { id: 'mid', tier: 'paid', inPerM: 2, outPerM: 8, context: 200_000, caps: ['chat', 'code', 'review'], quotas: [] },
  { id: 'dear', tier: 'paid', inPerM: 5, outPerM: 20, context: 1_000_000, quotas: [] },
];
const BUDGET_USD_MONTH = 8;
const BASELINE = { inPerM: 3, outPerM: 15 };

const DAY = 86_400_000;
const HOUR = 3_600_000;
const START = Date.UTC(2026, 2, 1, 8, 0, 0); // 1 March 2026, 00:00 in Los Angeles (PST); DST starts 8 March
const DAYS = 60;

interface Outage { provider: string; from: number; to: number; failure: FailureClass }
const OUTAGES: Outage[] = [
  { provider: 'gemini', from: START + 9 * DAY, to: START + 10 * DAY + 6 * HOUR, failure: 'server_error' },
  { provider: 'together', from: START + 3 * DAY, to: START + 3 * DAY + 12 * HOUR, failure: 'timeout' },
  { provider: 'cheap', from: START + 19 * DAY, to: START + 20 * DAY, failure: 'rate_limited' }, // one long Retry-After
  { provider: 'hf', from: START + 42 * DAY, to: START + 43 * DAY + 12 * HOUR, failure: 'malformed' },
  { provider: 'mid', from: START + 35 * DAY, to: START + 35 * DAY + 8 * HOUR, failure: 'network' },
  { provider: 'gemini', from: START + 50 * DAY + 2 * HOUR, to: START + 50 * DAY + 3 * HOUR, failure: 'rate_limited' },
];

/** The local server runs in office hours (09:00–18:00 UTC) on weekdays, and is off during its own outage. */
function localUp(t: number): boolean {
  const d = new Date(t);
  const wd = d.getUTCDay();
  const h = d.getUTCHours();
  return wd !== 0 && wd !== 6 && h >= 9 && h < 18 && !(t >= START + 25 * DAY && t < START + 27 * DAY);
}

function outageAt(provider: string, t: number): Outage | undefined {
  return OUTAGES.find((o) => o.provider === provider && t >= o.from && t < o.to);
}

interface Task { at: number; kind: string; chars: number; maxTokens: number; caps: string[] }

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function workload(): Task[] {
  const rnd = mulberry32(20260301);
  const kinds = ['tests', 'docs', 'boilerplate', 'code', 'review'];
  const tasks: Task[] = [];
  for (let d = 0; d < DAYS; d++) {
    const dayStart = START + d * DAY;
    const weekend = [0, 6].includes(new Date(dayStart + 12 * HOUR).getUTCDay());
    const n = weekend ? 8 + Math.floor(rnd() * 6) : 18 + Math.floor(rnd() * 10);
    const times = Array.from({ length: n }, () => dayStart + Math.floor(rnd() * (DAY - 10 * 60_000)));
    times.sort((a, b) => a - b);
    // At least two minutes apart, longer than an open circuit stays open (60 s) in the ledger.
    for (let i = 1; i < times.length; i++) times[i] = Math.max(times[i]!, times[i - 1]! + 120_000);
    for (const at of times) {
      const kind = kinds[Math.floor(rnd() * kinds.length)]!;
      const size = rnd();
      const chars = size < 0.6 ? 400 + Math.floor(rnd() * 12_000) : size < 0.93 ? 12_000 + Math.floor(rnd() * 50_000) : 100_000 + Math.floor(rnd() * 800_000);
      const maxTokens = [256, 512, 1024, 2048, 4096][Math.floor(rnd() * 5)]!;
      tasks.push({ at, kind, chars, maxTokens, caps: kind === 'review' ? ['review'] : ['code'] });
    }
  }
  return tasks;
}

// ---------------------------------------------------------------------------------------------------------
// Independent calendar arithmetic for the oracle and the provider-side meters.

const laDate = new Intl.DateTimeFormat('en-CA', { timeZone: LA, year: 'numeric', month: '2-digit', day: '2-digit' });
function windowKey(window: 'day' | 'month', tz: string | undefined, t: number): string {
  if (window === 'month' && !tz) return new Date(t).toISOString().slice(0, 7);
  if (window === 'day' && tz === LA) return laDate.format(new Date(t));
  throw new Error(`window ${window}/${tz ?? 'UTC'} not modelled by the oracle`);
}

const tokensIn = (chars: number) => Math.ceil(chars / 4);
/** Cost in integer micro-dollars (prices are whole dollars per million tokens). */
const microUsd = (p: { inPerM: number; outPerM: number }, task: Task) => tokensIn(task.chars) * p.inPerM + task.maxTokens * p.outPerM;

/** What a call consumes of a quota metric, in the unit the oracle counts (usd as micro-dollars). */
function consumption(metric: 'requests' | 'input_chars' | 'usd', p: WorldProvider, task: Task): number {
  return metric === 'requests' ? 1 : metric === 'input_chars' ? task.chars : microUsd(p, task);
}
const limitUnits = (metric: string, limit: number) => (metric === 'usd' ? Math.round(limit * 1e6) : limit);

class Meter {
  private readonly used = new Map<string, number>();
  add(provider: string, metric: string, key: string, amount: number): void {
    const k = `${provider}|${metric}|${key}`;
    this.used.set(k, (this.used.get(k) ?? 0) + amount);
  }
  get(provider: string, metric: string, key: string): number {
    return this.used.get(`${provider}|${metric}|${key}`) ?? 0;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The oracle: brute force over every provider at each step.

interface Choice { provider: string | null; micro: number; baselineMicro: number }

function oracle(tasks: Task[]): Choice[] {
  const meter = new Meter();
  const spend = new Map<string, number>(); // UTC month → micro-dollars spent on paid providers
  const tierRank: Record<Tier, number> = { local: 0, free: 1, paid: 2 };
  const windowRank = (p: WorldProvider) => Math.min(3, ...p.quotas.map((q) => (q.window === 'day' ? 1 : 2)));
  return tasks.map((task) => {
    const month = new Date(task.at).toISOString().slice(0, 7);
    let best: { p: WorldProvider; micro: number; index: number } | undefined;
    WORLD.forEach((p, index) => {
      if (p.id === 'ollama' ? !localUp(task.at) : outageAt(p.id, task.at)) return;
      if (tokensIn(task.chars) + task.maxTokens > p.context) return;
      if (p.caps && !task.caps.every((c) => p.caps!.includes(c))) return;
      const micro = microUsd(p, task);
      for (const q of p.quotas) {
        if (meter.get(p.id, q.metric, windowKey(q.window, q.tz, task.at)) + consumption(q.metric, p, task) > limitUnits(q.metric, q.limit)) return;
      }
      if (p.tier === 'paid' && (spend.get(month) ?? 0) + micro > Math.round(BUDGET_USD_MONTH * 1e6)) return;
      const better = !best
        || micro < best.micro
        || (micro === best.micro && (tierRank[p.tier] < tierRank[best.p.tier]
          || (tierRank[p.tier] === tierRank[best.p.tier] && windowRank(p) < windowRank(best.p))));
      if (better) best = { p, micro, index };
    });
    if (!best) return { provider: null, micro: 0, baselineMicro: 0 };
    for (const q of best.p.quotas) meter.add(best.p.id, q.metric, windowKey(q.window, q.tz, task.at), consumption(q.metric, best.p, task));
    if (best.p.tier === 'paid') spend.set(month, (spend.get(month) ?? 0) + best.micro);
    return { provider: best.p.id, micro: best.micro, baselineMicro: microUsd(BASELINE, task) };
  });
}

// ---------------------------------------------------------------------------------------------------------
// The provider layer the router calls: in-process, deterministic, with outages and provider-side meters.

class SimulatedProvider implements Provider {
  readonly kind = 'openai-compatible' as const;
  constructor(readonly id: string, private readonly now: () => number, private readonly served: Meter, private readonly calls: Map<string, number>) {}
  async generate(request: GenerationRequest): Promise<GenerationResult> {
    const t = this.now();
    this.calls.set(this.id, (this.calls.get(this.id) ?? 0) + 1);
    const outage = outageAt(this.id, t);
    if (outage) {
      throw new ProviderError(this.id, outage.failure, `${this.id}: simulated ${outage.failure}`, outage.failure === 'rate_limited' ? { status: 429, retryAfterMs: outage.to - t } : {});
    }
    const chars = request.messages.reduce((n, m) => n + m.content.length, 0);
    const p = WORLD.find((w) => w.id === this.id)!;
    const task: Task = { at: t, kind: '', chars, maxTokens: request.maxTokens!, caps: [] };
    for (const q of p.quotas) this.served.add(this.id, q.metric, windowKey(q.window, q.tz, t), consumption(q.metric, p, task));
    return { text: 'ok', model: request.model, usage: { inputTokens: tokensIn(chars), outputTokens: request.maxTokens! }, usageEstimated: false, finishReason: 'stop', complete: true };
  }
}

function routerConfig(): RouterConfig {
  const providers: ProviderSpec[] = WORLD.map((w) => ({
    id: w.id, kind: 'openai-compatible', tier: w.tier, apiKeyEnv: [], disabled: false, source: 'regret', baseUrl: `http://127.0.0.1:9/${w.id}`,
    models: [{ id: `${w.id}-model`, input_per_mtok: w.inPerM, output_per_mtok: w.outPerM, context: w.context, capabilities: w.caps }],
    quotas: w.quotas.map((q) => ({ metric: q.metric, window: q.window, limit: q.limit, ...(q.tz ? { reset_tz: q.tz } : {}) })),
  }));
  return {
    ...builtInRouterConfig(),
    providers,
    routing: { chain: ['local', 'free', 'paid'], allow_paid: true, budget_usd_month: BUDGET_USD_MONTH, tasks: {} },
    baseline: { model: 'premium', input_per_mtok: BASELINE.inPerM, output_per_mtok: BASELINE.outPerM },
  };
}

describe('routing regret: router vs a brute-force oracle over 60 simulated days', function () {
  this.timeout(180_000);
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-regret-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('pays exactly what the oracle pays, task by task, and never exceeds a quota', async () => {
    const tasks = workload();
    assert.ok(tasks.length >= 1000, `${tasks.length} tasks`);
    assert.ok(tasks[tasks.length - 1]!.at - tasks[0]!.at > 59 * DAY);
    const expected = oracle(tasks);

    let now = START;
    const clock = () => now;
    const ledger = await SqlJsLedger.open({ file: path.join(dir, 'ledger.sqlite'), clock });
    const served = new Meter();
    const calls = new Map<string, number>();
    const router = new Router({
      config: routerConfig(), ledger, env: {}, clock, random: () => 0.5,
      sleep: async () => undefined, // simulated time: a retry wait costs nothing
      probe: async () => (localUp(now) ? { up: true, models: ['ollama-model'] } : { up: false, models: [], reason: 'office closed' }),
      providerFor: (c) => new SimulatedProvider(c.id, clock, served, calls),
    });

    const actual: Choice[] = [];
    let baselineUsd = 0;
    const failuresSeen = new Set<string>();
    try {
      for (const task of tasks) {
        now = task.at;
        try {
          const r = await router.route({ task: task.kind, messages: [{ role: 'user', content: 'x'.repeat(task.chars) }], maxTokens: task.maxTokens, capabilities: task.caps });
          actual.push({ provider: r.provider, micro: Math.round(r.costUsd * 1e6), baselineMicro: Math.round(r.baselineUsd * 1e6) });
          baselineUsd += r.baselineUsd;
          for (const a of r.attempts) if (a.outcome !== 'ok') failuresSeen.add(`${a.provider}:${a.outcome}`);
        } catch (err) {
          assert.ok(err instanceof RouteError && err.code === 'no_provider', String(err));
          actual.push({ provider: null, micro: 0, baselineMicro: 0 });
        }
      }
    } finally {
      await ledger.close();
    }

    // Task by task: the same provider and the same price (the first divergence is the useful message).
    for (let i = 0; i < tasks.length; i++) {
      assert.deepEqual(actual[i], expected[i], `task ${i} at ${new Date(tasks[i]!.at).toISOString()} (${tasks[i]!.chars} chars, ${tasks[i]!.maxTokens} out, ${tasks[i]!.kind})`);
    }
    const total = (cs: Choice[]) => cs.reduce((n, c) => n + c.micro, 0);
    assert.equal(total(actual), total(expected));


    // No quota ever exceeded, by the providers' own meters.
    for (const p of WORLD) {
      for (const q of p.quotas) {
        const keys = new Set(tasks.map((t) => windowKey(q.window, q.tz, t.at)));
        for (const k of keys) assert.ok(served.get(p.id, q.metric, k) <= limitUnits(q.metric, q.limit), `${p.id} ${q.metric}/${q.window} ${k}`);
      }
    }
    // The constraints bite: every free quota was used up at least once, paid providers were needed.
    const byProvider = new Map<string, number>();
    for (const c of actual) byProvider.set(String(c.provider), (byProvider.get(String(c.provider)) ?? 0) + 1);

    const costUsd = total(actual) / 1e6;
    const saving = 1 - costUsd / baselineUsd;
    console.log(`      regret: ${tasks.length} tasks, ${actual.filter((c) => c.provider).length} served (${[...byProvider].map(([k, v]) => `${k} ${v}`).join(', ')}); router $${costUsd.toFixed(4)} = oracle $${(total(expected) / 1e6).toFixed(4)}; all-premium baseline $${baselineUsd.toFixed(2)}; saving ${(saving * 100).toFixed(2)} %`);
    assert.ok(saving > 0.5);
    for (const id of WORLD.map((w) => w.id)) assert.ok((byProvider.get(id) ?? 0) > 0, `${id} served something`);
    // Every injected outage was met and routed around.
    for (const f of ['gemini:server_error', 'together:timeout', 'cheap:rate_limited', 'hf:malformed', 'mid:network']) assert.ok(failuresSeen.has(f), `outage ${f} was exercised (seen: ${[...failuresSeen].join(', ')})`);
  });
});
