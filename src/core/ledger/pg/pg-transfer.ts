import type { PoolClient } from 'pg';
import { CALL_FIELDS, HISTORY_FORMAT, aggregateDeltas, callFromRow } from '../history-merge';
import type { ImportSummary, ImportedKind, LedgerHistory } from '../transfer';
import type { QuotaMetric, QuotaWindow } from '../types';
import type { PgRunner } from './connection';

/** Export and idempotent import of history (transfer.ts) for the PostgreSQL ledger. */

const T = 'switchboard';
const BATCH = 5_000;

export async function ledgerIdOf(db: PgRunner): Promise<string> {
  const rows = await db.query<{ value: string }>(`SELECT value FROM ${T}.meta WHERE key = 'ledger_id'`);
  return rows[0]!.value;
}

export async function exportPgHistory(db: PgRunner, now: number): Promise<LedgerHistory> {
  // One snapshot of the whole database, so calls, counters and spend agree with each other.
  return db.withClient(async (c) => {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const source = (await c.query<{ value: string }>(`SELECT value FROM ${T}.meta WHERE key = 'ledger_id'`)).rows[0]!.value;
      const calls = (await c.query(`SELECT ${CALL_FIELDS.join(', ')} FROM ${T}.calls ORDER BY ts_ms, id`)).rows.map(callFromRow);
      const usage = (await c.query<{ counter: string; metric: string; win: string; tz: string; start_ms: string; used: number }>(
        `SELECT counter, metric, win, tz, start_ms, used FROM ${T}.usage ORDER BY counter, metric, win, tz, start_ms`,
      )).rows.map((r) => ({ counter: r.counter, metric: r.metric as QuotaMetric, win: r.win as QuotaWindow, tz: r.tz, start_ms: Number(r.start_ms), used: Number(r.used) }));
      const spend = (await c.query<{ month: string; calls: string; usd: number; baseline_usd: number }>(`SELECT month, calls, usd, baseline_usd FROM ${T}.spend ORDER BY month`))
        .rows.map((r) => ({ month: r.month, calls: Number(r.calls), usd: Number(r.usd), baseline_usd: Number(r.baseline_usd) }));
      const imported = (await c.query<{ source: string; kind: ImportedKind; key: string; value: number }>(`SELECT source, kind, key, value FROM ${T}.imported ORDER BY source, kind, key`))
        .rows.map((r) => ({ source: r.source, kind: r.kind, key: r.key, value: Number(r.value) }));
      return { format: HISTORY_FORMAT, version: 1, source, exported_at: new Date(now).toISOString(), calls, usage, spend, imported };
    } finally {
      await c.query('ROLLBACK');
    }
  });
}

export async function importPgHistory(db: PgRunner, history: LedgerHistory): Promise<ImportSummary> {
  const own = await ledgerIdOf(db);
  const summary: ImportSummary = { source: history.source, calls: 0, counters: 0, months: 0, ownHistory: history.source === own };
  if (summary.ownHistory) return summary;
  return db.transaction(async (c) => {
    // Two imports of the same source at once would both read the same "already imported": one at a time.
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`switchboard-import:${history.source}`]);
    const previously = new Map((await c.query<{ kind: string; key: string; value: number }>(`SELECT kind, key, value FROM ${T}.imported WHERE source = $1`, [history.source]))
      .rows.map((r) => [`${r.kind}|${r.key}`, Number(r.value)]));
    for (let i = 0; i < history.calls.length; i += BATCH) summary.calls += await insertCalls(c, history.calls.slice(i, i + BATCH));
    const { usage, spend, remember } = aggregateDeltas(history, previously, own);
    for (let i = 0; i < usage.length; i += BATCH) {
      const part = usage.slice(i, i + BATCH);
      await c.query(
        `INSERT INTO ${T}.usage AS u (counter, metric, win, tz, start_ms, used)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::float8[])
         ON CONFLICT (counter, metric, win, tz, start_ms) DO UPDATE SET used = u.used + excluded.used`,
        [part.map((u) => u.counter), part.map((u) => u.metric), part.map((u) => u.win), part.map((u) => u.tz), part.map((u) => u.start_ms), part.map((u) => u.add)],
      );
    }
    for (const m of spend) {
      await c.query(
        `INSERT INTO ${T}.spend AS s VALUES ($1, $2, $3, $4) ON CONFLICT (month) DO UPDATE SET
           calls = s.calls + excluded.calls, usd = s.usd + excluded.usd, baseline_usd = s.baseline_usd + excluded.baseline_usd`,
        [m.month, Math.round(m.calls), m.usd, m.baseline_usd],
      );
    }
    for (let i = 0; i < remember.length; i += BATCH) {
      const part = remember.slice(i, i + BATCH);
      await c.query(
        `INSERT INTO ${T}.imported AS i (source, kind, key, value) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::float8[])
         ON CONFLICT (source, kind, key) DO UPDATE SET value = excluded.value`,
        [history.source, part.map((r) => r.kind), part.map((r) => r.key), part.map((r) => r.value)],
      );
    }
    summary.counters = usage.length;
    summary.months = spend.length;
    return summary;
  });
}

async function insertCalls(c: PoolClient, calls: LedgerHistory['calls']): Promise<number> {
  if (!calls.length) return 0;
  const types = ['text', 'bigint', 'text', 'text', 'text', 'text', 'text', 'boolean', 'bigint', 'bigint', 'float8', 'float8', 'text', 'text'];
  const res = await c.query(
    `INSERT INTO ${T}.calls (${CALL_FIELDS.join(', ')})
     SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})
     ON CONFLICT (id) DO NOTHING`,
    CALL_FIELDS.map((f) => calls.map((call) => (f === 'input_tokens' || f === 'output_tokens' ? Math.round(call[f]) : call[f]))),
  );
  return res.rowCount ?? 0;
}
