import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { RateLimitInfo } from '../../providers/types';
import {
  blockingState, budgetState, chargedCounters, checkRule, circuitOf, crossedThresholds, quotaState, reconcileTargets, resolveBudgets,
  METRICS, DAY_MS, WINDOW_RETENTION_MS, ruleZone, settledAmounts, staleWindowCutoffs, usedFraction, utcMonth, withRequest,
} from '../rules';
import { systemClock } from '../types';
import type {
  Amounts, CallRecord, CircuitState, Clock, Cooldown, Ledger, QuotaMetric, QuotaRule, QuotaState, ReserveOutcome, ReserveRequest,
  SpendSummary, ThresholdEvent,
} from '../types';
import { WindowCache } from '../windows';
import { PgRunner, RollBack, createPool, describeLedgerUrl, type PgConnectionOptions } from './connection';
import { migrate } from './migrations';
import { exportPgHistory, importPgHistory } from './pg-transfer';
import type { ImportSummary, LedgerHistory, LedgerTransfer } from '../transfer';

/**
 * The quota ledger on PostgreSQL, shared by every sidecar and team-server replica that names the same database
 * (SWITCHBOARD_LEDGER_URL). Same semantics as the sql.js ledger; the concurrency comes from the database:
 * - reserve is one transaction that first locks the usage rows it will check (an upsert on each counter, in a
 *   fixed order, so two reservations on one counter queue behind each other and never deadlock), then sums the
 *   live holds and inserts its own. Two processes can therefore never both take the last unit.
 * - settle inserts the call under its idempotency key (ON CONFLICT DO NOTHING): a retried settle counts nothing.
 * - reservations carry an expiry: a reservation neither settled nor released by then (its holder died mid-call,
 *   after the provider most likely served and billed it) is charged from then on: its amounts count as used in
 *   the windows that contain its creation. Settling or releasing it later removes that charge (settle records the
 *   real usage instead). The sweeper deletes it once no window it counts in is kept (400 days).
 */

export interface PgLedgerOptions extends PgConnectionOptions {
  url: string;
  clock?: Clock;
  thresholds?: number[];
  circuitFailures?: number;
  circuitOpenMs?: number;
  reservationTtlMs?: number;
  callRetentionMs?: number;
  /** How often reservations, windows and call rows past retention are deleted. Default 60 s; 0 turns the sweeper off. */
  sweepEveryMs?: number;
}

const T = 'switchboard';

/** One usage counter: a provider's (or budget's) metric in one window. */
interface CounterKey {
  counter: string;
  metric: QuotaMetric;
  win: string;
  tz: string;
  startMs: number;
  resetAtMs: number;
}

const keyOf = (k: CounterKey): string => `${k.counter}|${k.metric}|${k.win}|${k.tz}|${k.startMs}`;
/** A counter's window whatever the metric: expired reservations are charged per window. */
const windowOf = (k: CounterKey): string => `${k.counter}|${k.win}|${k.tz}|${k.startMs}`;

interface UsageRow {
  counter: string;
  metric: string;
  win: string;
  tz: string;
  start_ms: string;
  used: number;
}

const rowKey = (r: UsageRow): string => `${r.counter}|${r.metric}|${r.win}|${r.tz}|${Number(r.start_ms)}`;

export class PgLedger implements Ledger, LedgerTransfer {
  readonly where: string;
  private readonly db: PgRunner;
  private readonly clock: Clock;
  private readonly windows = new WindowCache();
  private readonly thresholds: number[];
  private readonly circuitFailures: number;
  private readonly circuitOpenMs: number;
  private readonly reservationTtlMs: number;
  private readonly callRetentionMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(private readonly pool: Pool, options: PgLedgerOptions) {
    this.where = describeLedgerUrl(options.url);
    this.db = new PgRunner(pool, this.where);
    this.clock = options.clock ?? systemClock;
    this.thresholds = [...(options.thresholds ?? [0.8, 0.95, 1])].sort((a, b) => a - b);
    this.circuitFailures = options.circuitFailures ?? 5;
    this.circuitOpenMs = options.circuitOpenMs ?? 60_000;
    this.reservationTtlMs = options.reservationTtlMs ?? 600_000;
    this.callRetentionMs = options.callRetentionMs ?? 90 * DAY_MS;
  }

