import { UserError } from '../errors';
import type { Amounts, CallRecord, CircuitState, QuotaMetric, QuotaRule, QuotaState, QuotaWindow } from './types';
import { assertTimeZone } from './windows';

/** The quota rules both ledgers apply (sql.js and PostgreSQL): validation, amounts, states, circuits. */

export const METRICS: QuotaMetric[] = ['requests', 'input_chars', 'tokens', 'usd'];
export const NOMINAL_WINDOW_MS: Record<QuotaWindow, number> = { minute: 60_000, day: 86_400_000, month: 31 * 86_400_000 };

/** Every call is one request, whether or not the caller counted it. */
export function withRequest(amounts: Amounts): Amounts {
  return { ...amounts, requests: amounts.requests ?? 1 };
}

/** What a settled call counts against each metric: explicit amounts first, then what the record implies. */
export function settledAmounts(record: CallRecord): Amounts {
  return {
    requests: record.amounts.requests ?? 1,
    input_chars: record.amounts.input_chars ?? 0,
    tokens: record.amounts.tokens ?? record.inputTokens + record.outputTokens,
    usd: record.amounts.usd ?? record.costUsd,
  };
}

export function checkRule(rule: QuotaRule): void {
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
export function ruleForReport(rules: QuotaRule[], limit: number | undefined, resetMs: number | undefined): QuotaRule | undefined {
  if (!rules.length) return undefined;
  const bySize = [...rules].sort((a, b) => NOMINAL_WINDOW_MS[a.window] - NOMINAL_WINDOW_MS[b.window]);
  if (limit !== undefined) {
    const same = bySize.find((r) => r.limit === limit);
    if (same) return same;
  }
  if (resetMs !== undefined) return bySize.find((r) => NOMINAL_WINDOW_MS[r.window] >= resetMs) ?? bySize[bySize.length - 1];
  return bySize[0];
}

export function quotaState(rule: QuotaRule, used: number, reserved: number, windowStartMs: number, resetAtMs: number): QuotaState {
  const taken = used + reserved;
  return {
    rule, used, reserved,
    left: Math.max(0, rule.limit - taken),
    fraction: rule.limit > 0 ? taken / rule.limit : taken > 0 ? Infinity : 0,
    windowStartMs, resetAtMs,
  };
}

export function circuitOf(openUntil: number | null, now: number): CircuitState {
  if (openUntil === null) return { state: 'closed' };
  return openUntil > now ? { state: 'open', untilMs: openUntil } : { state: 'half-open' };
}

export function utcMonth(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}
