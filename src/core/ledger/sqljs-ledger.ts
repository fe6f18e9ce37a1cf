import fs from 'node:fs';
import path from 'node:path';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { Database, SqlJsStatic, SqlValue, Statement } from 'sql.js';
import { UserError } from '../errors';
import { switchboardHome } from '../paths';
import type { RateLimitInfo } from '../providers/types';
import { FileLock, removeOrphanTemps } from '../file-lock';
import { LOG_HEADER_BYTES, encodeLogHeader, encodeRecord, newLogId, parseLogHeader, scanRecords, type LoggedStatement } from './oplog';
import { SCHEMA_V1, SCHEMA_VERSION } from './schema';
import { loadSqlJs } from './sqljs';
import { systemClock } from './types';
import type {
  Amounts, CallRecord, CircuitState, Clock, Cooldown, Ledger, QuotaMetric, QuotaRule, QuotaState, QuotaWindow,
  ReserveOutcome, ReserveRequest, SpendSummary, ThresholdEvent,
} from './types';
import { WindowCache, assertTimeZone } from './windows';

/**
 * The quota ledger every Switchboard process shares: a sql.js snapshot at $SWITCHBOARD_HOME/ledger.sqlite plus
 * an append-only operation log beside it (`ledger.sqlite.log`, format in oplog.ts).
 *
 * sql.js keeps the database in memory. Each change: take the cross-process lock, catch up (reload the snapshot
 * only if another process replaced it — a generation number in the SQLite header's change counter — then
 * replay the log records past our offset), run the change in a transaction while recording the SQL it runs,
 * append that as one self-checking record (fdatasync'ed when the change must be durable), release. A process
 * catches up with others by reading only the log bytes past its offset; a stat tells whether there are any.
 *
 * Compaction (log over `compactLogBytes`, and on open/close): the lock holder writes a new snapshot (temp file,
 * fdatasync, rename, directory fsync) whose meta names a fresh log id and the id of the log it folded in, then
 * removes that log. The next change starts the new log. Crash points:
 * - before the rename: the old snapshot and log stand; the temp file is removed by the next breaker of our lock.
 * - after the rename, before the log is removed: the log's header carries the folded-in id (meta prev_log_id),
 *   so every process ignores it (replaying it again would count twice) and the next lock holder removes it.
 * - a reader that holds an offset into a log that was folded in: the log is gone or another inode and the
 *   snapshot's generation changed, so it reloads the snapshot.
 * - a reader killed mid-catch-up: readers write nothing.
 * A torn last record (writer killed mid-append) is ignored by everyone and truncated by the next lock holder;
 * a damaged record with data after it is set aside with a warning, keeping the records before it.
 *
 * Reads take no lock: they catch up and use the in-memory copy.
 */

export interface LedgerWarning {
  code: 'ledger_corrupt';
  message: string;
  file: string;
  setAsideAs: string;
}

export interface SqlJsLedgerOptions {
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
  /**
   * The log is folded into a new snapshot once it is larger than both this many bytes and the snapshot (so the
   * files never take more than twice the snapshot, and a starting process replays at most that much).
   * Default 64 KiB; a call (reserve + settle) adds about 1.5 KB.
   */
  compactLogBytes?: number;
  /**
   * Called during a compaction after the new snapshot is in place and before the log it folded in is removed:
   * the one crash point that leaves both behind. For crash tests only.
   */
  onSnapshotWritten?: () => void;
  /** Told when the file was unreadable and set aside; core code never prints. */
  onWarning?: (warning: LedgerWarning) => void;
  lock?: { staleMs?: number; acquireTimeoutMs?: number };
}

/** What this instance has done, for tests and benchmarks. */
export interface LedgerStats {
  /** Full reads of the snapshot file. */
  snapshotLoads: number;
  /** Log records replayed from other processes' changes (or, after a reload, our own). */
  recordsApplied: number;
  /** Log records appended by this instance. */
  recordsAppended: number;
  /** Snapshots written by this instance (compactions, and the first file). */
  snapshotsWritten: number;
  /** Torn log tails this instance truncated as lock holder. */
  tornTailsTruncated: number;
  /** Bytes of the current log applied by this instance. */
  logOffset: number;
}

export function defaultLedgerPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(switchboardHome(env), 'ledger.sqlite');
}

const METRICS: QuotaMetric[] = ['requests', 'input_chars', 'tokens', 'usd'];
const NOMINAL_WINDOW_MS: Record<QuotaWindow, number> = { minute: 60_000, day: 86_400_000, month: 31 * 86_400_000 };
const DAY_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;
const HEADER_BYTES = 100;
/** How long open() and close() wait for the lock to fold the log in before leaving it for someone else. */
const FOLD_LOCK_WAIT_MS = 250;
/** SQLite header fields we keep our generation in: file change counter and version-valid-for (kept equal). */
const GEN_OFFSET = 24;
const GEN_VALID_OFFSET = 92;
/** Temp names only need to be unique within this process (the pid is in the name). */
let tempCounter = 0;

class CorruptLedger extends Error {}

/** A log record that cannot be read or replayed, with data after it: the log file was damaged. */
class CorruptLog extends Error {
  constructor(readonly at: number, reason: string) {
    super(`damaged at byte ${at}: ${reason}`);
  }
}

/** A log that continues neither the snapshot nor the one before it (its snapshot was set aside or deleted). */
class ForeignLog extends Error {}

interface Mutation<T> {
  result: T;
  /** Nothing to write when false (the transaction is rolled back). */
  changed: boolean;
  /** fdatasync the log record, so the change survives a power cut before the promise resolves. */
  durable?: boolean;
}

