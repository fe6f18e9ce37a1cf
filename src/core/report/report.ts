/**
 * The usage report: one page of the delegation history (newest first) and totals — spend, what the premium
 * baseline would have cost, what was saved — overall, per provider and per day (UTC). Pure: the sums and rows
 * come from DelegationLog (or straight from rows), the clock from the caller.
 */
import { UserError } from '../errors';
import { bucketsOf, summarize, type DayBuckets, type Sums } from './aggregate';
import type { DelegationRow } from './delegation-row';

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

/** What a report is built from: every delegation's sums, and the newest rows (all of them, or a suffix). */
export interface ReportSource {
  buckets: DayBuckets;
  /** Oldest first, consecutive seqs ending at count - 1. */
  rows: readonly DelegationRow[];
  /** Delegations in the log. */
  count: number;
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

/** The report over every row (a full parse). */
export function buildReport(rows: readonly DelegationRow[], options: ReportOptions = {}): UsageReport {
  return reportFrom({ buckets: bucketsOf(rows), rows, count: rows.length }, options)!;
}

/**
 * The report, or undefined when `source.rows` is only the newest part of the history and the answer needs older
 * rows: a page past them, or a `since` in the middle of a day (that day's sums are not split by the hour).
 */
export function reportFrom(source: ReportSource, options: ReportOptions = {}): UsageReport | undefined {
  const since = options.since === undefined ? undefined : parseSince(options.since);
  const limit = Math.min(Math.max(1, Math.floor(options.limit ?? DEFAULT_PAGE)), MAX_PAGE);
  // The cursor is the seq of the last row shown: rows are appended, so older rows keep their seq.
  const before = options.cursor === undefined ? Infinity : parseCursor(options.cursor);
  const { rows } = source;
  const complete = rows.length === source.count;

  const fromDay = since?.slice(0, 10);
  let firstDay: Map<string, Sums> | undefined;
  if (since !== undefined && since !== `${fromDay}T00:00:00.000Z`) {
    if (!complete) return undefined;
    firstDay = bucketsOf(rows.filter((r) => r.time.startsWith(fromDay!)), since).get(fromDay!) ?? new Map();
  }
  const summary = summarize(source.buckets, fromDay, firstDay);

  const history: DelegationRow[] = [];
  let more = false;
  let matched = 0;
  for (let i = rows.length - 1; i >= 0; i--) {
    const row = rows[i]!;
    // ISO strings in UTC compare as times; the log is in time order, give or take concurrent writers.
    if (since !== undefined && row.time < since) continue;
    matched++;
    if (row.seq >= before) continue;
    if (history.length < limit) history.push(row);
    else {
      more = true;
      break;
    }
  }
  // Rows older than the ones held may still match: only the full history can say which.
  if (!more && !complete && matched < summary.totals.rows) return undefined;
  return {
    history,
    nextCursor: more ? String(history[history.length - 1]!.seq) : undefined,
    totals: finish(summary.totals),
    providers: [...summary.providers].map(([id, t]) => ({ id, ...finish(t) })).sort((a, b) => b.spendUsd - a.spendUsd || a.id.localeCompare(b.id)),
    days: [...summary.days].map(([day, t]) => ({ day, ...finish(t) })),
  };
}

/** Rounded to a millionth of a dollar, as quota_status rounds; saved never goes below zero. */
function finish(t: Sums): SpendTotals {
  const spendUsd = round6(t.spendUsd);
  const baselineUsd = round6(t.baselineUsd);
  return { calls: t.calls, spendUsd, baselineUsd, savedUsd: round6(Math.max(0, baselineUsd - spendUsd)) };
}

export function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