  /** Connects, applies pending migrations under the advisory lock and starts the sweeper. */
  static async open(options: PgLedgerOptions): Promise<PgLedger> {
    const pool = await createPool(options.url, options);
    const ledger = new PgLedger(pool, options);
    try {
      await ledger.db.withClient((client) => migrate(client));
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    const every = options.sweepEveryMs ?? 60_000;
    if (every > 0) {
      ledger.sweeper = setInterval(() => void ledger.sweep().catch(() => undefined), every);
      ledger.sweeper.unref();
    }
    return ledger;
  }

  // ---- Ledger --------------------------------------------------------------------------------------------

  async reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    request.rules.forEach(checkRule);
    const amounts = withRequest(request.amounts);
    const budgets = resolveBudgets(request);
    const now = this.clock();
    return this.db.transaction<ReserveOutcome>(async (c) => {
      const ruleKeys = request.rules.map((r) => this.ruleKey(request.providerId, r, now));
      const month = this.windows.bounds('month', 'UTC', now);
      const allBudgetKeys = budgets.map((b) => budgetKey(b.counter, month));
      const budgetKeys = allBudgetKeys.filter((_, i) => budgets[i]!.scope !== 'global');
      // Lock first (and read what is settled), so nothing can change between the check and the insert.
      const used = await lockCounters(c, [...ruleKeys, ...budgetKeys]);
      const globalUsed = budgets.some((b) => b.scope === 'global') ? await lockMonthSpend(c, utcMonth(now)) : 0;
      const holds = await holdsOf(c, [request.providerId, ...budgets.map((b) => b.counter)], [...ruleKeys, ...allBudgetKeys], now);
      const states = [
        ...request.rules.map((rule, i) => this.stateOf(rule, ruleKeys[i]!, used, holds)),
        ...budgets.map((b, i) => {
          const key = allBudgetKeys[i]!;
          const settled = b.scope === 'global' ? globalUsed : used.get(keyOf(key)) ?? 0;
          return budgetState(b, settled + (holds.charged.get(windowOf(key))?.usd ?? 0), holds.held.get(b.counter)?.usd ?? 0, now);
        }),
      ];
      const blocking = blockingState(states, amounts);
      // Refused: roll back, so a refusal leaves no trace (not even the counter rows it locked).
      if (blocking) return new RollBack<ReserveOutcome>({ ok: false, blocking, states });
      const id = randomUUID();
      const expires = now + (request.ttlMs ?? this.reservationTtlMs);
      const rows: unknown[][] = [[id, null, request.providerId, amounts.requests ?? 0, amounts.input_chars ?? 0, amounts.tokens ?? 0, amounts.usd ?? 0]];
      for (const b of budgets) rows.push([`${id}#${b.counter}`, id, b.counter, 0, 0, 0, amounts.usd ?? 0]);
      await c.query(
        `INSERT INTO ${T}.reservations (id, parent, counter, requests, input_chars, tokens, usd, created_ms, expires_ms)
         SELECT id, parent, counter, requests, input_chars, tokens, usd, $8, $9
         FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[], $7::float8[])
           AS r(id, parent, counter, requests, input_chars, tokens, usd)`,
        [...columns(rows, 7), now, expires],
      );
      const after = states.map((s) => {
        const need = s.budget ? amounts.usd ?? 0 : amounts[s.rule.metric] ?? 0;
        return { ...quotaState(s.rule, s.used, s.reserved + need, s.windowStartMs, s.resetAtMs), ...(s.budget ? { budget: s.budget } : {}) };
      });
      return { ok: true, reservationId: id, states: after };
    }, false);
  }

