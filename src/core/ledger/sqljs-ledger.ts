import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { SqlValue } from 'sql.js';
import { switchboardHome } from '../paths';
import type { RateLimitInfo } from '../providers/types';
import { SharedSqlJsFile, type LedgerStats, type SharedSqlJsFileOptions } from './sqljs-store';
import { systemClock } from './types';
import type {
  Availability, AvailableReserveOutcome, CallRecord, CircuitState, Clock, Cooldown, Ledger, QuotaMetric, QuotaRule, QuotaState, QuotaWindow,
  ReserveOutcome, ReserveRequest, Settlement, SpendSummary, ThresholdEvent,
} from './types';
import { WindowCache, windowBounds } from './windows';
import { CALL_FIELDS, HISTORY_FORMAT, aggregateDeltas, callFromRow } from './history-merge';
import type { ImportSummary, ImportedKind, LedgerHistory, LedgerTransfer } from './transfer';
import {
  blockingState, budgetState, chargedCounters, checkRule, circuitOf, crossedThresholds, quotaState, reconcileTargets, resolveBudgets,
  ruleZone, settledAmounts, usedFraction, utcMonth, withRequest, type ResolvedBudget,
} from './rules';

export type { LedgerStats, LedgerWarning } from './sqljs-store';

/** The quota ledger on the sql.js file every process on this machine shares (sqljs-store.ts says how). */

export interface SqlJsLedgerOptions extends Partial<Omit<SharedSqlJsFileOptions, 'file' | 'clock'>> {
  /** Default: $SWITCHBOARD_HOME/ledger.sqlite. */
  file?: string;
  clock?: Clock;
  /** Usage fractions that raise a threshold event, once per window each. Default [0.8, 0.95, 1]. */
  thresholds?: number[];
  /** Consecutive failures that open a provider's circuit. Default 5. */
  circuitFailures?: number;
  /** How long an open circuit stays open before it turns half-open. Default 60 s. */
  circuitOpenMs?: number;
  /** Reservation lifetime when the request names none. Default 10 min (twice the default call deadline). */
  reservationTtlMs?: number;
  /** Call rows older than this are pruned (usage and spend aggregates stay). Default 90 days. */
  callRetentionMs?: number;
  /**
   * At most this many call rows are kept (newest first). Default 200: every process loads the whole snapshot
   * after each compaction, so its size matters; totals live in aggregates, rows only serve idempotency
   * (a retried settle) and recent history.
   */
  maxCallRows?: number;
}

export function defaultLedgerPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(switchboardHome(env), 'ledger.sqlite');
}

const DAY_MS = 86_400_000;
const CALL_COLUMNS = 'id, ts_ms, provider, model, tier, task, actor, ok, input_tokens, output_tokens, cost_usd, baseline_usd, principal, team';
const PRUNE_EVERY_MS = 3_600_000;

const addUsageSqlByCount: string[] = [];

/** Adds to `rows` usage counters (provider, metric, win, tz, start_ms, amount), creating those not there yet. */
function addUsageSql(rows: number): string {
  return (addUsageSqlByCount[rows] ??= `INSERT INTO usage VALUES ${Array.from({ length: rows }, () => '(?,?,?,?,?,?)').join(',')} ` +
    'ON CONFLICT (provider, metric, win, tz, start_ms) DO UPDATE SET used = used + excluded.used');
}

const statesSqlByKey = new Map<string, string>();

/**
 * The held amounts of a counter's open reservations and the usage of `rules` of its windows, as one row. A
 * settlement (`settling`) also reads, in the same statement, whether the provider has a circuit row and the
 * span of call rowids (what capCallRows checks): each statement run costs more than its lookups.
 */
