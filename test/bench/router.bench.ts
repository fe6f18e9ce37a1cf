/**
 * Router + ledger overhead over a direct SDK call, same fake endpoint, same run.
 * - direct: the openai SDK alone (retries off) against the fake server;
 * - provider: our OpenAI provider (guarded transport, limits) — what the router calls;
 * - routed: Router.route → candidate selection, ledger cooldown/circuit reads, reservation, the provider call,
 *   a durable settlement (fsynced before it resolves) — with the real SqlJsLedger in a temp SWITCHBOARD_HOME.
 * Runs are interleaved so drift on the machine hits all three alike. Goal: routed − direct ≤ 1 ms at p50.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { SqlJsLedger } from '../../src/core/ledger';
import { createProvider } from '../../src/core/providers/registry';
import { DEFAULT_CALL_LIMITS } from '../../src/core/providers/types';
import { builtInRouterConfig, type RouterConfig } from '../../src/core/router/config';
import { Router } from '../../src/core/router/router';
import { startFakeProviderServer } from '../fakes/provider-server';
import { round, summary } from './stats';

const N = 400;
const WARMUP = 50;

export async function run(): Promise<object> {
  const server = await startFakeProviderServer();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-router-'));
  const ledger = await SqlJsLedger.open({ file: path.join(home, 'ledger.sqlite') });
  try {
    const baseURL = server.baseUrl('openai', 'bench');
    const apiKey = 'sk-bench-FAKEKEYabcdefghijklmnop';
    const messages = [{ role: 'user' as const, content: 'Write a unit test for add(a, b).' }];
    const sdk = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
    const provider = createProvider({ id: 'bench', kind: 'openai', tier: 'free', baseUrl: baseURL, apiKey });
    const config: RouterConfig = {
      ...builtInRouterConfig(),
      providers: [{
        id: 'bench', kind: 'openai', tier: 'free', apiKeyEnv: ['OPENAI_API_KEY'], disabled: false, source: 'bench',
        models: [{ id: 'bench-model', input_per_mtok: 0, output_per_mtok: 0, context: 128_000 }],
        quotas: [{ metric: 'requests', window: 'day', limit: 1_000_000, reset_tz: 'America/Los_Angeles' }, { metric: 'requests', window: 'minute', limit: 1_000_000 }],
      }],
      routing: { chain: ['local', 'free', 'paid'], allow_paid: false, tasks: {} },
    };
    const router = new Router({ config, ledger, env: { OPENAI_API_KEY: apiKey, SWITCHBOARD_BENCH_BASE_URL: baseURL } });

    const direct = () => sdk.chat.completions.create({ model: 'bench-model', messages });
    const viaProvider = () => provider.generate({ model: 'bench-model', messages }, DEFAULT_CALL_LIMITS);
    const routed = () => router.route({ task: 'tests', messages, maxTokens: 64 });

    for (let i = 0; i < WARMUP; i++) { await direct(); await viaProvider(); await routed(); }
    // The ledger's share on its own: one reservation and one durable settlement, as the router makes per call.
    const rules = config.providers[0]!.quotas;
    const reserveSettle = async () => {
      const r = await ledger.reserve({ providerId: 'bench-ledger', rules, amounts: { requests: 1 } });
      if (!r.ok) throw new Error('bench quota exhausted');
      await ledger.settle(r.reservationId, rules, { providerId: 'bench-ledger', model: 'm', tier: 'free', ok: true, amounts: { requests: 1 }, inputTokens: 1, outputTokens: 1, costUsd: 0, baselineUsd: 0 });
    };
    const samples = { direct: [] as number[], provider: [] as number[], routed: [] as number[], ledger: [] as number[] };
    const timeOne = async (fn: () => Promise<unknown>, into: number[]) => {
      const t0 = process.hrtime.bigint();
      await fn();
      into.push(Number(process.hrtime.bigint() - t0) / 1e6);
    };
    for (let i = 0; i < N; i++) {
      await timeOne(direct, samples.direct);
      await timeOne(viaProvider, samples.provider);
      await timeOne(routed, samples.routed);
      await timeOne(reserveSettle, samples.ledger);
    }
    const d = summary(samples.direct);
    const p = summary(samples.provider);
    const r = summary(samples.routed);
    const l = summary(samples.ledger);
    const spend = await ledger.monthSpend();
    return {
      direct_sdk: d,
      provider_call: p,
      routed_durable: r,
      overhead_vs_direct_ms: { p50: round(r.p50_ms - d.p50_ms), p99: round(r.p99_ms - d.p99_ms) },
      router_ledger_only_ms: { p50: round(r.p50_ms - p.p50_ms), p99: round(r.p99_ms - p.p99_ms) },
      ledger_reserve_plus_durable_settle: l,
      router_logic_p50_ms: round(r.p50_ms - p.p50_ms - l.p50_ms),
      goal_p50_overhead_ms: 1,
      calls_recorded: spend.calls,
      calls_expected: 2 * N + WARMUP,
    };
  } finally {
    await ledger.close();
    await server.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}
