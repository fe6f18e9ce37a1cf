import fs from 'node:fs';
import path from 'node:path';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { Database, SqlJsStatic, SqlValue, Statement } from 'sql.js';
import { UserError } from '../errors';
import { switchboardHome } from '../paths';
import type { RateLimitInfo } from '../providers/types';
import { FileLock, removeOrphanTemps } from './file-lock';
import { SCHEMA_V1, SCHEMA_VERSION } from './schema';
import { loadSqlJs } from './sqljs';
import { systemClock } from './types';
import type {
  Amounts, CallRecord, CircuitState, Clock, Cooldown, Ledger, QuotaMetric, QuotaRule, QuotaState, QuotaWindow,
  ReserveOutcome, ReserveRequest, SpendSummary, ThresholdEvent,
} from './types';
import { WindowCache, assertTimeZone } from './windows';

/**
 * The quota ledger every Switchboard process shares: a sql.js database at $SWITCHBOARD_HOME/ledger.sqlite.
 *
 * sql.js keeps the database in memory, so the file is the unit of sharing. Each change: take the cross-process
 * lock, reload the file only if another process replaced it since we last saw it (a generation number kept in
 * the SQLite header's change counter), apply the change in a transaction, export, write a temp file beside it,
 * fdatasync, rename over the ledger (fsyncing the directory when the change must be durable), release.
 * Reads use the in-memory copy while the file's generation is unchanged, and never take the lock.
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
   * At most this many call rows are kept (newest first). Default 200: every change exports and rewrites the
   * whole file, so its size is the ledger's main cost; totals live in aggregates, rows only serve idempotency
   * (a retried settle) and recent history.
   */
  maxCallRows?: number;
  /** Told when the file was unreadable and set aside; core code never prints. */
  onWarning?: (warning: LedgerWarning) => void;
  lock?: { staleMs?: number; acquireTimeoutMs?: number };
}

export function defaultLedgerPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(switchboardHome(env), 'ledger.sqlite');
}

const METRICS: QuotaMetric[] = ['requests', 'input_chars', 'tokens', 'usd'];
const NOMINAL_WINDOW_MS: Record<QuotaWindow, number> = { minute: 60_000, day: 86_400_000, month: 31 * 86_400_000 };
const DAY_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;
const HEADER_BYTES = 100;
/** SQLite header fields we keep our generation in: file change counter and version-valid-for (kept equal). */
const GEN_OFFSET = 24;
const GEN_VALID_OFFSET = 92;
/** Temp names only need to be unique within this process (the pid is in the name). */
let tempCounter = 0;

class CorruptLedger extends Error {}