function statesSql(rules: number, settling: boolean): string {
  const key = `${rules}|${settling}`;
  let sql = statesSqlByKey.get(key);
  if (sql === undefined) {
    const columns = Array.from({ length: rules }, (_, i) =>
      `(SELECT used FROM usage WHERE provider = ? AND metric = ? AND win = ? AND tz = ? AND start_ms = ?) AS used${i}`);
    if (settling) {
      columns.push('(SELECT 1 FROM circuits WHERE provider = ?) AS circuit_row', '(SELECT max(rowid) FROM calls) - (SELECT min(rowid) FROM calls) + 1 AS call_span');
    }
    columns.push('COALESCE(SUM(requests),0) AS requests', 'COALESCE(SUM(input_chars),0) AS input_chars', 'COALESCE(SUM(tokens),0) AS tokens', 'COALESCE(SUM(usd),0) AS usd');
    sql = `SELECT ${columns.join(', ')} FROM reservations WHERE provider = ? AND expires_ms > ?`;
    statesSqlByKey.set(key, sql);
  }
  return sql;
}

export class SqlJsLedger implements Ledger, LedgerTransfer {
  readonly file: string;
  private readonly windows = new WindowCache();
  private readonly thresholds: number[];
  private readonly circuitFailures: number;
  private readonly circuitOpenMs: number;
  private readonly reservationTtlMs: number;
  private readonly callRetentionMs: number;
  private readonly maxCallRows: number;
  /** meta pruned_at as last read (it only grows), so most settles need not read it. */
  private prunedAtSeen = 0;

  private constructor(private readonly db: SharedSqlJsFile, options: SqlJsLedgerOptions) {
    this.file = db.file;
    this.thresholds = [...(options.thresholds ?? [0.8, 0.95, 1])].sort((a, b) => a - b);
    this.circuitFailures = options.circuitFailures ?? 5;
    this.circuitOpenMs = options.circuitOpenMs ?? 60_000;
    this.reservationTtlMs = options.reservationTtlMs ?? 600_000;
    this.callRetentionMs = options.callRetentionMs ?? 90 * DAY_MS;
    this.maxCallRows = options.maxCallRows ?? 200;
  }

  /** Opens (or starts) the ledger; an unreadable file is set aside and reported through onWarning. */
  static async open(options: SqlJsLedgerOptions = {}): Promise<SqlJsLedger> {
    const clock = options.clock ?? systemClock;
    const db = await SharedSqlJsFile.open({ ...options, file: options.file ?? defaultLedgerPath(), clock });
    return new SqlJsLedger(db, { ...options, clock });
  }

  stats(): LedgerStats {
    return this.db.stats();
  }

  // ---- Ledger --------------------------------------------------------------------------------------------