  async settle(reservationId: string, rules: QuotaRule[], record: CallRecord): Promise<{ events: ThresholdEvent[]; states: QuotaState[] }> {
    rules.forEach(checkRule);
    const callId = record.callId ?? reservationId;
    const now = this.clock();
    return this.db.transaction(async (c) => {
      await c.query(`DELETE FROM ${T}.reservations WHERE id = $1 OR parent = $1`, [reservationId]);
      const inserted = await c.query(
        `INSERT INTO ${T}.calls (id, ts_ms, provider, model, tier, task, actor, ok, input_tokens, output_tokens, cost_usd, baseline_usd, principal, team)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) ON CONFLICT (id) DO NOTHING RETURNING id`,
        [callId, now, record.providerId, record.model, record.tier, record.task ?? null, record.actor ?? null, record.ok,
          record.inputTokens, record.outputTokens, record.costUsd, record.baselineUsd, record.principal?.id ?? null, record.principal?.team ?? null],
      );
      const ruleKeys = rules.map((r) => this.ruleKey(record.providerId, r, now));
      if (!inserted.rowCount) {
        // Already recorded (a retry after a crash or a lost reply): count it once.
        return { events: [], states: await this.statesWith(c, record.providerId, rules, ruleKeys, now) };
      }
      const amounts = settledAmounts(record);
      const adds = new Map<string, { key: CounterKey; add: number }>();
      for (const key of ruleKeys) adds.set(keyOf(key), { key, add: amounts[key.metric] ?? 0 });
      if (record.costUsd > 0) {
        const month = this.windows.bounds('month', 'UTC', now);
        for (const counter of chargedCounters(record)) {
          const key = budgetKey(counter, month);
          adds.set(keyOf(key), { key, add: record.costUsd });
        }
      }
      const sorted = [...adds.values()].sort((a, b) => compareKeys(a.key, b.key));
      const used = new Map<string, number>();
      if (sorted.length) {
        const { rows } = await c.query<UsageRow>(
          `INSERT INTO ${T}.usage AS u (counter, metric, win, tz, start_ms, used)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::float8[])
           ON CONFLICT (counter, metric, win, tz, start_ms) DO UPDATE SET used = u.used + excluded.used
           RETURNING counter, metric, win, tz, start_ms, used`,
          [...columns(sorted.map(({ key, add }) => [key.counter, key.metric, key.win, key.tz, key.startMs, add]), 6)],
        );
        for (const r of rows) used.set(rowKey(r), Number(r.used));
      }
      await c.query(
        `INSERT INTO ${T}.spend AS s VALUES ($1, 1, $2, $3)
         ON CONFLICT (month) DO UPDATE SET calls = s.calls + 1, usd = s.usd + excluded.usd, baseline_usd = s.baseline_usd + excluded.baseline_usd`,
        [utcMonth(now), record.costUsd, record.baselineUsd],
      );
      // Usage as the upsert left it (this transaction holds those rows), holds and charges as of now.
      const holds = rules.length ? await holdsOf(c, [record.providerId], ruleKeys, now) : NO_HOLDS;
      const states = rules.map((rule, i) => this.stateOf(rule, ruleKeys[i]!, used, holds));
      const crossing: unknown[][] = [];
      states.forEach((s, i) => {
        const k = ruleKeys[i]!;
        for (const t of crossedThresholds(s, this.thresholds)) crossing.push([k.counter, k.metric, k.win, k.tz, s.rule.limit, k.startMs, t]);
      });
      const events: ThresholdEvent[] = [];
      if (crossing.length) {
        // Once per window across every process: the row that is inserted is the one that raises the event.
        const fired = await c.query<{ metric: string; win: string; tz: string; quota_limit: number; threshold: number }>(
          `INSERT INTO ${T}.thresholds SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::bigint[], $7::float8[])
           ON CONFLICT DO NOTHING RETURNING metric, win, tz, quota_limit, threshold`,
          columns(crossing, 7),
        );
        const firedKeys = new Set(fired.rows.map((r) => `${r.metric}|${r.win}|${r.tz}|${r.quota_limit}|${r.threshold}`));
        states.forEach((s, i) => {
          const k = ruleKeys[i]!;
          for (const threshold of crossedThresholds(s, this.thresholds)) {
            const id = `${k.metric}|${k.win}|${k.tz}|${s.rule.limit}|${threshold}`;
            if (!firedKeys.delete(id)) continue; // two equal rules fire once
            events.push({ providerId: record.providerId, rule: s.rule, threshold, fraction: usedFraction(s) });
          }
        });
      }
      return { events, states };
    });
  }