export class SqlJsLedger implements Ledger {
  readonly file: string;
  private readonly sql: SqlJsStatic;
  private readonly clock: Clock;
  private readonly lock: FileLock;
  private readonly windows = new WindowCache();
  private readonly thresholds: number[];
  private readonly circuitFailures: number;
  private readonly circuitOpenMs: number;
  private readonly reservationTtlMs: number;
  private readonly callRetentionMs: number;
  private readonly maxCallRows: number;
  private readonly onWarning: (warning: LedgerWarning) => void;
  private readonly compactLogBytes: number;
  private readonly onSnapshotWritten: () => void;
  private readonly logFile: string;
  private readonly statements = new Map<string, Statement>();
  private readonly columnNames = new WeakMap<Statement, string[]>();
  /** Each statement's text as logged (whitespace collapsed). */
  private readonly loggedSql = new Map<string, string>();
  private db: Database | undefined;
  /** Generation and inode of the snapshot `db` mirrors; gen null = there was no file. */
  private diskGen: number | null = null;
  private diskIno = 0;
  private diskSize = 0;
  /** The snapshot's stat when we last checked its generation. */
  private diskStat: fs.Stats | undefined;
  /** Open on the log (inode logFdIno) across operations: appends and catch-up need no open/close. */
  private logFd: number | undefined;
  private logFdIno = 0;
  /** The log's size at our last look; under the lock, bytes past logOffset are a torn tail. */
  private logSizeSeen = 0;
  /** The log the loaded snapshot continues with, and the one it already contains (meta log_id, prev_log_id). */
  private logId: string | null = null;
  private prevLogId: string | null = null;
  /** Inode of the log we have applied records from (0: none yet) and how many of its bytes. */
  private logIno = 0;
  private logOffset = 0;
  /** Statements run by the change in progress, to be logged when it commits. */
  private pending: LoggedStatement[] | undefined;
  private readonly counters: Omit<LedgerStats, 'logOffset'> = { snapshotLoads: 0, recordsApplied: 0, recordsAppended: 0, snapshotsWritten: 0, tornTailsTruncated: 0 };
  private dirFd: number | undefined;
  private checkedIntegrity = false;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(sql: SqlJsStatic, options: SqlJsLedgerOptions) {
    this.sql = sql;
    this.file = path.resolve(options.file ?? defaultLedgerPath());
    this.clock = options.clock ?? systemClock;
    this.lock = new FileLock(this.file, options.lock);
    this.thresholds = [...(options.thresholds ?? [0.8, 0.95, 1])].sort((a, b) => a - b);
    this.circuitFailures = options.circuitFailures ?? 5;
    this.circuitOpenMs = options.circuitOpenMs ?? 60_000;
    this.reservationTtlMs = options.reservationTtlMs ?? 600_000;
    this.callRetentionMs = options.callRetentionMs ?? 90 * DAY_MS;
    this.maxCallRows = options.maxCallRows ?? 200;
    this.onWarning = options.onWarning ?? (() => undefined);
    this.compactLogBytes = options.compactLogBytes ?? 64 * 1024;
    this.onSnapshotWritten = options.onSnapshotWritten ?? (() => undefined);
    this.logFile = `${this.file}.log`;
  }

  /** Opens (or starts) the ledger; an unreadable file is set aside and reported through onWarning. */
  static async open(options: SqlJsLedgerOptions = {}): Promise<SqlJsLedger> {
    const ledger = new SqlJsLedger(await loadSqlJs(), options);
    try {
      fs.mkdirSync(path.dirname(ledger.file), { recursive: true });
      await ledger.read(() => undefined);
      // A process that died without close() left its log: fold it in now, so later starters need not replay it.
      await ledger.foldLog();
    } catch (err) {
      throw unusableLedger(err, ledger.file);
    }
    return ledger;
  }

  stats(): LedgerStats {
    return { ...this.counters, logOffset: this.logOffset };
  }

  // ---- Ledger --------------------------------------------------------------------------------------------

