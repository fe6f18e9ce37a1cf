/**
 * Router + ledger overhead over a direct SDK call, same fake endpoint, same run.
 * - direct: the openai SDK alone (retries off) against the fake server;
 * - provider: our OpenAI provider (guarded transport, limits) — what the router calls;
 * - routed: Router.route → candidate selection, ledger cooldown/circuit check and reservation, the provider call,
 *   the settlement — with the real SqlJsLedger in a temp SWITCHBOARD_HOME, as a burst of calls uses it: calls are
 *   admitted against a quota lease (leases.ts), one durable reservation fdatasync'ed in the background for up to
 *   8 calls; each settlement is appended to the shared log without a disk wait of its own (the synced lease
 *   covers it: a power cut that loses settlements leaves the lease, charged in full at its expiry);
 * - routed_call_by_call: the same with leases off (leaseCalls 1), as an isolated call goes: its own reservation,
 *   fdatasync'ed in the background during the provider call, and settle waits for that;
 * - ledger: one reservation and its settlement alone, back to back, leases off (so settle waits out the whole
 *   fdatasync);
 * - disk_append_fdatasync: a settle-sized append + fdatasync to a file beside the ledger — the floor this disk
 *   puts under any durable record, measured in the same loop so the figures above can be read against it;
 * - routed_memory_fs (Linux, when /dev/shm exists): the same router with its ledger on tmpfs, where fdatasync
 *   costs nothing. NOT durable — it shows the CPU work of router + ledger without the disk.
 * Runs are interleaved so drift on the machine hits all of them alike. Goal: routed − direct ≤ 0.5 ms at p50.
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
/** About what a settle appends to the ledger's log. */
const RECORD_BYTES = 700;

export async function run(): Promise<object> {
  const server = await startFakeProviderServer();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-router-'));
  const memoryHome = fs.existsSync('/dev/shm') ? fs.mkdtempSync(path.join('/dev/shm', 'sb-bench-router-')) : undefined;
  const ledger = await SqlJsLedger.open({ file: path.join(home, 'ledger.sqlite') });
  const callByCallLedger = await SqlJsLedger.open({ file: path.join(home, 'call-by-call', 'ledger.sqlite'), leaseCalls: 1 });
  const memoryLedger = memoryHome ? await SqlJsLedger.open({ file: path.join(memoryHome, 'ledger.sqlite') }) : undefined;
  const floorFd = fs.openSync(path.join(home, 'fdatasync-reference'), 'w');
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
    const env = { OPENAI_API_KEY: apiKey, SWITCHBOARD_BENCH_BASE_URL: baseURL };
    const router = new Router({ config, ledger, env });
    const callByCallRouter = new Router({ config, ledger: callByCallLedger, env });
    const memoryRouter = memoryLedger ? new Router({ config, ledger: memoryLedger, env }) : undefined;

    const direct = () => sdk.chat.completions.create({ model: 'bench-model', messages });
    const viaProvider = () => provider.generate({ model: 'bench-model', messages }, DEFAULT_CALL_LIMITS);
    const routed = () => router.route({ task: 'tests', messages, maxTokens: 64 });
    const routedCallByCall = () => callByCallRouter.route({ task: 'tests', messages, maxTokens: 64 });
    const routedInMemory = async () => memoryRouter?.route({ task: 'tests', messages, maxTokens: 64 });
    const rules = config.providers[0]!.quotas;
    const reserveSettle = async () => {
      const r = await callByCallLedger.reserve({ providerId: 'bench-ledger', rules, amounts: { requests: 1 } });
      if (!r.ok) throw new Error('bench quota exhausted');
      await callByCallLedger.settle(r.reservationId, rules, { providerId: 'bench-ledger', model: 'm', tier: 'free', ok: true, amounts: { requests: 1 }, inputTokens: 1, outputTokens: 1, costUsd: 0, baselineUsd: 0 });
    };
    const record = Buffer.alloc(RECORD_BYTES, 0x61);
    let floorOffset = 0;
    const appendFdatasync = async () => {
      fs.writeSync(floorFd, record, 0, record.length, floorOffset);
      floorOffset += record.length;
      fs.fdatasyncSync(floorFd);
    };

    for (let i = 0; i < WARMUP; i++) { await direct(); await viaProvider(); await routed(); await routedCallByCall(); await routedInMemory(); }
    const samples = { direct: [] as number[], provider: [] as number[], routed: [] as number[], callByCall: [] as number[], memory: [] as number[], ledger: [] as number[], floor: [] as number[] };
    const timeOne = async (fn: () => Promise<unknown>, into: number[]) => {
      const t0 = process.hrtime.bigint();
      await fn();
      into.push(Number(process.hrtime.bigint() - t0) / 1e6);
    };
    for (let i = 0; i < N; i++) {
      await timeOne(direct, samples.direct);
      await timeOne(viaProvider, samples.provider);
      await timeOne(routed, samples.routed);
      await timeOne(routedCallByCall, samples.callByCall);
      if (memoryRouter) await timeOne(routedInMemory, samples.memory);
      await timeOne(reserveSettle, samples.ledger);
      await timeOne(appendFdatasync, samples.floor);
    }
    const d = summary(samples.direct);
    const p = summary(samples.provider);
    const r = summary(samples.routed);
    const c = summary(samples.callByCall);
    const l = summary(samples.ledger);
    const f = summary(samples.floor);
    const m = memoryRouter ? summary(samples.memory) : undefined;
    const spend = await ledger.monthSpend();
    const callByCallSpend = await callByCallLedger.monthSpend();
    return {
      load_avg_1m: round(os.loadavg()[0]!, 2),
      direct_sdk: d,
      provider_call: p,
      routed_durable: r,
      overhead_vs_direct_ms: { p50: round(r.p50_ms - d.p50_ms), p99: round(r.p99_ms - d.p99_ms) },
      routed_durable_call_by_call: c,
      overhead_call_by_call_p50_ms: round(c.p50_ms - d.p50_ms),
      router_ledger_only_ms: { p50: round(r.p50_ms - p.p50_ms), p99: round(r.p99_ms - p.p99_ms) },
      ledger_reserve_plus_durable_settle: l,
      disk_append_fdatasync: f,
      // What an isolated call pays beyond the one fdatasync its reservation needs.
      overhead_call_by_call_above_disk_floor_p50_ms: round(c.p50_ms - d.p50_ms - f.p50_ms),
      ...(m ? { routed_memory_fs_not_durable: m, overhead_memory_fs_p50_ms: round(m.p50_ms - d.p50_ms) } : {}),
      goal_p50_overhead_ms: 0.5,
      calls_recorded: spend.calls,
      calls_expected: N + WARMUP,
      call_by_call_calls_recorded: callByCallSpend.calls,
      call_by_call_calls_expected: 2 * N + WARMUP,
    };
  } finally {
    fs.closeSync(floorFd);
    await ledger.close();
    await callByCallLedger.close();
    await memoryLedger?.close();
    await server.close();
    fs.rmSync(home, { recursive: true, force: true });
    if (memoryHome) fs.rmSync(memoryHome, { recursive: true, force: true });
  }
}
