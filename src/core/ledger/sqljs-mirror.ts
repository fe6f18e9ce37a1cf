import type { SqlValue } from 'sql.js';
import { METRICS } from './rules';
import type { SharedSqlJsFile } from './sqljs-store';
import type { Amounts, QuotaMetric } from './types';

/** One reservations row as the mirror keeps it. */
export interface HeldRow {
  requests: number;
  input_chars: number;
  tokens: number;
  usd: number;
  createdMs: number;
  expiresMs: number;
}

/** A usage counter's row key: counter (provider or budget), metric, window, zone, window start. */
export interface UsageKey {
  counter: string;
  metric: QuotaMetric;
  win: string;
  tz: string;
  startMs: number;
}

const usageSqlByCount: string[] = [];

function usageSql(keys: number): string {
  return (usageSqlByCount[keys] ??= 'SELECT provider, metric, win, tz, start_ms, used FROM usage WHERE (provider, metric, win, tz, start_ms) IN (VALUES ' +
    Array.from({ length: keys }, () => '(?,?,?,?,?)').join(',') + ')');
}

const rowsSqlByCount: string[] = [];

function rowsSql(counters: number): string {
  return (rowsSqlByCount[counters] ??= 'SELECT id, provider, requests, input_chars, tokens, usd, created_ms, expires_ms FROM reservations WHERE provider IN (' +
    Array.from({ length: counters }, () => '?').join(',') + ')');
}

export function usageKeyText(k: UsageKey): string {
  return `${k.counter}\u0000${k.metric}\u0000${k.win}\u0000${k.tz}\u0000${k.startMs}`;
}

/**
 * What the sql.js ledger's own operations read, kept in JS: usage counters, reservation rows, cooldowns,
 * circuits, recorded thresholds, month spend, an upper bound of the call rows. Filled from the in-memory copy
 * on first use and kept current by the ledger as it defers each statement (SqlStatements.defer), so a reserve
 * or settle that finds what it needs here runs no SQLite statement. Valid while the store's epoch is the one
 * it was filled at: a replayed record from another process, a reload, or a statement run now empties it.
 */
export class QuotaMirror {
  private epoch = -1;
  private readonly usage = new Map<string, number>();
  /** Reservation rows per counter (its provider column: a provider id or a budget counter), by row id. */
  private readonly rows = new Map<string, Map<string, HeldRow>>();
  /** The counters a reservation's rows are in, for reservations this mirror saw made or looked up. */
  private readonly owners = new Map<string, string[]>();
  private readonly cooldowns = new Map<string, { untilMs: number; reason: string } | null>();
  /** A provider's circuit row (open_until_ms, null when not open), or null when there is none. */
  private readonly circuits = new Map<string, { openUntilMs: number | null } | null>();
  private readonly thresholds = new Set<string>();
  private readonly spend = new Map<string, number>();
  private callRows: number | undefined;

  constructor(private readonly db: SharedSqlJsFile) {}

  /** Empties the mirror (the ledger deferred a statement whose effect it does not track, e.g. a prune). */
  forget(): void {
    this.usage.clear();
    this.rows.clear();
    this.owners.clear();
    this.cooldowns.clear();
    this.circuits.clear();
    this.thresholds.clear();
    this.spend.clear();
    this.callRows = undefined;
  }

  // ---- usage -------------------------------------------------------------------------------------------

  /** Reads every key not known yet in one statement. */
  loadUsage(keys: UsageKey[]): void {
    this.check();
    const missing = keys.filter((k) => !this.usage.has(usageKeyText(k)));
    if (!missing.length) return;
    const params: SqlValue[] = [];
    for (const k of missing) params.push(k.counter, k.metric, k.win, k.tz, k.startMs);
    for (const k of missing) this.usage.set(usageKeyText(k), 0);
    for (const r of this.db.all(usageSql(missing.length), params)) {
      this.usage.set(usageKeyText({ counter: String(r.provider), metric: String(r.metric) as QuotaMetric, win: String(r.win), tz: String(r.tz), startMs: Number(r.start_ms) }), Number(r.used));
    }
  }

  used(key: UsageKey): number {
    this.check();
    const text = usageKeyText(key);
    let used = this.usage.get(text);
    if (used === undefined) {
      this.loadUsage([key]);
      used = this.usage.get(text)!;
    }
    return used;
  }

  /** The mirror's side of an `INSERT INTO usage … used = used + ?` the ledger deferred. */
  addUsage(key: UsageKey, amount: number): void {
    this.check();
    const text = usageKeyText(key);
    const was = this.usage.get(text);
    if (was !== undefined) this.usage.set(text, was + amount);
  }

  // ---- reservations ------------------------------------------------------------------------------------

  loadRows(counters: string[]): void {
    this.check();
    const missing = [...new Set(counters)].filter((c) => !this.rows.has(c));
    if (!missing.length) return;
    for (const c of missing) this.rows.set(c, new Map());
    for (const r of this.db.all(rowsSql(missing.length), missing)) {
      this.rows.get(String(r.provider))!.set(String(r.id), {
        requests: Number(r.requests), input_chars: Number(r.input_chars), tokens: Number(r.tokens), usd: Number(r.usd),
        createdMs: Number(r.created_ms), expiresMs: Number(r.expires_ms),
      });
    }
  }

  /** A counter's reservation rows, read on first use. */
  private rowsOf(counter: string): Map<string, HeldRow> {
    this.check();
    let rows = this.rows.get(counter);
    if (!rows) {
      this.loadRows([counter]);
      rows = this.rows.get(counter)!;
    }
    return rows;
  }