interface Mutation<T> {
  result: T;
  /** Nothing to write when false (the transaction is rolled back). */
  changed: boolean;
  /** fsync the directory too, so the change survives a power cut before the promise resolves. */
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
  private readonly statements = new Map<string, Statement>();
  private db: Database | undefined;
  /** Generation and inode of the file `db` mirrors; gen null = there was no file. */
  private diskGen: number | null = null;
  private diskIno = 0;
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
  }

  /** Opens (or starts) the ledger; an unreadable file is set aside and reported through onWarning. */
  static async open(options: SqlJsLedgerOptions = {}): Promise<SqlJsLedger> {
    const ledger = new SqlJsLedger(await loadSqlJs(), options);
    fs.mkdirSync(path.dirname(ledger.file), { recursive: true });
    await ledger.read(() => undefined);
    return ledger;
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
      return { result: { ok: true, reservationId: id, states: this.states(request.providerId, request.rules, now) }, changed: true };
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
    const held = this.all(
      `SELECT COALESCE(SUM(requests),0) AS requests, COALESCE(SUM(input_chars),0) AS input_chars,
              COALESCE(SUM(tokens),0) AS tokens, COALESCE(SUM(usd),0) AS usd
       FROM reservations WHERE provider = ? AND expires_ms > ?`,
      [providerId, now],
    )[0]!;
    return rules.map((rule) => {
      const { win, tz, startMs, resetAtMs } = this.windowKey(rule, now);
      const used = this.usedIn(providerId, rule.metric, win, tz, startMs);
      const reserved = Number(held[rule.metric] ?? 0);
      const taken = used + reserved;
      return {
        rule, used, reserved,
        left: Math.max(0, rule.limit - taken),
        fraction: rule.limit > 0 ? taken / rule.limit : taken > 0 ? Infinity : 0,
        windowStartMs: startMs, resetAtMs,
      };
    });
  }

  /** Keeps the call rows near maxCallRows on every settle (in batches, so most settles only count). */
  private capCallRows(): void {
    const rows = Number(this.all('SELECT count(*) AS n FROM calls', [])[0]?.n ?? 0);
    if (rows <= this.maxCallRows + Math.max(10, this.maxCallRows / 10)) return;
    this.run('DELETE FROM calls WHERE id IN (SELECT id FROM calls ORDER BY ts_ms DESC LIMIT -1 OFFSET ?)', [this.maxCallRows]);
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

  /** Runs fn on an up-to-date copy without the lock (the file is only ever replaced whole, by rename). */
  private async read<T>(fn: (now: number) => T): Promise<T> {
    this.assertOpen();
    try {
      this.refresh();
    } catch (err) {
      if (!(err instanceof CorruptLedger)) throw err;
      // Setting the file aside needs the lock: another process may be doing the same.
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
      try {
        return this.apply(fn);
      } catch (err) {
        if (!(err instanceof CorruptLedger) && !isSqliteCorruption(err)) throw err;
        this.setAside(err instanceof CorruptLedger ? err.message : `SQLite: ${(err as Error).message}`);
        return this.apply(fn);
      }
    } finally {
      this.lock.release();
    }
  }

  private apply<T>(fn: (now: number) => Mutation<T>): T {
    this.refresh();
    const db = this.db!;
    db.run('BEGIN');
    let out: Mutation<T>;
    try {
      out = fn(this.clock());
    } catch (err) {
      db.run('ROLLBACK');
      throw err;
    }
    if (!out.changed) {
      db.run('ROLLBACK');
      return out.result;
    }
    db.run('COMMIT');
    try {
      this.persist(out.durable === true);
    } catch (err) {
      // Memory is now ahead of the file: forget it so the next operation starts from what is on disk.
      this.dropDb();
      throw err;
    }
    return out.result;
  }

  /** Makes `db` mirror the file, reading it only when its generation or inode changed. */
  private refresh(): void {
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
      if (this.db && gen === this.diskGen && st.ino === this.diskIno) return;
      const bytes = Buffer.alloc(st.size);
      let off = 0;
      while (off < st.size) {
        const got = fs.readSync(fd, bytes, off, st.size - off, off);
        if (got === 0) break;
        off += got;
      }
      this.useDb(this.openBytes(bytes.subarray(0, off)), gen, st.ino);
    } finally {
      fs.closeSync(fd);
    }
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
    // Small pages: the ledger is tens of small tables and indexes, each taking at least one page, and the whole
    // file is exported and written on every change.
    db.exec(`PRAGMA page_size = 1024; ${SCHEMA_V1}`);
    return db;
  }

  private useDb(db: Database, gen: number | null, ino: number): void {
    this.dropDb();
    this.db = db;
    this.diskGen = gen;
    this.diskIno = ino;
  }

  private dropDb(): void {
    for (const s of this.statements.values()) s.free();
    this.statements.clear();
    this.db?.close();
    this.db = undefined;
    this.diskGen = null;
    this.diskIno = 0;
  }

  /** Under the lock: move the unreadable file out of the way (kept for inspection) and start afresh. */
  private setAside(reason: string): void {
    let aside = `${this.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    if (fs.existsSync(aside)) aside += `-${randomBytes(3).toString('hex')}`;
    try {
      fs.renameSync(this.file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.useDb(this.freshDb(), null, 0);
    this.onWarning({
      code: 'ledger_corrupt',
      file: this.file,
      setAsideAs: aside,
      message:
        `The quota ledger ${this.file} could not be read (${reason}). It was set aside as ${path.basename(aside)} and a new, ` +
        'empty ledger was started: quota used before now is not counted, so free-tier limits may be overrun until the windows reset.',
    });
  }

  private persist(durable: boolean): void {
    const bytes = this.db!.export();
    const gen = nextGen(this.diskGen);
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.writeUInt32BE(gen, GEN_OFFSET);
    view.writeUInt32BE(gen, GEN_VALID_OFFSET);
    if (this.diskGen === null) removeOrphanTemps(this.file); // first write by us: clear leftovers of dead writers
    const tmp = `${this.file}.tmp-${process.pid}-${(++tempCounter).toString(16)}`;
    const fd = fs.openSync(tmp, 'wx');
    let ino: number;
    try {
      let off = 0;
      while (off < view.length) off += fs.writeSync(fd, view, off, view.length - off);
      fs.fdatasyncSync(fd);
      ino = fs.fstatSync(fd).ino;
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    if (!this.lock.stillHeld()) {
      // We stalled past the stale limit and another process took over: writing now could lose its update.
      fs.rmSync(tmp, { force: true });
      throw new Error('the quota ledger lock was taken over while this process was stalled; the change was not written');
    }
    renameReplacing(tmp, this.file);
    if (durable) this.syncDir();
    this.diskGen = gen;
    this.diskIno = ino;
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

  private run(sql: string, params: SqlValue[]): void {
    this.stmt(sql).run(params);
  }

  private all(sql: string, params: SqlValue[]): Array<Record<string, SqlValue>> {
    const s = this.stmt(sql);
    try {
      s.bind(params);
      const rows: Array<Record<string, SqlValue>> = [];
      while (s.step()) rows.push(s.getAsObject());
      return rows;
    } finally {
      s.reset();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('ledger is closed');
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
