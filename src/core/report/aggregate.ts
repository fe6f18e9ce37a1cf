/**
 * Spend summed per UTC day and provider, the form the report index persists. Sums are added in log order and
 * combined in sorted key order, so every reader that saw the same lines — a full parse, or an index plus the
 * tail — holds the same doubles and prints the same totals, to the last bit.
 */
import type { DelegationRow } from './delegation-row';

export interface Sums {
  /** Every delegation line (a failed one without a provider too): tells whether all rows of a day are known. */
  rows: number;
  /** Delegations a provider answered: the rest cost nothing and are not calls. */
  calls: number;
  spendUsd: number;
  baselineUsd: number;
}

/** day (YYYY-MM-DD) → provider id ('' for a delegation no provider answered) → sums. */
export type DayBuckets = Map<string, Map<string, Sums>>;

export function emptySums(): Sums {
  return { rows: 0, calls: 0, spendUsd: 0, baselineUsd: 0 };
}

export function addRow(buckets: DayBuckets, row: DelegationRow): void {
  const day = row.time.slice(0, 10);
  let providers = buckets.get(day);
  if (!providers) buckets.set(day, (providers = new Map()));
  const key = row.provider ?? '';
  let sums = providers.get(key);
  if (!sums) providers.set(key, (sums = emptySums()));
  sums.rows++;
  if (!row.provider) return;
  sums.calls++;
  sums.spendUsd += row.costUsd;
  sums.baselineUsd += row.baselineUsd;
}

/** Rows (time ≥ since) summed the same way: the partial first day of a report that starts mid-day. */
export function bucketsOf(rows: Iterable<DelegationRow>, since?: string): DayBuckets {
  const buckets: DayBuckets = new Map();
  for (const row of rows) if (since === undefined || row.time >= since) addRow(buckets, row);
  return buckets;
}

export interface Summary {
  totals: Sums;
  providers: Map<string, Sums>;
  days: Map<string, Sums>;
}

/**
 * Totals overall, per provider and per day, from the days ≥ `fromDay`; `firstDay` replaces that day's buckets
 * (a report from mid-day). Sorted iteration: the result does not depend on the order buckets were created in.
 */
export function summarize(buckets: DayBuckets, fromDay?: string, firstDay?: Map<string, Sums>): Summary {
  const totals = emptySums();
  const providers = new Map<string, Sums>();
  const days = new Map<string, Sums>();
  for (const day of [...buckets.keys()].sort()) {
    if (fromDay !== undefined && day < fromDay) continue;
    const byProvider = day === fromDay && firstDay ? firstDay : buckets.get(day)!;
    if (byProvider.size === 0) continue;
    const dayTotals = emptySums();
    days.set(day, dayTotals);
    for (const id of [...byProvider.keys()].sort()) {
      const sums = byProvider.get(id)!;
      accumulate(dayTotals, sums);
      accumulate(totals, sums);
      if (id === '') continue;
      let p = providers.get(id);
      if (!p) providers.set(id, (p = emptySums()));
      accumulate(p, sums);
    }
  }
  return { totals, providers, days };
}

function accumulate(into: Sums, sums: Sums): void {
  into.rows += sums.rows;
  into.calls += sums.calls;
  into.spendUsd += sums.spendUsd;
  into.baselineUsd += sums.baselineUsd;
}

/** As the index stores them: [day, [[provider, rows, calls, spend, baseline], …]], …. */
export type StoredBuckets = Array<[string, Array<[string, number, number, number, number]>]>;

export function storeBuckets(buckets: DayBuckets): StoredBuckets {
  return [...buckets].map(([day, providers]) => [day, [...providers].map(([id, s]) => [id, s.rows, s.calls, s.spendUsd, s.baselineUsd])]);
}

/** The first 10 characters of an ISO time (an extended year like +010000 included). */
const DAY = /^[-+\d]{4,7}-[-\d]{2,5}$/;

/** Back from the index, every value checked; undefined when anything is off (the index is then not used). */
export function loadBuckets(value: unknown): DayBuckets | undefined {
  if (!Array.isArray(value)) return undefined;
  const buckets: DayBuckets = new Map();
  for (const entry of value) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || entry[0].length !== 10 || !DAY.test(entry[0]) || buckets.has(entry[0]) || !Array.isArray(entry[1])) return undefined;
    const providers = new Map<string, Sums>();
    for (const p of entry[1] as unknown[]) {
      if (!Array.isArray(p) || p.length !== 5 || typeof p[0] !== 'string' || p[0].length > 512 || providers.has(p[0])) return undefined;
      const [id, rows, calls, spendUsd, baselineUsd] = p as [string, unknown, unknown, unknown, unknown];
      if (!count(rows) || !count(calls) || !money(spendUsd) || !money(baselineUsd) || calls > rows || (id === '' && calls > 0)) return undefined;
      providers.set(id, { rows, calls, spendUsd, baselineUsd });
    }
    buckets.set(entry[0], providers);
  }
  return buckets;
}

function count(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function money(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}
