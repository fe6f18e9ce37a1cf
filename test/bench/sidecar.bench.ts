/**
 * The sidecar beside the reference MCP file server (@modelcontextprotocol/server-filesystem, installed by
 * scripts/install-mcp-clients.sh), both driven by the real SDK Client over real stdio, in the same run:
 *  - cold start: spawn → initialize → tools/list (goal ≤ 0.4× the reference);
 *  - read_file p50/p99 on a 20 KB file (goal ≤ 0.8× the reference's read_text_file);
 *  - write_file, durable with backup (goal ≤ 1.5× the reference's plain write_file);
 *  - 200 concurrent delegate calls against the fake provider: ledger rows lost (goal 0), peak RSS.
 * `npm run bench -- sidecar`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startFakeProviderServer } from '../fakes/provider-server';
import { SqlJsLedger } from '../../src/core/ledger';
import { ratio, round, summary } from './stats';

const REPO = path.resolve(__dirname, '..', '..');
const SIDECAR = path.join(REPO, 'dist', 'sidecar.js');
const CLIENTS_DIR = process.env.SWITCHBOARD_CLIENTS_DIR ?? path.join(os.homedir(), '.cache', 'switchboard', 'mcp-clients');
const REFERENCE = path.join(CLIENTS_DIR, 'server-filesystem', 'node_modules', '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');

interface Session {
  client: Client;
  transport: StdioClientTransport;
  close(): Promise<void>;
}

async function connect(args: string[], env: Record<string, string>, cwd: string): Promise<Session> {
  const transport = new StdioClientTransport({ command: process.execPath, args, env: { PATH: process.env.PATH ?? '', ...env }, cwd, stderr: 'ignore' });
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(transport, { timeout: 20_000 });
  return { client, transport, close: () => client.close() };
}

/** CPU time (user + system) a live process has used so far, in ms; NaN where /proc is missing. */
function cpuMs(pid: number | null | undefined): number {
  if (!pid) return NaN;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks (USER_HZ = 100 on Linux)
  } catch {
    return NaN;
  }
}

/** The untimed pause after each call: work a server does after answering (our write_file's after-answer syncs,
 * a read's audit line) must not run while the other server's call is being timed. */
const SETTLE_MS = 15;
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));

/** Runs a and b alternately n times (after `warmup` rounds) and returns the milliseconds of each. */
async function interleaved(n: number, warmup: number, a: (i: number) => Promise<unknown>, b?: (i: number) => Promise<unknown>): Promise<{ a: number[]; b: number[] }> {
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < n + warmup; i++) {
    let t0 = process.hrtime.bigint();
    await a(i);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= warmup) out.a.push(ms);
    await settle();
    if (!b) continue;
    t0 = process.hrtime.bigint();
    await b(i);
    if (i >= warmup) out.b.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await settle();
  }
  return out;
}

function peakRssMb(pid: number | null): number {
  if (!pid) return NaN;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return round(kb / 1024, 1);
  } catch {
    return NaN;
  }
}