  /** What a counter's live reservations hold (expires after now). */
  held(counter: string, now: number): Amounts {
    const sum: Required<Amounts> = { requests: 0, input_chars: 0, tokens: 0, usd: 0 };
    for (const row of this.rowsOf(counter).values()) if (row.expiresMs > now) for (const m of METRICS) sum[m] += row[m];
    return sum;
  }

  /** What a counter's expired, never settled reservations made in [startMs, resetMs) are charged (see types.ts). */
  charged(counter: string, metric: QuotaMetric, startMs: number, resetMs: number, now: number): number {
    let sum = 0;
    for (const row of this.rowsOf(counter).values()) {
      if (row.expiresMs <= now && row.createdMs >= startMs && row.createdMs < resetMs) sum += row[metric];
    }
    return sum;
  }

  /** The mirror's side of an `INSERT INTO reservations` the ledger deferred (the counters are loaded). */
  addReservation(id: string, rows: Array<{ rowId: string; counter: string; row: HeldRow }>): void {
    this.check();
    for (const r of rows) this.rows.get(r.counter)?.set(r.rowId, r.row);
    this.owners.set(id, rows.map((r) => r.counter));
  }

  /**
   * The mirror's side of deleting a reservation and its budget holds (ids `<id>` and `<id>#…`); true when any
   * row was there. Looks up which counters hold it when this mirror did not see it made.
   */
  removeReservation(id: string): boolean {
    const counters = this.ownersOf(id);
    this.owners.delete(id);
    this.loadRows(counters);
    let removed = false;
    for (const c of counters) {
      const rows = this.rows.get(c)!;
      for (const rowId of rows.keys()) {
        if (rowId === id || rowId.startsWith(`${id}#`)) {
          rows.delete(rowId);
          removed = true;
        }
      }
    }
    return removed;
  }

  /**
   * The mirror's side of a lease's rows giving up one settled call's estimate: the lease's own row all of it,
   * its budget holds (`<id>#…`) the usd. How many rows were there (0: none, so nothing to update).
   */
  shrinkReservation(id: string, amounts: Required<Amounts>): number {
    const counters = this.ownersOf(id);
    this.loadRows(counters);
    let shrunk = 0;
    for (const c of counters) {
      const rows = this.rows.get(c)!;
      const own = rows.get(id);
      if (own) {
        for (const m of METRICS) own[m] -= amounts[m];
        shrunk++;
      }
      for (const [rowId, row] of rows) {
        if (rowId.startsWith(`${id}#`)) {
          row.usd -= amounts.usd;
          shrunk++;
        }
      }
    }
    return shrunk;
  }

  /** The counters holding a reservation's rows; looked up when this mirror did not see it made. */
  private ownersOf(id: string): string[] {
    this.check();
    let counters = this.owners.get(id);
    if (!counters) {
      counters = this.db.all('SELECT DISTINCT provider FROM reservations WHERE id >= ? AND id < ?', [id, `${id}$`]).map((r) => String(r.provider));
      if (counters.length) this.owners.set(id, counters);
    }
    return counters;
  }

  // ---- cooldowns, circuits, thresholds, spend, calls ----------------------------------------------------

  cooldown(key: string): { untilMs: number; reason: string } | null {
    this.check();
    let c = this.cooldowns.get(key);
    if (c === undefined) {
      const row = this.db.all('SELECT until_ms, reason FROM cooldowns WHERE key = ?', [key])[0];
      c = row ? { untilMs: Number(row.until_ms), reason: String(row.reason) } : null;
      this.cooldowns.set(key, c);
    }
    return c;
  }

  circuit(providerId: string): { openUntilMs: number | null } | null {
    this.check();
    let c = this.circuits.get(providerId);
    if (c === undefined) {
      const row = this.db.all('SELECT open_until_ms FROM circuits WHERE provider = ?', [providerId])[0];
      c = row ? { openUntilMs: row.open_until_ms == null ? null : Number(row.open_until_ms) } : null;
      this.circuits.set(providerId, c);
    }
    return c;
  }

  /** Whether a threshold row is recorded; `key` is its primary key's values. */
  thresholdRecorded(key: SqlValue[]): boolean {
    this.check();
    const text = key.join('\u0000');
    if (this.thresholds.has(text)) return true;
    const found = this.db.all(
      'SELECT 1 FROM thresholds WHERE provider = ? AND metric = ? AND win = ? AND tz = ? AND quota_limit = ? AND start_ms = ? AND threshold = ?', key,
    ).length > 0;
    if (found) this.thresholds.add(text);
    return found;
  }

  /** The mirror's side of a threshold row the ledger deferred. */
  addThreshold(key: SqlValue[]): void {
    this.check();
    this.thresholds.add(key.join('\u0000'));
  }

  spendUsd(month: string): number {
    this.check();
    let usd = this.spend.get(month);
    if (usd === undefined) {
      usd = Number(this.db.all('SELECT usd FROM spend WHERE month = ?', [month])[0]?.usd ?? 0);
      this.spend.set(month, usd);
    }
    return usd;
  }

  addSpend(month: string, usd: number): void {
    this.check();
    const was = this.spend.get(month);
    if (was !== undefined) this.spend.set(month, was + usd);
  }

  /** At least as many as there are call rows (the rowid span, then one more per call added). */
  callRowsAtMost(): number {
    this.check();
    this.callRows ??= Number(this.db.all('SELECT (SELECT max(rowid) FROM calls) - (SELECT min(rowid) FROM calls) + 1 AS n', [])[0]?.n ?? 0);
    return this.callRows;
  }

  setCallRowsAtMost(n: number): void {
    this.check();
    this.callRows = n;
  }

  /** Empties the mirror when the copy changed under it since it was filled. */
  private check(): void {
    const epoch = this.db.epoch;
    if (epoch === this.epoch) return;
    this.forget();
    this.epoch = epoch;
  }
}