  async reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    request.rules.forEach(checkRule);
    const amounts = withRequest(request.amounts);
    return this.mutate<ReserveOutcome>((now) => {
      const states = this.states(request.providerId, request.rules, now);
      let blocking: QuotaState | undefined;
      for (const s of states) {
        const need = amounts[s.rule.metric] ?? 0;
        if (s.used + s.reserved + need > s.rule.limit + 1e-9 * Math.max(1, s.rule.limit)) {
          // The latest reset is the one that decides when this call could go ahead.
          if (!blocking || s.resetAtMs > blocking.resetAtMs) blocking = s;
        }
      }
      if (blocking) return { result: { ok: false, blocking, states }, changed: false };
      const id = randomUUID();
      const ttl = request.ttlMs ?? this.reservationTtlMs;
      this.run('DELETE FROM reservations WHERE expires_ms <= ?', [now]);
      this.run('INSERT INTO reservations VALUES (?,?,?,?,?,?,?,?)', [
        id, request.providerId, amounts.requests ?? 0, amounts.input_chars ?? 0, amounts.tokens ?? 0, amounts.usd ?? 0, now, now + ttl,
      ]);
      return { result: { ok: true, reservationId: id, states: this.withHeldAgain(states, request.providerId, now) }, changed: true };
    });
  }

  async settle(reservationId: string, rules: QuotaRule[], record: CallRecord): Promise<{ events: ThresholdEvent[]; states: QuotaState[] }> {
    rules.forEach(checkRule);
    const callId = record.callId ?? reservationId;
    return this.mutate((now) => {
      this.run('DELETE FROM reservations WHERE id = ?', [reservationId]);
      const releasedReservation = this.db!.getRowsModified() > 0;
      if (this.all('SELECT 1 FROM calls WHERE id = ?', [callId]).length) {
        // Already recorded (a retry after a crash or a lost reply): count it once.
        return { result: { events: [], states: this.states(record.providerId, rules, now) }, changed: releasedReservation, durable: true };
      }
      this.run('INSERT INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?)', [
        callId, now, record.providerId, record.model, record.tier, record.task ?? null, record.actor ?? null, record.ok ? 1 : 0,
        record.inputTokens, record.outputTokens, record.costUsd, record.baselineUsd,
      ]);
      const used = settledAmounts(record);
      const seen = new Set<string>();
      for (const rule of rules) {
        const { win, tz, startMs } = this.windowKey(rule, now);
        const key = `${rule.metric}|${win}|${tz}`;
        if (seen.has(key)) continue; // two rules on the same counter (different limits) share one usage row
        seen.add(key);
        this.run(
          `INSERT INTO usage VALUES (?,?,?,?,?,?)
           ON CONFLICT (provider, metric, win, tz, start_ms) DO UPDATE SET used = used + excluded.used`,
          [record.providerId, rule.metric, win, tz, startMs, used[rule.metric] ?? 0],
        );
      }
      this.run(
        `INSERT INTO spend VALUES (?, 1, ?, ?)
         ON CONFLICT (month) DO UPDATE SET calls = calls + 1, usd = usd + excluded.usd, baseline_usd = baseline_usd + excluded.baseline_usd`,
        [utcMonth(now), record.costUsd, record.baselineUsd],
      );
      const states = this.states(record.providerId, rules, now);
      const events: ThresholdEvent[] = [];
      for (const s of states) {
        const fraction = s.rule.limit > 0 ? s.used / s.rule.limit : s.used > 0 ? Infinity : 0;
        const { win, tz } = this.windowKey(s.rule, now);
        for (const threshold of this.thresholds) {
          if (fraction + 1e-12 < threshold) break;
          this.run('INSERT OR IGNORE INTO thresholds VALUES (?,?,?,?,?,?,?)', [record.providerId, s.rule.metric, win, tz, s.rule.limit, s.windowStartMs, threshold]);
          if (this.db!.getRowsModified() > 0) events.push({ providerId: record.providerId, rule: s.rule, threshold, fraction });
        }
      }
      this.pruneIfDue(now);
      this.capCallRows();
      return { result: { events, states }, changed: true, durable: true };
    });
  }

  async release(reservationId: string): Promise<void> {
    // Usually the reservation exists; when it already expired there is nothing to write.
    if (!(await this.read(() => this.all('SELECT 1 FROM reservations WHERE id = ?', [reservationId]).length > 0))) return;
    await this.mutate(() => {
      this.run('DELETE FROM reservations WHERE id = ?', [reservationId]);
      return { result: undefined, changed: this.db!.getRowsModified() > 0 };
    });
  }

  async quota(providerId: string, rules: QuotaRule[]): Promise<QuotaState[]> {
    rules.forEach(checkRule);
    return this.read((now) => this.states(providerId, rules, now));
  }

  async setCooldown(key: string, untilMs: number, reason: string): Promise<void> {
    await this.mutate((now) => {
      if (untilMs <= now) {
        this.run('DELETE FROM cooldowns WHERE key = ?', [key]);
      } else {
        // Several processes may cool the same key down; the longest wait wins (e.g. two Retry-After values).
        this.run(
          `INSERT INTO cooldowns VALUES (?,?,?)
           ON CONFLICT (key) DO UPDATE SET until_ms = excluded.until_ms, reason = excluded.reason WHERE excluded.until_ms > until_ms`,
          [key, untilMs, reason],
        );
      }
      return { result: undefined, changed: this.db!.getRowsModified() > 0 };
    });
  }

  async cooldown(key: string): Promise<Cooldown | undefined> {
    return this.read((now) => {
      const row = this.all('SELECT until_ms, reason FROM cooldowns WHERE key = ? AND until_ms > ?', [key, now])[0];
      return row ? { key, untilMs: Number(row.until_ms), reason: String(row.reason) } : undefined;
    });
  }

  async recordOutcome(providerId: string, ok: boolean): Promise<CircuitState> {
    if (ok) {
      // The common case, a success on a healthy provider, changes nothing: no lock, no write.
      const healthy = await this.read(() => this.all('SELECT 1 FROM circuits WHERE provider = ?', [providerId]).length === 0);
      if (healthy) return { state: 'closed' };
    }
    return this.mutate((now) => {
      if (ok) {
        this.run('DELETE FROM circuits WHERE provider = ?', [providerId]);
        return { result: { state: 'closed' }, changed: this.db!.getRowsModified() > 0 };
      }
      const row = this.all('SELECT failures, open_until_ms FROM circuits WHERE provider = ?', [providerId])[0];
      const failures = Number(row?.failures ?? 0) + 1;
      let openUntil = row?.open_until_ms == null ? null : Number(row.open_until_ms);
      if (openUntil !== null && openUntil <= now) openUntil = now + this.circuitOpenMs; // the half-open trial failed
      else if (openUntil === null && failures >= this.circuitFailures) openUntil = now + this.circuitOpenMs;
      this.run('INSERT OR REPLACE INTO circuits VALUES (?,?,?)', [providerId, failures, openUntil]);
      return { result: circuitOf(openUntil, now), changed: true };
    });
  }

  async circuit(providerId: string): Promise<CircuitState> {
    return this.read((now) => {
      const row = this.all('SELECT open_until_ms FROM circuits WHERE provider = ?', [providerId])[0];
      return circuitOf(row?.open_until_ms == null ? null : Number(row.open_until_ms), now);
    });
  }

  async reconcile(providerId: string, rules: QuotaRule[], info: RateLimitInfo): Promise<void> {
    rules.forEach(checkRule);
    const reports: Array<{ metric: QuotaMetric; limit?: number; remaining?: number; resetMs?: number }> = [
      { metric: 'requests', limit: info.limitRequests, remaining: info.remainingRequests, resetMs: info.resetRequestsMs },
      { metric: 'tokens', limit: info.limitTokens, remaining: info.remainingTokens, resetMs: info.resetTokensMs },
    ];
    const targets = reports.flatMap((r) => {
      if (r.remaining === undefined || !Number.isFinite(r.remaining)) return [];
      const rule = ruleForReport(rules.filter((q) => q.metric === r.metric), r.limit, r.resetMs);
      return rule ? [{ rule, remaining: Math.max(0, r.remaining) }] : [];
    });
    if (!targets.length) return;
    await this.mutate((now) => {
      let changed = false;
      for (const { rule, remaining } of targets) {
        const { win, tz, startMs } = this.windowKey(rule, now);
        const used = this.usedIn(providerId, rule.metric, win, tz, startMs);
        // The provider saw fewer left than we count: believe it (never the other way, which could overrun).
        const floor = rule.limit - remaining;
        if (floor > used + 1e-9) {
          this.run(
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
    return this.read((now) => {
      const month = utcMonth(now);
      const row = this.all('SELECT calls, usd, baseline_usd FROM spend WHERE month = ?', [month])[0];
      return { month, calls: Number(row?.calls ?? 0), usd: Number(row?.usd ?? 0), baselineUsd: Number(row?.baseline_usd ?? 0) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // At rest the ledger is then one plain SQLite file, readable by any tool.
    await this.foldLog();
    if (this.closed) return;
    this.closed = true;
    this.dropDb();
    if (this.dirFd !== undefined) {
      fs.closeSync(this.dirFd);
      this.dirFd = undefined;
    }
  }

  // ---- quota arithmetic ----------------------------------------------------------------------------------

  private windowKey(rule: QuotaRule, now: number): { win: QuotaWindow; tz: string; startMs: number; resetAtMs: number } {
    // Minutes are the same in every zone: one counter, whatever reset_tz says.
    const tz = rule.window === 'minute' ? 'UTC' : rule.reset_tz ?? 'UTC';
    const b = this.windows.bounds(rule.window, tz, now);
    return { win: rule.window, tz, startMs: b.startMs, resetAtMs: b.resetAtMs };
  }

  private usedIn(providerId: string, metric: QuotaMetric, win: QuotaWindow, tz: string, startMs: number): number {
    const row = this.all('SELECT used FROM usage WHERE provider = ? AND metric = ? AND win = ? AND tz = ? AND start_ms = ?', [providerId, metric, win, tz, startMs])[0];
    return Number(row?.used ?? 0);
  }

  private states(providerId: string, rules: QuotaRule[], now: number): QuotaState[] {
    if (!rules.length) return [];
    const held = this.held(providerId, now);
    return rules.map((rule) => {
      const { win, tz, startMs, resetAtMs } = this.windowKey(rule, now);
      return quotaState(rule, this.usedIn(providerId, rule.metric, win, tz, startMs), Number(held[rule.metric] ?? 0), startMs, resetAtMs);
    });
  }

  /** `states` after a change to reservations only: usage is unchanged, so only the held sums are read again. */
  private withHeldAgain(states: QuotaState[], providerId: string, now: number): QuotaState[] {
    if (!states.length) return [];
    const held = this.held(providerId, now);
    return states.map((s) => quotaState(s.rule, s.used, Number(held[s.rule.metric] ?? 0), s.windowStartMs, s.resetAtMs));
  }

  private held(providerId: string, now: number): Record<string, SqlValue> {
    return this.all(
      `SELECT COALESCE(SUM(requests),0) AS requests, COALESCE(SUM(input_chars),0) AS input_chars,
              COALESCE(SUM(tokens),0) AS tokens, COALESCE(SUM(usd),0) AS usd
       FROM reservations WHERE provider = ? AND expires_ms > ?`,
      [providerId, now],
    )[0]!;
  }

  /** Keeps the call rows near maxCallRows on every settle (in batches, so most settles only count). */
  private capCallRows(): void {
    const rows = Number(this.all('SELECT count(*) AS n FROM calls', [])[0]?.n ?? 0);
    if (rows <= this.maxCallRows + Math.max(10, this.maxCallRows / 10)) return;
    // id breaks ties so every process replaying this statement deletes the same rows.
    this.run('DELETE FROM calls WHERE id IN (SELECT id FROM calls ORDER BY ts_ms DESC, id DESC LIMIT -1 OFFSET ?)', [this.maxCallRows]);
  }

  private pruneIfDue(now: number): void {
    const last = Number(this.all("SELECT value FROM meta WHERE key = 'pruned_at'", [])[0]?.value ?? 0);
    if (now - last < PRUNE_EVERY_MS) return;
    this.run("INSERT OR REPLACE INTO meta VALUES ('pruned_at', ?)", [String(now)]);
    const staleWindows = `(win = 'minute' AND start_ms < ?) OR (win = 'day' AND start_ms < ?) OR (win = 'month' AND start_ms < ?)`;
    const cutoffs = [now - 2 * 3_600_000, now - 40 * DAY_MS, now - 400 * DAY_MS];
    this.run(`DELETE FROM usage WHERE ${staleWindows}`, cutoffs);
    this.run(`DELETE FROM thresholds WHERE ${staleWindows}`, cutoffs);
    this.run('DELETE FROM calls WHERE ts_ms < ?', [now - this.callRetentionMs]);
    this.run('DELETE FROM cooldowns WHERE until_ms <= ?', [now]);
    this.run('DELETE FROM reservations WHERE expires_ms <= ?', [now]);
  }

  // ---- file sharing --------------------------------------------------------------------------------------

  /** Runs fn on an up-to-date copy without the lock (snapshots are replaced whole; log records self-check). */
  private async read<T>(fn: (now: number) => T): Promise<T> {
    this.assertOpen();
    try {
      this.refresh(false);
    } catch (err) {
      if (!isRecoverable(err)) throw err;
      // Setting a file aside needs the lock: another process may be doing the same.
      await this.mutate(() => ({ result: undefined, changed: false }));
    }
    return fn(this.clock());
  }

  /** Changes from this instance run one at a time (the file lock is per instance, not re-entrant). */
  private mutate<T>(fn: (now: number) => Mutation<T>): Promise<T> {
    const run = this.queue.then(() => this.mutateLocked(fn));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async mutateLocked<T>(fn: (now: number) => Mutation<T>): Promise<T> {
    this.assertOpen();
    await this.lock.acquire();
    try {
      return this.applyRecovering(() => this.apply(fn));
    } finally {
      this.lock.release();
    }
  }

  /** Under the lock: runs step, setting damaged or orphaned files aside (with a warning) and trying again. */
  private applyRecovering<T>(step: () => T): T {
    for (let attempt = 0; ; attempt++) {
      try {
        return step();
      } catch (err) {
        if (!isRecoverable(err) || attempt >= 3) throw err;
        if (err instanceof CorruptLog) this.setAsideLog(err);
        else if (err instanceof ForeignLog) this.setAsideOrphanLog(err.message);
        else this.setAside(err instanceof CorruptLedger ? err.message : `SQLite: ${(err as Error).message}`);
      }
    }
  }

  private apply<T>(fn: (now: number) => Mutation<T>): T {
    this.refresh(true);
    const db = this.db!;
    this.pending = [];
    db.run('BEGIN');
    let out: Mutation<T>;
    try {
      out = fn(this.clock());
    } catch (err) {
      this.pending = undefined;
      db.run('ROLLBACK');
      throw err;
    }
    const statements = this.pending;
    this.pending = undefined;
    if (!out.changed) {
      db.run('ROLLBACK');
      return out.result;
    }
    db.run('COMMIT');
    try {
      // No snapshot yet (or one written before the log existed): the change goes into a first snapshot.
      if (this.diskGen === null || this.logId === null) this.writeSnapshot();
      else this.append(statements, out.durable === true);
    } catch (err) {
      // Memory is now ahead of the files: forget it so the next operation starts from what is on disk.
      this.dropDb();
      throw err;
    }
    if (this.logOffset >= Math.max(this.compactLogBytes, this.diskSize)) this.compactQuietly();
    return out.result;
  }

  /**
   * Open and close: fold a leftover log into the snapshot. Best effort — when the lock is busy, whoever holds
   * it keeps the log going, and a failure leaves a log that is as good as a snapshot.
   */
  private async foldLog(): Promise<void> {
    if (this.closed || !fs.existsSync(this.logFile)) return;
    const run = this.queue.then(async () => {
      if (this.closed || !(await this.lock.acquireWithin(FOLD_LOCK_WAIT_MS))) return;
      try {
        this.applyRecovering(() => {
          this.refresh(true);
          if (fs.existsSync(this.logFile)) this.writeSnapshot();
        });
      } catch {
        this.dropDb();
      } finally {
        this.lock.release();
      }
    });
    this.queue = run.catch(() => undefined);
    await this.queue;
  }

  private compactQuietly(): void {
    try {
      this.writeSnapshot();
    } catch {
      // The log still holds everything: the next change tries again. Memory may have the new log id: reload.
      this.dropDb();
    }
  }

  /**
   * Makes `db` mirror the files: the snapshot (reloaded only when its generation or inode changed), then the
   * log records past our offset. The lock holder (`holder`) also clears away a log a crashed compaction left.
   */
  private refresh(holder: boolean): void {
    for (let attempt = 0; ; attempt++) {
      this.refreshSnapshot();
      const outcome = this.catchUp(holder);
      if (outcome === 'done') return;
      // The log and our copy disagree. Usually a compaction replaced both between our two looks: reload the
      // snapshot from scratch and look again; still disagreeing after that, the log belongs to no snapshot.
      if (attempt >= 2) throw new ForeignLog(`its log ${path.basename(this.logFile)} continues neither the snapshot nor the one before it`);
      this.dropDb();
    }
  }

  /** Reads the snapshot file when its generation or inode changed since we loaded it. */
  private refreshSnapshot(): void {
    // The usual case costs one stat: same inode, size and times as when we last looked.
    const seen = fs.statSync(this.file, { throwIfNoEntry: false });
    if (seen && this.db && this.diskGen !== null && sameFile(seen, this.diskStat)) return;
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (!this.db || this.diskGen !== null) this.useDb(this.freshDb(), null, 0);
      return;
    }
    try {
      const st = fs.fstatSync(fd);
      const header = Buffer.alloc(HEADER_BYTES);
      const n = st.size >= HEADER_BYTES ? fs.readSync(fd, header, 0, HEADER_BYTES, 0) : 0;
      const gen = n === HEADER_BYTES ? header.readUInt32BE(GEN_OFFSET) : -1;
      // Times alone changed (a rename updates ctime, a touch mtime): the generation says whether content did.
      if (this.db && gen === this.diskGen && st.ino === this.diskIno) {
        this.diskStat = st;
        return;
      }
      const bytes = readAll(fd, 0, st.size);
      this.useDb(this.openBytes(bytes), gen, st.ino);
      this.diskSize = bytes.length;
      this.diskStat = st;
      this.counters.snapshotLoads++;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Applies the log records past our offset. 'stale' when the log is not the one our copy continues. */
  private catchUp(holder: boolean): 'done' | 'stale' {
    const st = fs.statSync(this.logFile, { throwIfNoEntry: false });
    if (!st) {
      this.closeLogFd();
      // No log: nothing to add, unless we applied records from one that was folded in since (reload).
      return this.logIno === 0 ? 'done' : 'stale';
    }
    if (this.logIno !== 0) {
      if (st.ino !== this.logIno || st.size < this.logOffset) return 'stale';
      this.logSizeSeen = st.size;
      if (st.size === this.logOffset) return 'done'; // the usual case: one stat, nothing new
    }
    const fd = this.logHandle(st.ino);
    if (fd === undefined) return 'stale'; // replaced between the stat and the open
    if (this.logIno === 0) {
      // A log we have not read yet: its header says which snapshot it continues.
      const id = parseLogHeader(readAll(fd, 0, Math.min(st.size, LOG_HEADER_BYTES)));
      if (id === undefined) {
        if (st.size >= LOG_HEADER_BYTES) throw new CorruptLog(0, 'not a ledger log (bad header)');
        // Shorter than a header: its creator is writing it (header and first record go in one write), or died
        // doing so before anything was acknowledged.
        if (holder) this.removeLog();
        return 'done';
      }
      if (id === this.prevLogId) {
        // A compaction folded this log in and died before removing it: never replay it (it would count twice).
        if (holder) this.removeLog();
        return 'done';
      }
      if (id !== this.logId) return 'stale';
      this.logIno = st.ino;
      this.logOffset = LOG_HEADER_BYTES;
    }
    this.logSizeSeen = st.size;
    const { records, stop } = scanRecords(readAll(fd, this.logOffset, st.size), this.logOffset);
    for (const record of records) {
      this.replay(record.statements, record.offset);
      this.logOffset = record.end;
    }
    // A torn tail is left where it is: the next append by a lock holder truncates it.
    if (stop.kind === 'damaged') throw new CorruptLog(stop.at, stop.reason);
    return 'done';
  }

  /** The open log, if the file at its path is still inode `ino`. */
  private logHandle(ino: number): number | undefined {
    if (this.logFd !== undefined && this.logFdIno === ino) return this.logFd;
    this.closeLogFd();
    let fd: number;
    try {
      fd = fs.openSync(this.logFile, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (fs.fstatSync(fd).ino !== ino) {
      fs.closeSync(fd);
      return undefined;
    }
    this.logFd = fd;
    this.logFdIno = ino;
    return fd;
  }

  private closeLogFd(): void {
    if (this.logFd === undefined) return;
    try {
      fs.closeSync(this.logFd);
    } catch {
      // already closed: nothing to release
    }
    this.logFd = undefined;
    this.logFdIno = 0;
  }

  private removeLog(): void {
    this.closeLogFd();
    unlinkQuiet(this.logFile);
  }

  private replay(statements: LoggedStatement[], offset: number): void {
    const db = this.db!;
    db.run('BEGIN');
    try {
      for (const [sql, params] of statements) this.stmt(sql).run(params);
    } catch (err) {
      db.run('ROLLBACK');
      // Good checksum but the statements do not apply: this copy and the log's writer disagree.
      throw new CorruptLog(offset, `record does not replay: ${(err as Error).message}`);
    }
    db.run('COMMIT');
    this.counters.recordsApplied++;
  }

  /**
   * Appends one change to the log. Only durable changes (settle) are fdatasync'ed. Skipping it for the others
   * is safe: an unsynced record survives the death of its process (it is in the page cache) and is lost only
   * with the machine. Then a lost reservation is harmless — its call died with the machine, and it would
   * only have expired — and so are a lost release (the quota comes back at the reservation's TTL), cooldown,
   * circuit step or reconcile (the provider answers 429 again, or reports again). A record that reached the disk
   * only in part fails its length or checksum and, being last, is dropped as a torn tail. Records written after
   * the last fdatasync are the only ones a crash can damage, since fdatasync flushes every earlier write too.
   */
  private append(statements: LoggedStatement[], durable: boolean): void {
    const record = encodeRecord(statements);
    this.assertLockHeld();
    if (this.logIno === 0) {
      // First change since the snapshot: create the log, header and record in one write.
      const bytes = Buffer.concat([encodeLogHeader(this.logId!), record]);
      this.closeLogFd();
      const fd = fs.openSync(this.logFile, 'wx+');
      let ino: number;
      try {
        writeAll(fd, bytes, 0);
        if (durable) fs.fdatasyncSync(fd);
        ino = fs.fstatSync(fd).ino;
      } catch (err) {
        fs.closeSync(fd);
        unlinkQuiet(this.logFile);
        throw err;
      }
      this.logFd = fd;
      this.logFdIno = ino;
      // Always: a durable record appended to this log later is only as durable as the log's name.
      this.syncDir();
      this.logIno = ino;
      this.logOffset = bytes.length;
    } else {
      const fd = this.logHandle(this.logIno);
      if (fd === undefined) throw new Error('the quota ledger log was replaced while this process held the lock');
      if (this.logSizeSeen > this.logOffset) {
        // A torn record left by a writer that was killed: never acknowledged, so it goes.
        fs.ftruncateSync(fd, this.logOffset);
        this.counters.tornTailsTruncated++;
      }
      try {
        writeAll(fd, record, this.logOffset);
        if (durable) fs.fdatasyncSync(fd);
      } catch (err) {
        // Take back what may have been written, so no process counts a change its caller was told failed.
        try {
          fs.ftruncateSync(fd, this.logOffset);
        } catch {
          // the next lock holder truncates it as a torn tail, or reads a whole record the caller may retry
        }
        throw err;
      }
      this.logOffset += record.length;
    }
    this.logSizeSeen = this.logOffset;
    this.counters.recordsAppended++;
  }

  /**
   * Writes `db` as the new snapshot and removes the log it folds in (see the crash points at the top).
   * Always durable: once the log is removed, the snapshot is the only copy of its records.
   */
  private writeSnapshot(): void {
    const db = this.db!;
    const nextLogId = newLogId();
    const prevLogId = this.logId ?? '';
    db.run("INSERT OR REPLACE INTO meta VALUES ('log_id', ?)", [nextLogId]);
    db.run("INSERT OR REPLACE INTO meta VALUES ('prev_log_id', ?)", [prevLogId]);
    db.run("INSERT INTO meta VALUES ('compactions', '1') ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1");
    const bytes = db.export();
    const gen = nextGen(this.diskGen);
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.writeUInt32BE(gen, GEN_OFFSET);
    view.writeUInt32BE(gen, GEN_VALID_OFFSET);
    if (this.diskGen === null) removeOrphanTemps(this.file); // first write by us: clear leftovers of dead writers
    const tmp = `${this.file}.tmp-${process.pid}-${(++tempCounter).toString(16)}`;
    const fd = fs.openSync(tmp, 'wx');
    let ino: number;
    try {
      writeAll(fd, view, 0);
      fs.fdatasyncSync(fd);
      ino = fs.fstatSync(fd).ino;
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    try {
      this.assertLockHeld();
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    renameReplacing(tmp, this.file);
    // Before the log goes: a power cut must not bring back the old snapshot without the log.
    this.syncDir();
    this.diskGen = gen;
    this.diskIno = ino;
    this.diskSize = view.length;
    this.logId = nextLogId;
    this.prevLogId = prevLogId || null;
    this.logIno = 0;
    this.logOffset = 0;
    this.diskStat = undefined;
    this.counters.snapshotsWritten++;
    this.onSnapshotWritten();
    // If this removal fails or is lost (crash, power cut), the log's header names prev_log_id: everyone ignores
    // it and the next lock holder removes it. The change itself is safe in the snapshot already.
    try {
      this.removeLog();
    } catch {
      // e.g. EPERM on Windows while another process reads it
    }
  }

  private assertLockHeld(): void {
    // We stalled past the stale limit and another process took over: writing now could lose its update.
    if (!this.lock.stillHeld()) throw new Error('the quota ledger lock was taken over while this process was stalled; the change was not written');
  }

  private openBytes(bytes: Buffer): Database {
    const problem = headerProblem(bytes);
    if (problem) throw new CorruptLedger(problem);
    let db: Database | undefined;
    try {
      db = new this.sql.Database(bytes);
      const version = Number(db.exec('PRAGMA user_version')[0]?.values[0]?.[0] ?? 0);
      if (version > SCHEMA_VERSION) {
        throw new UserError(
          `The quota ledger ${this.file} was written by a newer Switchboard (schema ${version}, this one knows ${SCHEMA_VERSION}); update Switchboard.`,
          'ledger_newer',
        );
      }
      const tables = Number(db.exec("SELECT count(*) FROM sqlite_master WHERE type = 'table'")[0]?.values[0]?.[0] ?? 0);
      if (version === 0) {
        if (tables > 0) throw new CorruptLedger('not a Switchboard ledger (no schema version)');
        db.exec(SCHEMA_V1);
      }
      if (!this.checkedIntegrity) {
        // Once per process: a full check costs about as much as reading the file, too much for every reload.
        const check = String(db.exec('PRAGMA quick_check')[0]?.values[0]?.[0] ?? '');
        if (check !== 'ok') throw new CorruptLedger(`integrity check failed: ${check}`);
        this.checkedIntegrity = true;
      }
      return db;
    } catch (err) {
      db?.close();
      if (isSqliteCorruption(err)) throw new CorruptLedger(`SQLite: ${(err as Error).message}`);
      throw err;
    }
  }

  private freshDb(): Database {
    const db = new this.sql.Database();
    // Small pages: the ledger is tens of small tables and indexes, each taking at least one page, and every
    // process reads the whole file after each compaction.
    db.exec(`PRAGMA page_size = 1024; ${SCHEMA_V1}`);
    return db;
  }

  private useDb(db: Database, gen: number | null, ino: number): void {
    this.dropDb();
    // The copy's rollback journal only needs to serve this process (the files are the log and the snapshot).
    // No other connection ever opens the copy, so exclusive locking is safe; it spares SQLite re-reading its
    // file's header to detect other writers before every statement, which cost more than the statements did.
    db.exec('PRAGMA journal_mode = MEMORY; PRAGMA locking_mode = EXCLUSIVE');
    this.db = db;
    this.diskGen = gen;
    this.diskIno = ino;
    const meta = new Map((db.exec("SELECT key, value FROM meta WHERE key IN ('log_id', 'prev_log_id')")[0]?.values ?? []).map((r) => [String(r[0]), String(r[1])]));
    // A snapshot from before the log has no log_id: its first change writes a snapshot that starts one.
    this.logId = meta.get('log_id') || null;
    this.prevLogId = meta.get('prev_log_id') || null;
  }

  private dropDb(): void {
    for (const s of this.statements.values()) s.free();
    this.statements.clear();
    this.db?.close();
    this.db = undefined;
    this.diskGen = null;
    this.diskIno = 0;
    this.logId = null;
    this.prevLogId = null;
    this.logIno = 0;
    this.logOffset = 0;
    this.logSizeSeen = 0;
    this.diskStat = undefined;
    this.closeLogFd();
  }

  /** Under the lock: move the unreadable snapshot out of the way (kept for inspection) and start afresh. */
  private setAside(reason: string): void {
    const stamp = asideStamp();
    const aside = asideName(`${this.file}.corrupt-${stamp}`);
    try {
      fs.renameSync(this.file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // Its log only makes sense on top of it: keep it beside it, out of the new ledger's way.
    const logAside = this.moveLogAside(`${this.logFile}.orphan-${stamp}`);
    this.useDb(this.freshDb(), null, 0);
    this.onWarning({
      code: 'ledger_corrupt',
      file: this.file,
      setAsideAs: aside,
      message:
        `The quota ledger ${this.file} could not be read (${reason}). It was set aside as ${path.basename(aside)}` +
        (logAside ? ` (its operation log as ${path.basename(logAside)})` : '') +
        ' and a new, empty ledger was started: quota used before now is not counted, so free-tier limits may be overrun until the windows reset.',
    });
  }

  /**
   * Under the lock, after the records before the damage were applied: keep a copy of the damaged log, write
   * them into a new snapshot (which removes the log) and say what was lost.
   */
  private setAsideLog(err: CorruptLog): void {
    if (!this.db) this.refreshSnapshot();
    const aside = asideName(`${this.logFile}.corrupt-${asideStamp()}`);
    try {
      fs.copyFileSync(this.logFile, aside);
    } catch (copyErr) {
      if ((copyErr as NodeJS.ErrnoException).code !== 'ENOENT') throw copyErr;
    }
    const kept = this.logOffset;
    this.writeSnapshot();
    this.onWarning({
      code: 'ledger_corrupt',
      file: this.logFile,
      setAsideAs: aside,
      message:
        `The quota ledger's operation log ${this.logFile} is ${err.message}. A copy was set aside as ${path.basename(aside)}; ` +
        `the changes before byte ${kept} were kept and those after it are not counted, so quota used in the last few calls may be missing.`,
    });
  }

  private setAsideOrphanLog(reason: string): void {
    const aside = this.moveLogAside(`${this.logFile}.orphan-${asideStamp()}`);
    this.dropDb();
    if (!aside) return;
    this.onWarning({
      code: 'ledger_corrupt',
      file: this.logFile,
      setAsideAs: aside,
      message:
        `The quota ledger ${this.file} does not match ${reason.replace(/^its /, 'the ')}: the snapshot was replaced or deleted by hand. ` +
        `The log was set aside as ${path.basename(aside)}; its changes are not counted.`,
    });
  }

  private moveLogAside(target: string): string | undefined {
    this.closeLogFd();
    const aside = asideName(target);
    try {
      fs.renameSync(this.logFile, aside);
      return aside;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return undefined;
    }
  }

  private syncDir(): void {
    if (process.platform === 'win32') return; // directories cannot be fsynced there; NTFS journals the rename
    this.dirFd ??= fs.openSync(path.dirname(this.file), 'r');
    fs.fsyncSync(this.dirFd);
  }

  private stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db!.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** Runs a changing statement, recording it for the log. */
  private run(sql: string, params: SqlValue[]): void {
    let logged = this.loggedSql.get(sql);
    if (logged === undefined) {
      logged = sql.replace(/\s+/g, ' ').trim();
      this.loggedSql.set(sql, logged);
    }
    this.stmt(logged).run(params);
    this.pending?.push([logged, params]);
  }

  private all(sql: string, params: SqlValue[]): Array<Record<string, SqlValue>> {
    const s = this.stmt(sql);
    try {
      s.bind(params);
      const rows: Array<Record<string, SqlValue>> = [];
      while (s.step()) {
        // getAsObject asks SQLite for the column names on every row; they are fixed per statement.
        let names = this.columnNames.get(s);
        if (!names) this.columnNames.set(s, (names = s.getColumnNames()));
        const values = s.get();
        const row: Record<string, SqlValue> = {};
        for (let i = 0; i < names.length; i++) row[names[i]!] = values[i] as SqlValue;
        rows.push(row);
      }
      return rows;
    } finally {
      s.reset();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('ledger is closed');
  }
}

function isRecoverable(err: unknown): boolean {
  return err instanceof CorruptLedger || err instanceof CorruptLog || err instanceof ForeignLog || isSqliteCorruption(err);
}

function asideStamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

function asideName(wanted: string): string {
  return fs.existsSync(wanted) ? `${wanted}-${randomBytes(3).toString('hex')}` : wanted;
}

function sameFile(a: fs.Stats, b: fs.Stats | undefined): boolean {
  return b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

function readAll(fd: number, from: number, to: number): Buffer {
  const bytes = Buffer.alloc(Math.max(0, to - from));
  let off = 0;
  while (off < bytes.length) {
    const got = fs.readSync(fd, bytes, off, bytes.length - off, from + off);
    if (got === 0) break;
    off += got;
  }
  return bytes.subarray(0, off);
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let off = 0;
  while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off, position + off);
}

function unlinkQuiet(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Every call is one request, whether or not the caller counted it. */
function withRequest(amounts: Amounts): Amounts {
  return { ...amounts, requests: amounts.requests ?? 1 };
}

/** What a settled call counts against each metric: explicit amounts first, then what the record implies. */
function settledAmounts(record: CallRecord): Amounts {
  return {
    requests: record.amounts.requests ?? 1,
    input_chars: record.amounts.input_chars ?? 0,
    tokens: record.amounts.tokens ?? record.inputTokens + record.outputTokens,
    usd: record.amounts.usd ?? record.costUsd,
  };
}

function checkRule(rule: QuotaRule): void {
  if (!METRICS.includes(rule.metric)) throw new UserError(`Unknown quota metric "${String(rule.metric)}" (use ${METRICS.join(', ')}).`, 'bad_quota');
  if (!(rule.window in NOMINAL_WINDOW_MS)) throw new UserError(`Unknown quota window "${String(rule.window)}" (use minute, day, month).`, 'bad_quota');
  if (!Number.isFinite(rule.limit) || rule.limit < 0) throw new UserError(`Quota limit must be a number ≥ 0, got ${String(rule.limit)}.`, 'bad_quota');
  if (rule.reset_tz) assertTimeZone(rule.reset_tz);
}

/**
 * Which of our rules a provider's rate-limit report describes: the one with the same limit, else the smallest
 * window long enough to contain the provider's reset, else (no hint) the smallest window — applying a
 * per-minute count to a daily rule would block the whole day.
 */
function ruleForReport(rules: QuotaRule[], limit: number | undefined, resetMs: number | undefined): QuotaRule | undefined {
  if (!rules.length) return undefined;
  const bySize = [...rules].sort((a, b) => NOMINAL_WINDOW_MS[a.window] - NOMINAL_WINDOW_MS[b.window]);
  if (limit !== undefined) {
    const same = bySize.find((r) => r.limit === limit);
    if (same) return same;
  }
  if (resetMs !== undefined) return bySize.find((r) => NOMINAL_WINDOW_MS[r.window] >= resetMs) ?? bySize[bySize.length - 1];
  return bySize[0];
}

function quotaState(rule: QuotaRule, used: number, reserved: number, windowStartMs: number, resetAtMs: number): QuotaState {
  const taken = used + reserved;
  return {
    rule, used, reserved,
    left: Math.max(0, rule.limit - taken),
    fraction: rule.limit > 0 ? taken / rule.limit : taken > 0 ? Infinity : 0,
    windowStartMs, resetAtMs,
  };
}

function circuitOf(openUntil: number | null, now: number): CircuitState {
  if (openUntil === null) return { state: 'closed' };
  return openUntil > now ? { state: 'open', untilMs: openUntil } : { state: 'half-open' };
}

function utcMonth(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

function nextGen(gen: number | null): number {
  // A new file starts at a random generation so a reader holding an older file's copy cannot match it by chance.
  const next = gen === null ? randomInt(1, 2 ** 31) : (gen + 1) >>> 0;
  return next === 0 ? 1 : next;
}

/** Cheap checks on the raw bytes that catch the usual damage (empty, foreign, cut short) before SQLite sees it. */
function headerProblem(bytes: Buffer): string | undefined {
  if (bytes.length === 0) return 'the file is empty (0 bytes)';
  if (bytes.length < HEADER_BYTES || bytes.toString('latin1', 0, 16) !== 'SQLite format 3\0') return 'not a SQLite database';
  const rawPageSize = bytes.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65_536 : rawPageSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return 'damaged header (page size)';
  if (bytes.length % pageSize !== 0) return `truncated (${bytes.length} bytes is not a whole number of ${pageSize}-byte pages)`;
  // The in-header page count is trustworthy only when version-valid-for matches the change counter.
  if (bytes.readUInt32BE(GEN_OFFSET) === bytes.readUInt32BE(GEN_VALID_OFFSET)) {
    const expected = bytes.readUInt32BE(28) * pageSize;
    if (expected > bytes.length) return `truncated (${bytes.length} of ${expected} bytes)`;
  }
  return undefined;
}

function isSqliteCorruption(err: unknown): boolean {
  return err instanceof Error && /malformed|not a database|corrupt|SQLITE_CORRUPT|SQLITE_NOTADB/i.test(err.message);
}

function renameReplacing(from: string, to: string): void {
  // Windows refuses to replace a file another process has open for a moment; retry briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      fs.renameSync(from, to);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (process.platform !== 'win32' || attempt >= 20 || !['EPERM', 'EACCES', 'EBUSY'].includes(code ?? '')) {
        fs.rmSync(from, { force: true });
        throw err;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/** A file-system error opening the ledger (a folder where the file goes, no permission …) as one plain line. */
function unusableLedger(err: unknown, file: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  const where = (err as NodeJS.ErrnoException)?.path ?? file;
  const why: Record<string, string> = {
    EISDIR: 'is a folder, not a file; move it away and try again',
    ENOTDIR: 'has a file where a folder should be in its path',
    EEXIST: 'is a file where a folder is needed; move it away and try again',
    EACCES: 'cannot be read or written (permission denied)',
    EPERM: 'cannot be read or written (operation not permitted)',
    EROFS: 'is on a read-only file system',
  };
  if (!code || !why[code]) return err;
  return new UserError(`cannot open the usage ledger: ${where} ${why[code]}`, 'ledger_unusable');
}