export async function run(): Promise<object> {
  if (!fs.existsSync(SIDECAR)) execFileSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { cwd: REPO, stdio: 'inherit' });
  const hasReference = fs.existsSync(REFERENCE);
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-sidecar-')));
  const workspace = path.join(root, 'workspace');
  fs.cpSync(path.join(REPO, 'media', 'sample-workspace'), workspace, { recursive: true });
  const refDir = path.join(root, 'reference');
  fs.mkdirSync(refDir);
  const env = { HOME: path.join(root, 'home'), SWITCHBOARD_HOME: path.join(root, 'sb'), SWITCHBOARD_LOCAL_BASE_URL: 'http://127.0.0.1:9/v1' };
  fs.mkdirSync(env.HOME);
  const sidecarArgs = [SIDECAR, 'serve', '--workspace', workspace];
  const referenceArgs = [REFERENCE, refDir];
  const out: Record<string, unknown> = { reference: hasReference ? '@modelcontextprotocol/server-filesystem' : 'missing: run scripts/install-mcp-clients.sh' };

  try {
    // Every figure below alternates sidecar and reference sample by sample, so a machine whose load changes
    // during the run (shared CI runners) weighs on both alike.
    // Cold start: a new process each time, until tools/list has answered; wall time, and the CPU time the
    // process used up to that answer (/proc, Linux), which a busy machine disturbs much less.
    const coldOnce = async (args: string[], extraEnv: Record<string, string> = {}) => {
      const t0 = process.hrtime.bigint();
      const s = await connect(args, { ...env, ...extraEnv }, root);
      await s.client.listTools();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const cpu = cpuMs(s.transport.pid);
      await s.close();
      return { ms, cpu };
    };
    // The sidecar's steady state is a start with its compile cache (filled by the first start, in
    // $SWITCHBOARD_HOME/cache/compile); a first start ever, without one, is measured beside it.
    const cold = { sidecar: [] as number[], reference: [] as number[], sidecarCpu: [] as number[], referenceCpu: [] as number[], noCache: [] as number[], noCacheCpu: [] as number[] };
    for (let i = 0; i < 22; i++) {
      const a = await coldOnce(sidecarArgs);
      const b = hasReference ? await coldOnce(referenceArgs) : undefined;
      const c = await coldOnce(sidecarArgs, { NODE_DISABLE_COMPILE_CACHE: '1' });
      if (i < 2) continue; // warm the disk cache and the test process
      cold.noCache.push(c.ms);
      cold.noCacheCpu.push(c.cpu);
      cold.sidecar.push(a.ms);
      cold.sidecarCpu.push(a.cpu);
      if (b) {
        cold.reference.push(b.ms);
        cold.referenceCpu.push(b.cpu);
      }
    }
    const coldSidecar = summary(cold.sidecar);
    out.cold_start = { sidecar: coldSidecar };
    if (hasReference) {
      const coldRef = summary(cold.reference);
      const cpuSidecar = summary(cold.sidecarCpu);
      const cpuRef = summary(cold.referenceCpu);
      out.cold_start = {
        sidecar: coldSidecar, reference: coldRef, ratio_p50: ratio(coldSidecar.p50_ms, coldRef.p50_ms),
        cpu_ms_sidecar: cpuSidecar, cpu_ms_reference: cpuRef, cpu_ratio_p50: ratio(cpuSidecar.p50_ms, cpuRef.p50_ms),
        goal: '<= 0.4',
        first_start_no_compile_cache: summary(cold.noCache),
        first_start_ratio_p50: ratio(summary(cold.noCache).p50_ms, coldRef.p50_ms),
        cpu_ms_first_start: summary(cold.noCacheCpu),
      };
    }

    // read_file on a 20 KB file, one warm session each.
    const content = 'x'.repeat(20 * 1024 - 1) + '\n';
    fs.writeFileSync(path.join(workspace, 'twenty.md'), content);
    fs.writeFileSync(path.join(refDir, 'twenty.md'), content);
    fs.mkdirSync(path.join(refDir, 'w'));
    const sidecar = await connect(sidecarArgs, env, root);
    const reference = hasReference ? await connect(referenceArgs, env, root) : undefined;
    const readSidecar = () => sidecar.client.callTool({ name: 'read_file', arguments: { path: 'twenty.md' } });
    const readRef = () => reference!.client.callTool({ name: 'read_text_file', arguments: { path: path.join(refDir, 'twenty.md') } });
    const reads = await interleaved(300, 20, readSidecar, reference ? readRef : undefined);
    const rs = summary(reads.a);
    out.read_file_20kb = { sidecar: rs };
    if (reference) {
      const rr = summary(reads.b);
      out.read_file_20kb = { sidecar: rs, reference: rr, ratio_p50: ratio(rs.p50_ms, rr.p50_ms), ratio_p99: ratio(rs.p99_ms, rr.p99_ms), goal: '<= 0.8' };
    }

    // write_file: ours is durable (fsync, rename, fsync dir) and backs up the previous state first.
    const writeSidecar = (i: number) => sidecar.client.callTool({ name: 'write_file', arguments: { path: `w/${i % 20}.md`, content } });
    const writeRef = (i: number) => reference!.client.callTool({ name: 'write_file', arguments: { path: path.join(refDir, 'w', `${i % 20}.md`), content } });
    const writes = await interleaved(200, 20, writeSidecar, reference ? writeRef : undefined);
    const ws = summary(writes.a);
    out.write_file_20kb = { sidecar_durable_with_backup: ws };
    if (reference) {
      const wr = summary(writes.b);
      out.write_file_20kb = { sidecar_durable_with_backup: ws, reference_plain: wr, ratio_p50: ratio(ws.p50_ms, wr.p50_ms), goal: '<= 1.5' };
    }
    await sidecar.close();
    await reference?.close();

    out.delegate_200_concurrent = await concurrentDelegations(root, env);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  return out;
}

async function concurrentDelegations(root: string, baseEnv: Record<string, string>): Promise<object> {
  const fake = await startFakeProviderServer({ reply: { text: 'ok', usage: { inputTokens: 10, outputTokens: 5 } } });
  const workspace = path.join(root, 'workspace-delegate');
  fs.cpSync(path.join(REPO, 'media', 'sample-workspace'), workspace, { recursive: true });
  fs.writeFileSync(path.join(workspace, '.agents', 'discovery-config.yaml'), 'limits:\n  max_concurrent: 16\n');
  const sbHome = path.join(root, 'sb-delegate');
  const env = { ...baseEnv, SWITCHBOARD_HOME: sbHome, SWITCHBOARD_TOGETHER_BASE_URL: fake.baseUrl('together'), TOGETHER_API_KEY: 'tgp_v1_' + 'b'.repeat(40), SWITCHBOARD_MAX_QUEUE: '256' };
  const s = await connect([SIDECAR, 'serve', '--workspace', workspace], env, root);
  try {
    const n = 200;
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: `call ${i}` } }, undefined, { timeout: 120_000 })),
    );
    const wallMs = performance.now() - t0;
    const ok = results.filter((r) => !r.isError).length;
    const rss = peakRssMb(s.transport.pid);
    await s.close();
    const ledger = await SqlJsLedger.open({ file: path.join(sbHome, 'ledger.sqlite') });
    const spend = await ledger.monthSpend();
    const [requests] = await ledger.quota('together', [{ metric: 'requests', window: 'month', limit: 3000 }]);
    await ledger.close();
    return {
      calls: n,
      ok,
      provider_requests: fake.count('together'),
      ledger_calls: spend.calls,
      ledger_requests_used: requests?.used,
      lost_ledger_rows: ok - spend.calls,
      wall_ms: round(wallMs, 1),
      per_call_ms: round(wallMs / n, 2),
      sidecar_peak_rss_mb: rss,
      goal: 'lost_ledger_rows = 0',
    };
  } finally {
    await s.close().catch(() => {});
    await fake.close();
  }
}
