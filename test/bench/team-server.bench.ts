/**
 * The team server under load: 50 concurrent MCP clients (the SDK's Streamable HTTP client, bearer token) calling
 * `delegate`, against the fake provider answering after a fixed latency (in its own process). Reference from the
 * same run: the same 50 clients calling the fake provider directly (one streamed chat completion each).
 * Figures: delegations/s and added latency p50/p99 (server minus direct), with 1 and 2 replicas (two server
 * processes sharing one SWITCHBOARD_HOME, so one ledger), and RSS per replica; and 1 replica without budgets
 * (the cost of the two budget holds per call on the sql.js ledger). `npm run bench -- team-server`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startFakeProviderServerInChild, type ChildFakeServer } from '../fakes/provider-server';
import { sha256 } from '../sidecar/http/helpers';
import { ratio, round, summary } from './stats';

const REPO = path.resolve(__dirname, '..', '..');
const SIDECAR = path.join(REPO, 'dist', 'sidecar.js');
const CLIENTS = 50;
const CALLS_PER_CLIENT = Number(process.env.SWITCHBOARD_BENCH_TEAM_CALLS ?? 8);
const PROVIDER_LATENCY_MS = 100;
const TOKEN = 'sbt_bench_' + 'b'.repeat(32);

interface Replica {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

async function startReplica(env: Record<string, string>): Promise<Replica> {
  const proc = spawn(process.execPath, [SIDECAR, 'serve', '--http', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('team server did not start')), 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+\/mcp)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => reject(new Error(`team server exited ${code}`)));
  });
  return {
    url,
    proc,
    stop: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    }),
  };
}

function rssMb(pid: number | undefined): { rss_mb: number; peak_rss_mb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss_mb: round(kb('VmRSS') / 1024, 1), peak_rss_mb: round(kb('VmHWM') / 1024, 1) };
}

/** Runs `CLIENTS` workers, each making CALLS_PER_CLIENT calls; per-call latencies and wall time. */
async function load(call: (worker: number) => Promise<void>): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async (_, worker) => {
    for (let i = 0; i < CALLS_PER_CLIENT; i++) {
      const s = performance.now();
      await call(worker);
      latencies.push(performance.now() - s);
    }
  }));
  return { latencies, wallMs: performance.now() - t0 };
}

async function direct(fake: ChildFakeServer): Promise<{ latencies: number[]; wallMs: number }> {
  const url = `${fake.baseUrl('openai')}/chat/completions`;
  const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Document slugify.' }] });
  return load(async () => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' }, body });
    await res.text();
    if (!res.ok) throw new Error(`direct call: HTTP ${res.status}`);
  });
}

async function throughServer(urls: string[]): Promise<{ latencies: number[]; wallMs: number; errors: number; errorSamples: string[] }> {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    const client = new Client({ name: `bench-${i}`, version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(urls[i % urls.length]!), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
    return client;
  }));
  let errors = 0;
  const errorSamples = new Set<string>();
  try {
    // Warm-up: one call per client (SDK clients, connection pools, ledger files).
    await Promise.all(clients.map((c) => c.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'warm up' } })));
    const run = await load(async (worker) => {
      const r = await clients[worker]!.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'Document slugify.' } }, undefined, { timeout: 300_000 });
      if (r.isError) {
        errors++;
        const text = (r.content as Array<{ text?: string }>)[0]?.text ?? '';
        if (errorSamples.size < 3) errorSamples.add(text.replace(/\d+(\.\d+)?/g, 'N').slice(-240));
      }
    });
    return { ...run, errors, errorSamples: [...errorSamples] };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
  }
}

export async function run(): Promise<object> {
  const fake = await startFakeProviderServerInChild();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-team-'));
  try {
    await fake.setDefault('openai', { kind: 'ok', delayMs: PROVIDER_LATENCY_MS });
    await fake.setReply({ text: 'GENERATED', usage: { inputTokens: 120, outputTokens: 30 } });
    const sbHome = path.join(home, 'sb');
    fs.mkdirSync(sbHome);
    fs.writeFileSync(path.join(sbHome, 'router.yaml'), 'routing:\n  allow_paid: true\n  budget_usd_month: 1000\nproviders:\n  - id: openai\n    quotas: [{metric: usd, window: month, limit: 1000}]\n');
    const tokensFile = path.join(home, 'tokens.json');
    fs.writeFileSync(tokensFile, JSON.stringify({ tokens: [{ id: 'bench', team: 'perf', sha256: sha256(TOKEN), rpm: 1_000_000, budget_usd_month: 1000 }], teams: [{ id: 'perf', budget_usd_month: 1000 }] }));
    // The same caller without budgets: what the two budget holds per call (principal, team) cost.
    const unbudgetedFile = path.join(home, 'tokens-unbudgeted.json');
    fs.writeFileSync(unbudgetedFile, JSON.stringify({ tokens: [{ id: 'bench', sha256: sha256(TOKEN), rpm: 1_000_000 }] }));
    const env = {
      PATH: process.env.PATH ?? '', HOME: home, SWITCHBOARD_HOME: sbHome, SWITCHBOARD_TOKENS_FILE: tokensFile,
      SWITCHBOARD_LOCAL_BASE_URL: 'http://127.0.0.1:9/v1', SWITCHBOARD_OPENAI_BASE_URL: fake.baseUrl('openai'), OPENAI_API_KEY: 'sk-bench-' + 'k'.repeat(30),
      SWITCHBOARD_LOG_LEVEL: 'warn',
    };

    const reference = await direct(fake);
    const ref = summary(reference.latencies);
    const refRate = (reference.latencies.length / reference.wallMs) * 1000;

    const results: Record<string, unknown> = {};
    const configs = [
      { name: 'replicas_1', replicas: 1, env },
      { name: 'replicas_2', replicas: 2, env },
      { name: 'replicas_1_without_budgets', replicas: 1, env: { ...env, SWITCHBOARD_TOKENS_FILE: unbudgetedFile } },
    ];
    for (const { name, replicas, env: replicaEnv } of configs) {
      const servers = await Promise.all(Array.from({ length: replicas }, () => startReplica(replicaEnv)));
      try {
        const r = await throughServer(servers.map((s) => s.url));
        const s = summary(r.latencies);
        const rate = (r.latencies.length / r.wallMs) * 1000;
        results[name] = {
          delegations_per_s: round(rate, 1),
          delegations_per_s_vs_direct: ratio(rate, refRate),
          p50_ms: s.p50_ms,
          p99_ms: s.p99_ms,
          added_p50_ms: round(s.p50_ms - ref.p50_ms, 1),
          added_p99_ms: round(s.p99_ms - ref.p99_ms, 1),
          errors: r.errors,
          ...(r.errors ? { error_samples: r.errorSamples } : {}),
          memory_per_replica: servers.map((x) => rssMb(x.proc.pid)),
        };
      } finally {
        await Promise.all(servers.map((x) => x.stop()));
      }
    }
    return {
      clients: CLIENTS,
      calls: CLIENTS * CALLS_PER_CLIENT,
      provider_latency_ms: PROVIDER_LATENCY_MS,
      reference_direct: { delegations_per_s: round(refRate, 1), p50_ms: ref.p50_ms, p99_ms: ref.p99_ms },
      ...results,
    };
  } finally {
    await fake.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}
