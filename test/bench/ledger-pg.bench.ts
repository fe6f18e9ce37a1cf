/**
 * The shared ledger on PostgreSQL beside the sql.js file ledger, measured in the same run:
 * - reserve + settle latency (p50/p99) in one process, the two backends interleaved so machine drift hits both;
 * - throughput (reserve + settle pairs per second over all processes) with 1, 4 and 16 concurrent processes.
 * PostgreSQL runs with fsync on here (a fair match for sql.js, which fdatasyncs each settle). Without PostgreSQL
 * binaries the bench is skipped with the reason printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { PgLedger } from '../../src/core/ledger/pg/pg-ledger';
import { SqlJsLedger } from '../../src/core/ledger/sqljs-ledger';
import type { CallRecord, Ledger, QuotaRule } from '../../src/core/ledger/types';
import { PostgresServer, findPostgresBin } from '../support/postgres';
import { ratio, round, summary } from './stats';

const RULES: QuotaRule[] = [
  { metric: 'requests', window: 'minute', limit: 1e9 },
  { metric: 'requests', window: 'day', limit: 1e9, reset_tz: 'America/Los_Angeles' },
  { metric: 'tokens', window: 'day', limit: 1e12, reset_tz: 'America/Los_Angeles' },
];
const RECORD: CallRecord = {
  providerId: 'gemini', model: 'gemini-2.5-flash', tier: 'free', ok: true, amounts: { tokens: 1500 }, inputTokens: 1000, outputTokens: 500,
  costUsd: 0, baselineUsd: 0.0105, principal: { id: 'bench', team: 'b' },
};
/** Pairs per process at each concurrency: the total stays modest on a shared 2-core machine. */
const THROUGHPUT: Array<[processes: number, pairsEach: number]> = [[1, 160], [4, 40], [16, 10]];

async function pair(ledger: Ledger): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await ledger.reserve({ providerId: 'gemini', rules: RULES, amounts: { tokens: 1500 }, principal: RECORD.principal });
  if (!r.ok) throw new Error('refused');
  await ledger.settle(r.reservationId, RULES, RECORD);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function exited(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode!);
    else child.once('exit', (code, signal) => resolve(code ?? signal!));
  });
}

/** Pairs per second over all processes, from the first start to the last finish. */
async function throughput(bundle: string, backend: 'pg' | 'sqljs', target: string, processes: number, pairsEach: number, dir: string): Promise<number> {
  const go = path.join(dir, `go-${backend}-${processes}`);
  const children = Array.from({ length: processes }, () => spawn(process.execPath, [bundle, backend, target, String(pairsEach), go], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const outputs = children.map((c) => {
    let text = '';
    c.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    return () => text;
  });
  await Promise.all(children.map((c, i) => new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (outputs[i]!().includes('ready')) { clearInterval(poll); resolve(); }
      if (c.exitCode !== null) { clearInterval(poll); reject(new Error('bench child exited early')); }
    }, 5);
  })));
  fs.writeFileSync(go, '');
  const codes = await Promise.all(children.map(exited));
  if (codes.some((c) => c !== 0)) throw new Error(`bench children exited with ${codes.join(', ')}`);
  const spans = outputs.map((o) => o().match(/done (\d+) (\d+)/)!.slice(1).map(Number));
  const start = Math.min(...spans.map((s) => s[0]!));
  const end = Math.max(...spans.map((s) => s[1]!));
  return round((processes * pairsEach) / Math.max(1, (end - start) / 1000), 1);
}

export async function run(): Promise<object> {
  if (!findPostgresBin()) {
    const reason = 'skipped: PostgreSQL binaries not found (run scripts/install-postgres.sh)';
    process.stderr.write(`bench ledger-pg: ${reason}\n`);
    return { skipped: reason };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-ledger-pg-bench-'));
  const server = await PostgresServer.start({ durable: true });
  try {
    const url = await server.createDatabase('bench');
    const pg = await PgLedger.open({ url, sweepEveryMs: 0 });
    const sqljs = await SqlJsLedger.open({ file: path.join(dir, 'ledger.sqlite') });
    const N = 300;
    const pgMs: number[] = [];
    const sqlMs: number[] = [];
    for (let i = 0; i < 30; i++) { await pair(pg); await pair(sqljs); }
    for (let i = 0; i < N; i++) {
      pgMs.push(await pair(pg));
      sqlMs.push(await pair(sqljs));
    }
    await pg.close();
    await sqljs.close();
    const pgSummary = summary(pgMs);
    const sqlSummary = summary(sqlMs);

    const bundle = path.join(dir, 'ledger-child.cjs');
    await build({ entryPoints: [path.join(__dirname, 'fixtures', 'ledger-child.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: bundle, logLevel: 'error' });
    fs.copyFileSync(require.resolve('sql.js/dist/sql-wasm.wasm'), path.join(dir, 'sql-wasm.wasm'));
    const rows: Record<string, object> = {};
    for (const [processes, pairsEach] of THROUGHPUT) {
      const attempt = (f: () => Promise<number>) => f().catch((err: Error) => err.message);
      const pgRate = await attempt(() => throughput(bundle, 'pg', url, processes, pairsEach, dir));
      const sqlRate = await attempt(() => throughput(bundle, 'sqljs', path.join(dir, `tp-${processes}.sqlite`), processes, pairsEach, dir));
      rows[`${processes}_processes`] = {
        pairs_each: pairsEach, pg_pairs_per_s: pgRate, sqljs_pairs_per_s: sqlRate,
        pg_vs_sqljs: typeof pgRate === 'number' && typeof sqlRate === 'number' ? ratio(pgRate, sqlRate) : null,
      };
    }
    return {
      note: 'reserve + settle pairs; PostgreSQL 127.0.0.1 with fsync on; sql.js file fdatasyncs each settle',
      reserve_settle_latency: { pg: pgSummary, sqljs: sqlSummary, pg_vs_sqljs_p50: ratio(pgSummary.p50_ms, sqlSummary.p50_ms), pg_vs_sqljs_p99: ratio(pgSummary.p99_ms, sqlSummary.p99_ms) },
      throughput: rows,
    };
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