  async release(reservationId: string): Promise<void> {
    await this.db.query(`DELETE FROM ${T}.reservations WHERE id = $1 OR parent = $1`, [reservationId]);
  }

  async quota(providerId: string, rules: QuotaRule[]): Promise<QuotaState[]> {
    rules.forEach(checkRule);
    const now = this.clock();
    if (!rules.length) return [];
    const keys = rules.map((r) => this.ruleKey(providerId, r, now));
    return this.db.withClient((c) => this.statesWith(c, providerId, rules, keys, now));
  }

  async setCooldown(key: string, untilMs: number, reason: string): Promise<void> {
    if (untilMs <= this.clock()) {
      await this.db.query(`DELETE FROM ${T}.cooldowns WHERE key = $1`, [key]);
      return;
    }
    // Several processes may cool the same key down; the longest wait wins (e.g. two Retry-After values).
    await this.db.query(
      `INSERT INTO ${T}.cooldowns AS c VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET until_ms = excluded.until_ms, reason = excluded.reason WHERE excluded.until_ms > c.until_ms`,
      [key, untilMs, reason],
    );
  }

  async cooldown(key: string): Promise<Cooldown | undefined> {
    const rows = await this.db.query<{ until_ms: string; reason: string }>(`SELECT until_ms, reason FROM ${T}.cooldowns WHERE key = $1 AND until_ms > $2`, [key, this.clock()]);
    return rows[0] ? { key, untilMs: Number(rows[0].until_ms), reason: rows[0].reason } : undefined;
  }

  async recordOutcome(providerId: string, ok: boolean): Promise<CircuitState> {
    const now = this.clock();
    if (ok) {
      await this.db.query(`DELETE FROM ${T}.circuits WHERE provider = $1`, [providerId]);
      return { state: 'closed' };
    }
    // One statement: concurrent failures from several processes each count, and the circuit opens exactly once.
    const rows = await this.db.query<{ open_until_ms: string | null }>(
      `INSERT INTO ${T}.circuits AS c VALUES ($1, 1, CASE WHEN 1 >= $3 THEN $2::bigint + $4 END)
       ON CONFLICT (provider) DO UPDATE SET failures = c.failures + 1, open_until_ms = CASE
         WHEN c.open_until_ms IS NOT NULL AND c.open_until_ms <= $2 THEN $2::bigint + $4
         WHEN c.open_until_ms IS NULL AND c.failures + 1 >= $3 THEN $2::bigint + $4
         ELSE c.open_until_ms END
       RETURNING open_until_ms`,
      [providerId, now, this.circuitFailures, this.circuitOpenMs],
    );
    const until = rows[0]?.open_until_ms;
    return circuitOf(until == null ? null : Number(until), now);
  }

  async circuit(providerId: string): Promise<CircuitState> {
    const rows = await this.db.query<{ open_until_ms: string | null }>(`SELECT open_until_ms FROM ${T}.circuits WHERE provider = $1`, [providerId]);
    const until = rows[0]?.open_until_ms;
    return circuitOf(until == null ? null : Number(until), this.clock());
  }

  async reconcile(providerId: string, rules: QuotaRule[], info: RateLimitInfo): Promise<void> {
    rules.forEach(checkRule);
    const now = this.clock();
    const rows = reconcileTargets(rules, info).flatMap(({ rule, remaining }) => {
      const k = this.ruleKey(providerId, rule, now);
      // The provider saw fewer left than we count: believe it (never the other way, which could overrun).
      const floor = rule.limit - remaining;
      return floor > 1e-9 ? [[k.counter, k.metric, k.win, k.tz, k.startMs, floor]] : [];
    });
    if (!rows.length) return;
    await this.db.query(
      `INSERT INTO ${T}.usage AS u (counter, metric, win, tz, start_ms, used)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::float8[])
       ON CONFLICT (counter, metric, win, tz, start_ms) DO UPDATE SET used = excluded.used WHERE excluded.used > u.used + 1e-9`,
      columns(rows, 6),
    );
  }

