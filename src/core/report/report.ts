/**
 * The usage report: one page of the delegation history (newest first) and totals — spend, what the premium
 * baseline would have cost, what was saved — overall, per provider and per day (UTC). Pure: the rows come
 * from DelegationLog, the clock from the caller.
 */
import { UserError } from '../errors';
import type { DelegationRow } from './delegation-log';

export interface ReportOptions {
  /** Only delegations at or after this ISO time. */
  since?: string;
  /** Page size (default 50). */
  limit?: number;
  /** From a previous page's nextCursor: continue with older rows. */
  cursor?: string;
}

export interface SpendTotals {
  calls: number;
  spendUsd: number;
  baselineUsd: number;
  savedUsd: number;
}

export interface UsageReport {
  history: DelegationRow[];
  /** Set when older rows remain. */
  nextCursor?: string;
  totals: SpendTotals;
  providers: Array<SpendTotals & { id: string }>;
  /** Oldest first. */
  days: Array<SpendTotals & { day: string }>;
}

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 500;

/** Accepts YYYY-MM-DD (midnight UTC) or any ISO time; returns the ISO time. */
export function parseSince(since: string): string {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(since) ? `${since}T00:00:00.000Z` : since;
  const ms = Date.parse(day);
  if (since.length > 40 || !/^\d{4}-\d{2}-\d{2}/.test(since) || Number.isNaN(ms)) throw new UserError(`since: "${since.slice(0, 40)}" is not a date (use YYYY-MM-DD or an ISO time)`, 'bad_arguments');
  return new Date(ms).toISOString();
}

function parseCursor(cursor: string): number {
  if (!/^\d{1,12}$/.test(cursor)) throw new UserError('cursor: not one this report handed out', 'bad_arguments');
  return Number(cursor);
}

export function buildReport(rows: readonly DelegationRow[], options: ReportOptions = {}): UsageReport {
  const since = options.since === undefined ? undefined : parseSince(options.since);
  const limit = Math.min(Math.max(1, Math.floor(options.limit ?? DEFAULT_PAGE)), MAX_PAGE);
  // The cursor is the seq of the last row shown: rows are appended, so older rows keep their seq.
  const before = options.cursor === undefined ? Infinity : parseCursor(options.cursor);

  const totals = emptyTotals();
  const providers = new Map<string, SpendTotals>();
  const days = new Map<string, SpendTotals>();
  const history: DelegationRow[] = [];
  let more = false;
  for (let i = rows.length - 1; i >= 0; i--) {
    const row = rows[i]!;
    // ISO strings in UTC compare as times; the log is in time order, give or take concurrent writers.
    if (since !== undefined && row.time < since) continue;
    add(totals, row);
    if (row.provider) add(bucket(providers, row.provider), row);
    add(bucket(days, row.time.slice(0, 10)), row);
    if (row.seq < before) {
      if (history.length < limit) history.push(row);
      else more = true;
    }
  }
  return {
    history,
    nextCursor: more ? String(history[history.length - 1]!.seq) : undefined,
    totals: finish(totals),
    providers: [...providers].map(([id, t]) => ({ id, ...finish(t) })).sort((a, b) => b.spendUsd - a.spendUsd || a.id.localeCompare(b.id)),
    days: [...days].map(([day, t]) => ({ day, ...finish(t) })).sort((a, b) => a.day.localeCompare(b.day)),
  };
}

function emptyTotals(): SpendTotals {
  return { calls: 0, spendUsd: 0, baselineUsd: 0, savedUsd: 0 };
}

function bucket(map: Map<string, SpendTotals>, key: string): SpendTotals {
  let t = map.get(key);
  if (!t) map.set(key, (t = emptyTotals()));
  return t;
}

function add(t: SpendTotals, row: DelegationRow): void {
  // A delegation that failed before any provider answered cost nothing and is not a call.
  if (!row.provider) return;
  t.calls++;
  t.spendUsd += row.costUsd;
  t.baselineUsd += row.baselineUsd;
}

/** Rounded to a millionth of a dollar, as quota_status rounds; saved never goes below zero. */
function finish(t: SpendTotals): SpendTotals {
  const spendUsd = round6(t.spendUsd);
  const baselineUsd = round6(t.baselineUsd);
  return { calls: t.calls, spendUsd, baselineUsd, savedUsd: round6(Math.max(0, baselineUsd - spendUsd)) };
}

export function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
