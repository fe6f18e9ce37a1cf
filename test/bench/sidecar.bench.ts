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
import { ratio, round, summary, time } from './stats';

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
    // Cold start: a new process each time, until tools/list has answered.
    const coldStart = async (args: string[]) =>
      time(10, async () => {
        const s = await connect(args, env, root);
        await s.client.listTools();
        await s.close();
      }, 2);
    const coldSidecar = summary(await coldStart(sidecarArgs));
    out.cold_start = { sidecar: coldSidecar };
    if (hasReference) {
      const coldRef = summary(await coldStart(referenceArgs));
      out.cold_start = { sidecar: coldSidecar, reference: coldRef, ratio_p50: ratio(coldSidecar.p50_ms, coldRef.p50_ms), goal: '<= 0.4' };
    }

    // read_file on a 20 KB file, one warm session each.
    const content = 'x'.repeat(20 * 1024 - 1) + '\n';
    fs.writeFileSync(path.join(workspace, 'twenty.md'), content);
    fs.writeFileSync(path.join(refDir, 'twenty.md'), content);
    const sidecar = await connect(sidecarArgs, env, root);
    const reference = hasReference ? await connect(referenceArgs, env, root) : undefined;
    const readSidecar = summary(await time(300, () => sidecar.client.callTool({ name: 'read_file', arguments: { path: 'twenty.md' } })));
    out.read_file_20kb = { sidecar: readSidecar };
    if (reference) {
      const readRef = summary(await time(300, () => reference.client.callTool({ name: 'read_text_file', arguments: { path: path.join(refDir, 'twenty.md') } })));
      out.read_file_20kb = { sidecar: readSidecar, reference: readRef, ratio_p50: ratio(readSidecar.p50_ms, readRef.p50_ms), ratio_p99: ratio(readSidecar.p99_ms, readRef.p99_ms), goal: '<= 0.8' };
    }

    // write_file: ours is durable (fsync, rename, fsync dir) and backs up the previous state first.
    const writeSidecar = summary(await time(200, (i) => sidecar.client.callTool({ name: 'write_file', arguments: { path: `w/${i % 20}.md`, content } })));
    out.write_file_20kb = { sidecar_durable_with_backup: writeSidecar };
    if (reference) {
      fs.mkdirSync(path.join(refDir, 'w'));
      const writeRef = summary(await time(200, (i) => reference.client.callTool({ name: 'write_file', arguments: { path: path.join(refDir, 'w', `${i % 20}.md`), content } })));
      out.write_file_20kb = { sidecar_durable_with_backup: writeSidecar, reference_plain: writeRef, ratio_p50: ratio(writeSidecar.p50_ms, writeRef.p50_ms), goal: '<= 1.5' };
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