  async monthSpend(): Promise<SpendSummary> {
    const month = utcMonth(this.clock());
    const rows = await this.db.query<{ calls: string; usd: number; baseline_usd: number }>(`SELECT calls, usd, baseline_usd FROM ${T}.spend WHERE month = $1`, [month]);
    const row = rows[0];
    return { month, calls: Number(row?.calls ?? 0), usd: Number(row?.usd ?? 0), baselineUsd: Number(row?.baseline_usd ?? 0) };
  }

  /**
   * Deletes what is past retention: expired reservations created over 400 days ago (until then they are charged
   * in the windows of their creation, kept as long as the month's usage row), windows long past, call rows
   * (aggregates stay), lapsed cooldowns. `reservations`: the reservation rows deleted (a budget hold is a row).
   */
  async sweep(): Promise<{ reservations: number }> {
    const now = this.clock();
    const gone = await this.db.query(`DELETE FROM ${T}.reservations WHERE created_ms < $1 AND expires_ms <= $2 RETURNING 1`, [now - WINDOW_RETENTION_MS, now]);
    const stale = `(win = 'minute' AND start_ms < $1) OR (win = 'day' AND start_ms < $2) OR (win = 'month' AND start_ms < $3)`;
    const cutoffs = staleWindowCutoffs(now);
    await this.db.query(`DELETE FROM ${T}.usage WHERE ${stale}`, cutoffs);
    await this.db.query(`DELETE FROM ${T}.thresholds WHERE ${stale}`, cutoffs);
    await this.db.query(`DELETE FROM ${T}.calls WHERE ts_ms < $1`, [now - this.callRetentionMs]);
    await this.db.query(`DELETE FROM ${T}.cooldowns WHERE until_ms <= $1`, [now]);
    return { reservations: gone.length };
  }

  async exportHistory(): Promise<LedgerHistory> {
    return exportPgHistory(this.db, this.clock());
  }

  async importHistory(history: LedgerHistory): Promise<ImportSummary> {
    return importPgHistory(this.db, history);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    await this.pool.end();
  }

  // ---- quota arithmetic ----------------------------------------------------------------------------------

  private ruleKey(providerId: string, rule: QuotaRule, now: number): CounterKey {
    const tz = ruleZone(rule);
    const { startMs, resetAtMs } = this.windows.bounds(rule.window, tz, now);
    return { counter: providerId, metric: rule.metric, win: rule.window, tz, startMs, resetAtMs };
  }

  /** Used = settled + charged (expired reservations created in the window); reserved = live holds. */
  private stateOf(rule: QuotaRule, key: CounterKey, used: Map<string, number>, holds: Holds): QuotaState {
    const charged = holds.charged.get(windowOf(key))?.[rule.metric] ?? 0;
    return quotaState(rule, (used.get(keyOf(key)) ?? 0) + charged, holds.held.get(key.counter)?.[rule.metric] ?? 0, key.startMs, key.resetAtMs);
  }

  private async statesWith(c: PoolClient, providerId: string, rules: QuotaRule[], keys: CounterKey[], now: number): Promise<QuotaState[]> {
    if (!rules.length) return [];
    const used = await readCounters(c, keys);
    const holds = await holdsOf(c, [providerId], keys, now);
    return rules.map((rule, i) => this.stateOf(rule, keys[i]!, used, holds));
  }
}

function budgetKey(counter: string, month: { startMs: number; resetAtMs: number }): CounterKey {
  return { counter, metric: 'usd', win: 'month', tz: 'UTC', startMs: month.startMs, resetAtMs: month.resetAtMs };
}

