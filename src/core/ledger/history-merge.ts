import type { HistoryUsage, LedgerHistory } from './transfer';

/** The arithmetic of an idempotent import (transfer.ts), shared by both ledgers; no zod here, so the ledgers load without it. */

export const HISTORY_FORMAT = 'switchboard-ledger-history';

/** The identity of a usage counter inside `imported` rows. */
export function usageKey(u: HistoryUsage): string {
  return `${u.counter}|${u.metric}|${u.win}|${u.tz}|${u.start_ms}`;
}

/**
 * What each aggregate of a history adds, given what was imported from the same source before: the differences
 * (never negative: a counter that shrank at the source, e.g. pruned, takes nothing back).
 */
export function aggregateDeltas(history: LedgerHistory, previously: Map<string, number>, ownId: string): {
  usage: Array<HistoryUsage & { add: number }>;
  spend: Array<{ month: string; calls: number; usd: number; baseline_usd: number }>;
  remember: Array<{ kind: string; key: string; value: number }>;
} {
  // The share of each aggregate that came from this very ledger (the exporter imported it from us).
  const ours = new Map<string, number>();
  for (const r of history.imported) if (r.source === ownId) ours.set(`${r.kind}|${r.key}`, r.value);
  const fromOthers = (kind: string, key: string, value: number) => Math.max(0, value - (ours.get(`${kind}|${key}`) ?? 0));
  const usage: Array<HistoryUsage & { add: number }> = [];
  const remember: Array<{ kind: string; key: string; value: number }> = [];
  for (const u of history.usage) {
    const key = usageKey(u);
    const value = fromOthers('usage', key, u.used);
    const add = value - (previously.get(`usage|${key}`) ?? 0);
    if (add > 0) {
      usage.push({ ...u, add });
      remember.push({ kind: 'usage', key, value });
    }
  }
  const spend: Array<{ month: string; calls: number; usd: number; baseline_usd: number }> = [];
  for (const raw of history.spend) {
    const s = {
      month: raw.month,
      calls: fromOthers('spend_calls', raw.month, raw.calls),
      usd: fromOthers('spend_usd', raw.month, raw.usd),
      baseline_usd: fromOthers('spend_baseline', raw.month, raw.baseline_usd),
    };
    const d = {
      calls: Math.max(0, s.calls - (previously.get(`spend_calls|${s.month}`) ?? 0)),
      usd: Math.max(0, s.usd - (previously.get(`spend_usd|${s.month}`) ?? 0)),
      baseline_usd: Math.max(0, s.baseline_usd - (previously.get(`spend_baseline|${s.month}`) ?? 0)),
    };
    if (d.calls > 0 || d.usd > 0 || d.baseline_usd > 0) {
      spend.push({ month: s.month, ...d });
      remember.push({ kind: 'spend_calls', key: s.month, value: Math.max(s.calls, previously.get(`spend_calls|${s.month}`) ?? 0) });
      remember.push({ kind: 'spend_usd', key: s.month, value: Math.max(s.usd, previously.get(`spend_usd|${s.month}`) ?? 0) });
      remember.push({ kind: 'spend_baseline', key: s.month, value: Math.max(s.baseline_usd, previously.get(`spend_baseline|${s.month}`) ?? 0) });
    }
  }
  return { usage, spend, remember };
}

export type CallRow = LedgerHistory['calls'][number];

/** Column order of a call row, as both schemas name them. */
export const CALL_FIELDS = [
  'id', 'ts_ms', 'provider', 'model', 'tier', 'task', 'actor', 'ok', 'input_tokens', 'output_tokens', 'cost_usd', 'baseline_usd', 'principal', 'team',
] as const;

/** A database row (numbers possibly as strings, ok as 0/1) as a history call. */
export function callFromRow(r: Record<string, unknown>): CallRow {
  const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    id: String(r.id), ts_ms: Number(r.ts_ms), provider: String(r.provider), model: String(r.model), tier: String(r.tier),
    task: str(r.task), actor: str(r.actor), ok: r.ok === true || Number(r.ok) === 1,
    input_tokens: Number(r.input_tokens), output_tokens: Number(r.output_tokens), cost_usd: Number(r.cost_usd), baseline_usd: Number(r.baseline_usd),
    principal: str(r.principal), team: str(r.team),
  };
}