  async reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    // Without a cooldown key nothing is checked but the quota: the outcome is a plain ReserveOutcome.
    return (await this.reserveChecking(request, undefined)) as ReserveOutcome;
  }

  /** One lock, one look at the shared file: the router's availability check and reservation (see Ledger). */
  async reserveIfAvailable(request: ReserveRequest, cooldownKey: string): Promise<AvailableReserveOutcome> {
    return this.reserveChecking(request, cooldownKey);
  }

  private async reserveChecking(request: ReserveRequest, cooldownKey: string | undefined): Promise<AvailableReserveOutcome> {
    request.rules.forEach(checkRule);
    const amounts = withRequest(request.amounts);
    const budgets = resolveBudgets(request);
    return this.db.mutate<AvailableReserveOutcome>((now) => {
      if (cooldownKey !== undefined) {
        const unavailable = this.availabilityAt(cooldownKey, request.providerId, now);
        if (unavailable.cooldown || unavailable.circuit.state === 'open') return { result: { ok: false, unavailable }, changed: false };
      }
      const states = [...this.states(request.providerId, request.rules, now), ...budgets.map((b) => this.budgetStateOf(b, now))];
      // Checked and held under the file lock in one transaction: no other process can admit a call in between.
      const blocking = blockingState(states, amounts);
      if (blocking) return { result: { ok: false, blocking, states }, changed: false };
      const id = randomUUID();
      const expires = now + (request.ttlMs ?? this.reservationTtlMs);
      // Expired reservations count for nothing (every sum reads `expires_ms > now`); pruneIfDue removes them.
      this.db.run('INSERT INTO reservations VALUES (?,?,?,?,?,?,?,?)', [
        id, request.providerId, amounts.requests ?? 0, amounts.input_chars ?? 0, amounts.tokens ?? 0, amounts.usd ?? 0, now, expires,
      ]);
      // A budget's hold is a row of its own, named after the reservation so settle and release remove it too.
      for (const b of budgets) this.db.run('INSERT INTO reservations VALUES (?,?,0,0,0,?,?,?)', [`${id}#${b.counter}`, b.counter, amounts.usd ?? 0, now, expires]);
      // The states read above plus this reservation's own holds: nothing else changed inside the transaction.
      const held = expires > now ? amounts : {};
      const after = states.map((s) => ({ ...s, ...quotaState(s.rule, s.used, s.reserved + (held[s.rule.metric] ?? 0), s.windowStartMs, s.resetAtMs) }));
      return { result: { ok: true, reservationId: id, states: after }, changed: true };
    });
  }

  async settle(reservationId: string, rules: QuotaRule[], record: CallRecord): Promise<Settlement> {
    rules.forEach(checkRule);
    const callId = record.callId ?? reservationId;
    return this.db.mutate<Settlement>((now) => {
      this.deleteReservation(reservationId);
      const releasedReservation = this.db.changes() > 0;
      // One statement both checks and records: a call id already there inserts nothing.
      // (ON CONFLICT (id), not OR IGNORE: a record breaking another constraint must still fail loudly.)
      this.db.run(`INSERT INTO calls (${CALL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING`, [
        callId, now, record.providerId, record.model, record.tier, record.task ?? null, record.actor ?? null, record.ok ? 1 : 0,
        record.inputTokens, record.outputTokens, record.costUsd, record.baselineUsd, record.principal?.id ?? null, record.principal?.team ?? null,
      ]);
      if (this.db.changes() === 0) {
        // Already recorded (a retry after a crash or a lost reply): count it once.
        return { result: { events: [], states: this.states(record.providerId, rules, now) }, changed: releasedReservation, durable: true };
      }
      const used = settledAmounts(record);
      const seen = new Set<string>();
      const usageRows: SqlValue[] = [];
      for (const rule of rules) {
        const { win, tz, startMs } = this.windowKey(rule, now);
        const key = `${rule.metric}|${win}|${tz}`;
        if (seen.has(key)) continue; // two rules on the same counter (different limits) share one usage row
        seen.add(key);
        usageRows.push(record.providerId, rule.metric, win, tz, startMs, used[rule.metric] ?? 0);
      }
      // Every rule's counter in one statement (one row each, all different).
      if (usageRows.length) this.db.run(addUsageSql(usageRows.length / 6), usageRows);
      if (record.costUsd > 0) {
        const monthStart = windowBounds('month', 'UTC', now).startMs;
        for (const counter of chargedCounters(record)) {
          this.db.run(
            `INSERT INTO usage VALUES (?,'usd','month','UTC',?,?)
             ON CONFLICT (provider, metric, win, tz, start_ms) DO UPDATE SET used = used + excluded.used`,
            [counter, monthStart, record.costUsd],
          );
        }
      }
      this.db.run(
        `INSERT INTO spend VALUES (?, 1, ?, ?)
         ON CONFLICT (month) DO UPDATE SET calls = calls + 1, usd = usd + excluded.usd, baseline_usd = baseline_usd + excluded.baseline_usd`,
        [utcMonth(now), record.costUsd, record.baselineUsd],
      );
      const { states, row } = this.statesRead(record.providerId, rules, now, true);
      const events: ThresholdEvent[] = [];
      for (const s of states) {
        const fraction = usedFraction(s);
        const { win, tz } = this.windowKey(s.rule, now);
        for (const threshold of crossedThresholds(s, this.thresholds)) {
          this.db.run('INSERT OR IGNORE INTO thresholds VALUES (?,?,?,?,?,?,?)', [record.providerId, s.rule.metric, win, tz, s.rule.limit, s.windowStartMs, threshold]);
          if (this.db.changes() > 0) events.push({ providerId: record.providerId, rule: s.rule, threshold, fraction });
        }
      }
      this.pruneIfDue(now);
      // The span was read before a prune could delete rows: still an upper bound of the count, as capCallRows needs.
      this.capCallRows(Number(row.call_span ?? 0));
      // Read here, under the lock, the router need not look again to record this call's success.
      const circuitClean = record.ok ? row.circuit_row == null : undefined;
      return { result: { events, states, circuitClean }, changed: true, durable: true };
    });
  }

  async release(reservationId: string): Promise<void> {
    // Usually the reservation exists; when it already expired there is nothing to write.
    if (!(await this.db.read(() => this.db.all('SELECT 1 FROM reservations WHERE id = ?', [reservationId]).length > 0))) return;
    await this.db.mutate(() => {
      this.deleteReservation(reservationId);
      return { result: undefined, changed: this.db.changes() > 0 };
    });
  }

  async quota(providerId: string, rules: QuotaRule[]): Promise<QuotaState[]> {
    rules.forEach(checkRule);
    return this.db.read((now) => this.states(providerId, rules, now));
  }

  async setCooldown(key: string, untilMs: number, reason: string): Promise<void> {
    await this.db.mutate((now) => {
      if (untilMs <= now) {
        this.db.run('DELETE FROM cooldowns WHERE key = ?', [key]);
      } else {
        // Several processes may cool the same key down; the longest wait wins (e.g. two Retry-After values).
        this.db.run(
          `INSERT INTO cooldowns VALUES (?,?,?)
           ON CONFLICT (key) DO UPDATE SET until_ms = excluded.until_ms, reason = excluded.reason WHERE excluded.until_ms > until_ms`,
          [key, untilMs, reason],
        );
      }
      return { result: undefined, changed: this.db.changes() > 0 };
    });
  }

  async cooldown(key: string): Promise<Cooldown | undefined> {
    return this.db.read((now) => this.cooldownAt(key, now));
  }

  async availability(cooldownKey: string, providerId: string): Promise<Availability> {
    return this.db.read((now) => this.availabilityAt(cooldownKey, providerId, now));
  }

  private availabilityAt(cooldownKey: string, providerId: string, now: number): Availability {
    // Both in one statement (the router asks before every call).
    const row = this.db.all(
      `SELECT (SELECT until_ms FROM cooldowns WHERE key = ? AND until_ms > ?) AS until_ms, (SELECT reason FROM cooldowns WHERE key = ? AND until_ms > ?) AS reason,
              (SELECT open_until_ms FROM circuits WHERE provider = ?) AS open_until_ms`,
      [cooldownKey, now, cooldownKey, now, providerId],
    )[0]!;
    const circuit = circuitOf(row.open_until_ms == null ? null : Number(row.open_until_ms), now);
    return row.until_ms == null ? { circuit } : { cooldown: { key: cooldownKey, untilMs: Number(row.until_ms), reason: String(row.reason) }, circuit };
  }

  private cooldownAt(key: string, now: number): Cooldown | undefined {
    const row = this.db.all('SELECT until_ms, reason FROM cooldowns WHERE key = ? AND until_ms > ?', [key, now])[0];
    return row ? { key, untilMs: Number(row.until_ms), reason: String(row.reason) } : undefined;
  }

  async recordOutcome(providerId: string, ok: boolean): Promise<CircuitState> {
    if (ok) {
      // The common case, a success on a healthy provider, changes nothing: no lock, no write.
      const healthy = await this.db.read(() => this.db.all('SELECT 1 FROM circuits WHERE provider = ?', [providerId]).length === 0);
      if (healthy) return { state: 'closed' };
    }
    return this.db.mutate((now) => {
      if (ok) {
        this.db.run('DELETE FROM circuits WHERE provider = ?', [providerId]);
        return { result: { state: 'closed' }, changed: this.db.changes() > 0 };
      }
      const row = this.db.all('SELECT failures, open_until_ms FROM circuits WHERE provider = ?', [providerId])[0];
      const failures = Number(row?.failures ?? 0) + 1;
      let openUntil = row?.open_until_ms == null ? null : Number(row.open_until_ms);
      if (openUntil !== null && openUntil <= now) openUntil = now + this.circuitOpenMs; // the half-open trial failed
      else if (openUntil === null && failures >= this.circuitFailures) openUntil = now + this.circuitOpenMs;
      this.db.run('INSERT OR REPLACE INTO circuits VALUES (?,?,?)', [providerId, failures, openUntil]);
      return { result: circuitOf(openUntil, now), changed: true };
    });
  }

  async circuit(providerId: string): Promise<CircuitState> {
    return this.db.read((now) => this.circuitAt(providerId, now));
  }

  private circuitAt(providerId: string, now: number): CircuitState {
    const row = this.db.all('SELECT open_until_ms FROM circuits WHERE provider = ?', [providerId])[0];
    return circuitOf(row?.open_until_ms == null ? null : Number(row.open_until_ms), now);
  }

  async reconcile(providerId: string, rules: QuotaRule[], info: RateLimitInfo): Promise<void> {
    rules.forEach(checkRule);
    const targets = reconcileTargets(rules, info);
    if (!targets.length) return;
    await this.db.mutate((now) => {
      let changed = false;
      for (const { rule, remaining } of targets) {
        const { win, tz, startMs } = this.windowKey(rule, now);
        const used = this.usedIn(providerId, rule.metric, win, tz, startMs);
        // The provider saw fewer left than we count: believe it (never the other way, which could overrun).
        const floor = rule.limit - remaining;
        if (floor > used + 1e-9) {
          this.db.run(
            `INSERT INTO usage VALUES (?,?,?,?,?,?)
             ON CONFLICT (provider, metric, win, tz, start_ms) DO UPDATE SET used = excluded.used`,
            [providerId, rule.metric, win, tz, startMs, floor],
          );
          changed = true;
        }
      }
      return { result: undefined, changed };
    });
  }

  async monthSpend(): Promise<SpendSummary> {
    return this.db.read((now) => {
      const month = utcMonth(now);
      const row = this.db.all('SELECT calls, usd, baseline_usd FROM spend WHERE month = ?', [month])[0];
      return { month, calls: Number(row?.calls ?? 0), usd: Number(row?.usd ?? 0), baselineUsd: Number(row?.baseline_usd ?? 0) };
    });
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  // ---- moving history (transfer.ts) ----------------------------------------------------------------------

  async exportHistory(): Promise<LedgerHistory> {
    const source = await this.ledgerId();
    return this.db.read((now) => ({
      format: HISTORY_FORMAT, version: 1, source, exported_at: new Date(now).toISOString(),
      calls: this.db.all(`SELECT ${CALL_COLUMNS} FROM calls ORDER BY ts_ms, id`, []).map(callFromRow),
      usage: this.db.all('SELECT provider, metric, win, tz, start_ms, used FROM usage ORDER BY provider, metric, win, tz, start_ms', []).map((r) => ({
        counter: String(r.provider), metric: String(r.metric) as QuotaMetric, win: String(r.win) as QuotaWindow, tz: String(r.tz), start_ms: Number(r.start_ms), used: Number(r.used),
      })),
      spend: this.db.all('SELECT month, calls, usd, baseline_usd FROM spend ORDER BY month', []).map((r) => ({
        month: String(r.month), calls: Number(r.calls), usd: Number(r.usd), baseline_usd: Number(r.baseline_usd),
      })),
      imported: this.db.all("SELECT key, value FROM meta WHERE substr(key, 1, 9) = 'imported|' ORDER BY key", []).flatMap((r) => {
        // imported|<source>|<kind>|<key…>: sources are ledger ids (no '|'); counter keys may hold '|'.
        const [, source, kind, ...key] = String(r.key).split('|');
        return source && kind ? [{ source, kind: kind as ImportedKind, key: key.join('|'), value: Number(r.value) }] : [];
      }),
    }));
  }

  async importHistory(history: LedgerHistory): Promise<ImportSummary> {
    const own = await this.ledgerId();
    const summary: ImportSummary = { source: history.source, calls: 0, counters: 0, months: 0, ownHistory: history.source === own };
    if (summary.ownHistory) return summary;
    const prefix = `imported|${history.source}|`;
    return this.db.mutate(() => {
      const previously = new Map(this.db.all('SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?', [prefix.length, prefix])
        .map((r) => [String(r.key).slice(prefix.length), Number(r.value)]));
      for (const c of history.calls) {
        this.db.run(`INSERT OR IGNORE INTO calls (${CALL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, CALL_FIELDS.map((f) => (f === 'ok' ? (c.ok ? 1 : 0) : c[f])));
        summary.calls += this.db.changes();
      }
      const { usage, spend, remember } = aggregateDeltas(history, previously, own);
      for (const u of usage) {
        this.db.run(
          `INSERT INTO usage VALUES (?,?,?,?,?,?) ON CONFLICT (provider, metric, win, tz, start_ms) DO UPDATE SET used = used + excluded.used`,
          [u.counter, u.metric, u.win, u.tz, u.start_ms, u.add],
        );
      }
      for (const m of spend) {
        this.db.run(
          `INSERT INTO spend VALUES (?,?,?,?) ON CONFLICT (month) DO UPDATE SET
             calls = calls + excluded.calls, usd = usd + excluded.usd, baseline_usd = baseline_usd + excluded.baseline_usd`,
          [m.month, m.calls, m.usd, m.baseline_usd],
        );
      }
      for (const r of remember) this.db.run('INSERT OR REPLACE INTO meta VALUES (?, ?)', [`${prefix}${r.kind}|${r.key}`, String(r.value)]);
      summary.counters = usage.length;
      summary.months = spend.length;
      this.capCallRows();
      return { result: summary, changed: summary.calls > 0 || remember.length > 0, durable: true };
    });
  }

  /** This ledger's identity in exports (made on first use). */
  private async ledgerId(): Promise<string> {
    const read = () => this.db.all("SELECT value FROM meta WHERE key = 'ledger_id'", [])[0]?.value;
    const existing = await this.db.read(read);
    if (existing !== undefined && existing !== null) return String(existing);
    return this.db.mutate(() => {
      const again = read();
      if (again !== undefined && again !== null) return { result: String(again), changed: false };
      const id = randomUUID();
      this.db.run("INSERT INTO meta VALUES ('ledger_id', ?)", [id]);
      return { result: id, changed: true, durable: true };
    });
  }

  // ---- quota arithmetic ----------------------------------------------------------------------------------

  /**
   * A reservation and its budget holds (`<id>#<counter>`), as one index range: from "<id>" to "<id>$" in SQLite's
   * byte order. Reservation ids are UUIDs, whose characters all sort after "$", so no other reservation's rows
   * fall in it.
   */
  private deleteReservation(id: string): void {
    this.db.run('DELETE FROM reservations WHERE id >= ? AND id < ?', [id, `${id}$`]);
  }

  private budgetStateOf(budget: ResolvedBudget, now: number): QuotaState {
    const monthStart = windowBounds('month', 'UTC', now).startMs;
    // The global budget is the month's whole spend, as budget_usd_month always counted it.
    const used = budget.scope === 'global'
      ? Number(this.db.all('SELECT usd FROM spend WHERE month = ?', [utcMonth(now)])[0]?.usd ?? 0)
      : this.usedIn(budget.counter, 'usd', 'month', 'UTC', monthStart);
    return budgetState(budget, used, Number(this.held(budget.counter, now).usd ?? 0), now);
  }

  private windowKey(rule: QuotaRule, now: number): { win: QuotaWindow; tz: string; startMs: number; resetAtMs: number } {
    // Minutes are the same in every zone: one counter, whatever reset_tz says.
    const tz = ruleZone(rule);
    const b = this.windows.bounds(rule.window, tz, now);
    return { win: rule.window, tz, startMs: b.startMs, resetAtMs: b.resetAtMs };
  }

  private usedIn(providerId: string, metric: QuotaMetric, win: QuotaWindow, tz: string, startMs: number): number {
    const row = this.db.all('SELECT used FROM usage WHERE provider = ? AND metric = ? AND win = ? AND tz = ? AND start_ms = ?', [providerId, metric, win, tz, startMs])[0];
    return Number(row?.used ?? 0);
  }

  private states(providerId: string, rules: QuotaRule[], now: number): QuotaState[] {
    if (!rules.length) return [];
    return this.statesRead(providerId, rules, now, false).states;
  }

  /** The states, plus (settling) the circuit row and call span the settlement needs, in one statement. */
  private statesRead(providerId: string, rules: QuotaRule[], now: number, settling: boolean): { states: QuotaState[]; row: Record<string, SqlValue> } {
    const keys = rules.map((rule) => this.windowKey(rule, now));
    const params: SqlValue[] = [];
    rules.forEach((rule, i) => params.push(providerId, rule.metric, keys[i]!.win, keys[i]!.tz, keys[i]!.startMs));
    if (settling) params.push(providerId);
    params.push(providerId, now);
    const row = this.db.all(statesSql(rules.length, settling), params)[0]!;
    const states = rules.map((rule, i) => {
      const { startMs, resetAtMs } = keys[i]!;
      return quotaState(rule, Number(row[`used${i}`] ?? 0), Number(row[rule.metric] ?? 0), startMs, resetAtMs);
    });
    return { states, row };
  }

  private held(providerId: string, now: number): Record<string, SqlValue> {
    return this.db.all(
      `SELECT COALESCE(SUM(requests),0) AS requests, COALESCE(SUM(input_chars),0) AS input_chars,
              COALESCE(SUM(tokens),0) AS tokens, COALESCE(SUM(usd),0) AS usd
       FROM reservations WHERE provider = ? AND expires_ms > ?`,
      [providerId, now],
    )[0]!;
  }

  /** Keeps the call rows near maxCallRows on every settle (in batches, so most settles only count). */
  private capCallRows(spanRead?: number): void {
    const most = this.maxCallRows + Math.max(10, this.maxCallRows / 10);
    // The rowid span bounds the count from above and costs two index seeks where count(*) reads every row.
    const span = spanRead ?? Number(this.db.all('SELECT (SELECT max(rowid) FROM calls) - (SELECT min(rowid) FROM calls) + 1 AS n', [])[0]?.n ?? 0);
    if (span <= most) return;
    const rows = Number(this.db.all('SELECT count(*) AS n FROM calls', [])[0]?.n ?? 0);
    if (rows <= most) return;
    // id breaks ties so every process replaying this statement deletes the same rows.
    this.db.run('DELETE FROM calls WHERE id IN (SELECT id FROM calls ORDER BY ts_ms DESC, id DESC LIMIT -1 OFFSET ?)', [this.maxCallRows]);
  }

  private pruneIfDue(now: number): void {
    // pruned_at only moves forward: while the value last read is recent, no prune is due and nothing is read.
    if (now - this.prunedAtSeen < PRUNE_EVERY_MS) return;
    const last = Number(this.db.all("SELECT value FROM meta WHERE key = 'pruned_at'", [])[0]?.value ?? 0);
    this.prunedAtSeen = last;
    if (now - last < PRUNE_EVERY_MS) return;
    this.db.run("INSERT OR REPLACE INTO meta VALUES ('pruned_at', ?)", [String(now)]);
    const staleWindows = `(win = 'minute' AND start_ms < ?) OR (win = 'day' AND start_ms < ?) OR (win = 'month' AND start_ms < ?)`;
    const cutoffs = [now - 2 * 3_600_000, now - 40 * DAY_MS, now - 400 * DAY_MS];
    this.db.run(`DELETE FROM usage WHERE ${staleWindows}`, cutoffs);
    this.db.run(`DELETE FROM thresholds WHERE ${staleWindows}`, cutoffs);
    this.db.run('DELETE FROM calls WHERE ts_ms < ?', [now - this.callRetentionMs]);
    this.db.run('DELETE FROM cooldowns WHERE until_ms <= ?', [now]);
    this.db.run('DELETE FROM reservations WHERE expires_ms <= ?', [now]);
  }
}