function compareKeys(a: CounterKey, b: CounterKey): number {
  const x = keyOf(a);
  const y = keyOf(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Row-major values → one array per column (for unnest). */
function columns(rows: unknown[][], width: number): unknown[][] {
  return Array.from({ length: width }, (_, i) => rows.map((r) => r[i]));
}

/**
 * Locks the usage rows of these counters for the rest of the transaction (creating missing ones), always in the
 * same order so concurrent reservations queue instead of deadlocking. Returns what each has settled.
 */
async function lockCounters(c: PoolClient, keys: CounterKey[]): Promise<Map<string, number>> {
  const unique = [...new Map(keys.map((k) => [keyOf(k), k])).values()].sort(compareKeys);
  const used = new Map<string, number>();
  if (!unique.length) return used;
  const { rows } = await c.query<UsageRow>(
    `INSERT INTO ${T}.usage AS u (counter, metric, win, tz, start_ms, used)
     SELECT k.counter, k.metric, k.win, k.tz, k.start_ms, 0 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS k(counter, metric, win, tz, start_ms, n)
     ORDER BY n
     ON CONFLICT (counter, metric, win, tz, start_ms) DO UPDATE SET used = u.used
     RETURNING counter, metric, win, tz, start_ms, used`,
    columns(unique.map((k) => [k.counter, k.metric, k.win, k.tz, k.startMs]), 5),
  );
  for (const r of rows) used.set(rowKey(r), Number(r.used));
  return used;
}

async function readCounters(c: PoolClient, keys: CounterKey[]): Promise<Map<string, number>> {
  const used = new Map<string, number>();
  if (!keys.length) return used;
  const { rows } = await c.query<UsageRow>(
    `SELECT u.counter, u.metric, u.win, u.tz, u.start_ms, u.used FROM ${T}.usage u
     JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS k(counter, metric, win, tz, start_ms)
       USING (counter, metric, win, tz, start_ms)`,
    columns(keys.map((k) => [k.counter, k.metric, k.win, k.tz, k.startMs]), 5),
  );
  for (const r of rows) used.set(rowKey(r), Number(r.used));
  return used;
}

/** Locks this month's spend row (the global budget's counter) and returns what was spent. */
async function lockMonthSpend(c: PoolClient, month: string): Promise<number> {
  const { rows } = await c.query<{ usd: number }>(
    `INSERT INTO ${T}.spend AS s VALUES ($1, 0, 0, 0) ON CONFLICT (month) DO UPDATE SET calls = s.calls RETURNING usd`,
    [month],
  );
  return Number(rows[0]?.usd ?? 0);
}

/** What reservations count for: live ones are held (per counter), expired ones charged (per window, windowOf). */
interface Holds {
  held: Map<string, Amounts>;
  charged: Map<string, Amounts>;
}

const NO_HOLDS: Holds = { held: new Map(), charged: new Map() };
const SUMS = METRICS.map((m) => `SUM(r.${m}) AS ${m}`).join(', ');

/**
 * One query for both: the live holds of these counters (n = 0), and for each window (n = its 1-based position)
 * the expired reservations of its counter created in it. The second half is an index range scan on
 * reservations_created (counter, created_ms) per window.
 */
async function holdsOf(c: PoolClient, counters: string[], windows: CounterKey[], now: number): Promise<Holds> {
  const unique = [...new Map(windows.map((w) => [windowOf(w), w])).values()];
  const { rows } = await c.query<Record<QuotaMetric, number> & { counter: string; n: string }>(
    `SELECT r.counter, 0::bigint AS n, ${SUMS} FROM ${T}.reservations r
       WHERE r.counter = ANY($1::text[]) AND r.expires_ms > $2 GROUP BY r.counter
     UNION ALL
     SELECT w.counter, w.n, ${SUMS}
       FROM unnest($3::text[], $4::bigint[], $5::bigint[]) WITH ORDINALITY AS w(counter, start_ms, reset_ms, n)
       JOIN ${T}.reservations r ON r.counter = w.counter AND r.created_ms >= w.start_ms AND r.created_ms < w.reset_ms AND r.expires_ms <= $2
       GROUP BY w.counter, w.n`,
    [counters, now, ...columns(unique.map((w) => [w.counter, w.startMs, w.resetAtMs]), 3)],
  );
  const holds: Holds = { held: new Map(), charged: new Map() };
  for (const r of rows) {
    const amounts = { requests: Number(r.requests), input_chars: Number(r.input_chars), tokens: Number(r.tokens), usd: Number(r.usd) };
    const n = Number(r.n);
    if (n === 0) holds.held.set(r.counter, amounts);
    else holds.charged.set(windowOf(unique[n - 1]!), amounts);
  }
  return holds;
}

