/**
 * Monthly budgets per principal and per team on a team server, enforced by reservation: a call's estimated
 * cost is held against `principal:<id>` and `team:<team>` (a `usd`/`month` quota rule each) before the provider
 * is called, and replaced by the real cost when it settles — so concurrent calls cannot overspend a budget
 * that reading last month's spend afterwards would only notice too late.
 *
 * It wraps any Ledger: the provider's own reservation goes to `inner`; the budget holds go to `budgets` (a
 * separate ledger, so budget rows never count as calls in the provider ledger's monthly spend).
 */
import type { CallRecord, Ledger, Principal, QuotaRule, QuotaState, ReserveOutcome, ReserveRequest, ThresholdEvent } from './types';

export interface BudgetLimits {
  /** USD per calendar month for this principal; undefined = no budget of its own. */
  principalUsdMonth?: number;
  /** USD per calendar month for the principal's team; undefined = none. */
  teamUsdMonth?: number;
}

export type BudgetLookup = (principal: Principal) => BudgetLimits;

export interface BudgetState {
  scope: 'principal' | 'team';
  id: string;
  state: QuotaState;
}

export function principalBudgetKey(id: string): string {
  return `principal:${id}`;
}

export function teamBudgetKey(team: string): string {
  return `team:${team}`;
}

function monthlyUsd(limit: number): QuotaRule {
  return { metric: 'usd', window: 'month', limit };
}

interface Hold {
  reservationId: string;
  key: string;
  rule: QuotaRule;
}

export class BudgetedLedger implements Ledger {
  /** Budget holds per provider reservation id, settled or released with it. */
  private readonly holds = new Map<string, Hold[]>();

  constructor(
    readonly inner: Ledger,
    readonly budgets: Ledger,
    private readonly lookup: BudgetLookup,
  ) {}

  private budgetRules(principal: Principal): Array<{ scope: BudgetState['scope']; id: string; key: string; rule: QuotaRule }> {
    const limits = this.lookup(principal);
    const out: Array<{ scope: BudgetState['scope']; id: string; key: string; rule: QuotaRule }> = [];
    if (limits.principalUsdMonth !== undefined) out.push({ scope: 'principal', id: principal.id, key: principalBudgetKey(principal.id), rule: monthlyUsd(limits.principalUsdMonth) });
    if (principal.team !== undefined && limits.teamUsdMonth !== undefined) out.push({ scope: 'team', id: principal.team, key: teamBudgetKey(principal.team), rule: monthlyUsd(limits.teamUsdMonth) });
    return out;
  }

  async reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    const outcome = await this.inner.reserve(request);
    if (!outcome.ok || !request.principal) return outcome;
    const held: Hold[] = [];
    for (const { key, rule } of this.budgetRules(request.principal)) {
      const hold = await this.budgets.reserve({ providerId: key, principal: request.principal, rules: [rule], amounts: { usd: request.amounts.usd ?? 0 }, ttlMs: request.ttlMs });
      if (!hold.ok) {
        for (const h of held) await this.budgets.release(h.reservationId);
        await this.inner.release(outcome.reservationId);
        return { ok: false, blocking: hold.blocking, states: [...outcome.states, ...hold.states] };
      }
      held.push({ reservationId: hold.reservationId, key, rule });
    }
    if (held.length) this.holds.set(outcome.reservationId, held);
    return outcome;
  }

  async settle(reservationId: string, rules: QuotaRule[], record: CallRecord): Promise<{ events: ThresholdEvent[]; states: QuotaState[] }> {
    const result = await this.inner.settle(reservationId, rules, record);
    const held = this.holds.get(reservationId) ?? [];
    this.holds.delete(reservationId);
    for (const h of held) {
      await this.budgets.settle(h.reservationId, [h.rule], {
        ...record,
        providerId: h.key,
        amounts: { usd: record.costUsd },
        callId: `${record.callId ?? reservationId}:${h.key}`,
      });
    }
    return result;
  }

  async release(reservationId: string): Promise<void> {
    const held = this.holds.get(reservationId) ?? [];
    this.holds.delete(reservationId);
    for (const h of held) await this.budgets.release(h.reservationId);
    await this.inner.release(reservationId);
  }

  /** The caller's budgets as they stand (for quota_status). */
  async budgetStates(principal: Principal): Promise<BudgetState[]> {
    const out: BudgetState[] = [];
    for (const { scope, id, key, rule } of this.budgetRules(principal)) {
      const [state] = await this.budgets.quota(key, [rule]);
      if (state) out.push({ scope, id, state });
    }
    return out;
  }

  quota: Ledger['quota'] = (providerId, rules) => this.inner.quota(providerId, rules);
  setCooldown: Ledger['setCooldown'] = (key, untilMs, reason) => this.inner.setCooldown(key, untilMs, reason);
  cooldown: Ledger['cooldown'] = (key) => this.inner.cooldown(key);
  recordOutcome: Ledger['recordOutcome'] = (providerId, ok) => this.inner.recordOutcome(providerId, ok);
  circuit: Ledger['circuit'] = (providerId) => this.inner.circuit(providerId);
  reconcile: Ledger['reconcile'] = (providerId, rules, info) => this.inner.reconcile(providerId, rules, info);
  monthSpend: Ledger['monthSpend'] = () => this.inner.monthSpend();

  async close(): Promise<void> {
    await Promise.allSettled([this.inner.close(), this.budgets.close()]);
  }
}
