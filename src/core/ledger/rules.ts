import { UserError } from '../errors';
import type { RateLimitInfo } from '../providers/types';
import type { Amounts, BudgetScope, CallRecord, CircuitState, QuotaMetric, QuotaRule, QuotaState, QuotaWindow, ReserveRequest } from './types';
import { assertTimeZone, windowBounds } from './windows';

/** The quota rules both ledgers apply (sql.js and PostgreSQL): validation, amounts, states, circuits. */

export const METRICS: QuotaMetric[] = ['requests', 'input_chars', 'tokens', 'usd'];

export const DAY_MS = 86_400_000;
/**
 * How long usage rows of the longest window (month) are kept; an expired, never-settled reservation is charged
 * in the windows of its creation, so it is kept as long.
 */
export const WINDOW_RETENTION_MS = 400 * DAY_MS;

/** Window starts before which usage and threshold rows are pruned, for minute, day and month windows. */
export function staleWindowCutoffs(now: number): [minute: number, day: number, month: number] {
  return [now - 2 * 3_600_000, now - 40 * DAY_MS, now - WINDOW_RETENTION_MS];
}
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

/** Rules already checked (a router passes the same rule objects on every call). */
const checkedRules = new WeakSet<QuotaRule>();

export function checkRule(rule: QuotaRule): void {
  if (checkedRules.has(rule)) return;
  checkRuleNow(rule);
  checkedRules.add(rule);
}

function checkRuleNow(rule: QuotaRule): void {
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

/** The last month asked for, with its bounds: every settle asks, and the answer changes once a month. */
let lastMonth = { fromMs: 0, toMs: 0, month: '' };

export function utcMonth(ms: number): string {
  if (ms >= lastMonth.fromMs && ms < lastMonth.toMs) return lastMonth.month;
  const d = new Date(ms);
  const month = d.toISOString().slice(0, 7);
  lastMonth = { fromMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), toMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1), month };
  return month;
}

// ---- budgets ---------------------------------------------------------------------------------------------

const BUDGET_SCOPES: BudgetScope[] = ['principal', 'team', 'provider', 'global'];

/** A budget with its key filled in and the counter it is kept in. */
export interface ResolvedBudget {
  scope: BudgetScope;
  key: string;
  limitUsd: number;
  /**
   * The usage/reservation counter: `budget:<scope>:<key>`. Provider ids match ^[a-z0-9][a-z0-9_-]*$, so no
   * provider's counters can collide with a budget's.
   */
  counter: string;
}

export function budgetCounter(scope: BudgetScope, key: string): string {
  return `budget:${scope}:${key}`;
}

/**
 * The budgets a reservation holds, keys defaulted from the request. A principal or team budget for a request
 * with no principal or team has nobody to apply to and is skipped; two budgets on one counter keep the lower.
 */
export function resolveBudgets(request: ReserveRequest): ResolvedBudget[] {
  const out = new Map<string, ResolvedBudget>();
  for (const b of request.budgets ?? []) {
    if (!BUDGET_SCOPES.includes(b.scope)) throw new UserError(`Unknown budget scope "${String(b.scope)}" (use ${BUDGET_SCOPES.join(', ')}).`, 'bad_budget');
    if (b.window !== 'month') throw new UserError(`Unknown budget window "${String(b.window)}" (use month).`, 'bad_budget');
    if (!Number.isFinite(b.limitUsd) || b.limitUsd < 0) throw new UserError(`Budget limitUsd must be a number ≥ 0, got ${String(b.limitUsd)}.`, 'bad_budget');
    const key = b.scope === 'global' ? '*'
      : b.key ?? (b.scope === 'principal' ? request.principal?.id : b.scope === 'team' ? request.principal?.team : request.providerId);
    if (key === undefined || key === '') continue;
    const counter = budgetCounter(b.scope, key);
    const seen = out.get(counter);
    if (!seen || b.limitUsd < seen.limitUsd) out.set(counter, { scope: b.scope, key, limitUsd: b.limitUsd, counter });
  }
  return [...out.values()];
}

/** The budget counters a settled call's cost goes to (the global total is the month's spend). */
export function chargedCounters(record: CallRecord): string[] {
  const counters = [budgetCounter('provider', record.providerId)];
  if (record.principal?.id) counters.push(budgetCounter('principal', record.principal.id));
  if (record.principal?.team) counters.push(budgetCounter('team', record.principal.team));
  return counters;
}

/** A budget as a quota state (usd per UTC month), so the router reports it like any other limit. */
export function budgetState(budget: ResolvedBudget, used: number, reserved: number, nowMs: number): QuotaState {
  const { startMs, resetAtMs } = windowBounds('month', 'UTC', nowMs);
  return { ...quotaState({ metric: 'usd', window: 'month', limit: budget.limitUsd }, used, reserved, startMs, resetAtMs), budget: { scope: budget.scope, key: budget.key } };
}

/** The state that refuses a reservation of `amounts`, if any: the latest reset decides when the call could go. */
export function blockingState(states: QuotaState[], amounts: Amounts): QuotaState | undefined {
  let blocking: QuotaState | undefined;
  for (const s of states) {
    const need = amounts[s.rule.metric] ?? 0;
    if (s.used + s.reserved + need > s.rule.limit + 1e-9 * Math.max(1, s.rule.limit)) {
      if (!blocking || s.resetAtMs > blocking.resetAtMs) blocking = s;
    }
  }
  return blocking;
}

/** The thresholds a state has crossed (used / limit), lowest first. */
export function crossedThresholds(state: QuotaState, thresholds: number[]): number[] {
  const fraction = usedFraction(state);
  return thresholds.filter((t) => fraction + 1e-12 >= t);
}

export function usedFraction(state: QuotaState): number {
  return state.rule.limit > 0 ? state.used / state.rule.limit : state.used > 0 ? Infinity : 0;
}

/** The counters in which a quota rule is kept: minutes are the same in every zone, so one counter whatever reset_tz says. */
export function ruleZone(rule: QuotaRule): string {
  return rule.window === 'minute' ? 'UTC' : rule.reset_tz ?? 'UTC';
}

/** Reads a provider's rate-limit report as (rule, remaining) pairs for reconcile. */
export function reconcileTargets(rules: QuotaRule[], info: RateLimitInfo): Array<{ rule: QuotaRule; remaining: number }> {
  const reports: Array<{ metric: QuotaMetric; limit?: number; remaining?: number; resetMs?: number }> = [
    { metric: 'requests', limit: info.limitRequests, remaining: info.remainingRequests, resetMs: info.resetRequestsMs },
    { metric: 'tokens', limit: info.limitTokens, remaining: info.remainingTokens, resetMs: info.resetTokensMs },
  ];
  return reports.flatMap((r) => {
    if (r.remaining === undefined || !Number.isFinite(r.remaining)) return [];
    const rule = ruleForReport(rules.filter((q) => q.metric === r.metric), r.limit, r.resetMs);
    return rule ? [{ rule, remaining: Math.max(0, r.remaining) }] : [];
  });
}
