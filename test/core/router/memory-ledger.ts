/**
 * A small in-memory Ledger double for the PURE routing-decision tests only (one window, no persistence).
 * End-to-end tests and the regret simulation use the real SqlJsLedger.
 */
import type {
  Amounts, CallRecord, CircuitState, Cooldown, Ledger, QuotaRule, QuotaState, ReserveOutcome, ReserveRequest, SpendSummary, ThresholdEvent,
} from '../../../src/core/ledger/types';
import type { RateLimitInfo } from '../../../src/core/providers/types';

export class MemoryLedger implements Ledger {
  used = new Map<string, number>(); // `${provider}|${metric}` → settled
  reservations = new Map<string, { providerId: string; amounts: Amounts }>();
  cooldowns = new Map<string, Cooldown>();
  circuits = new Map<string, CircuitState>();
  outcomes: Array<{ providerId: string; ok: boolean }> = [];
  records: CallRecord[] = [];
  released: string[] = [];
  reconciled: Array<{ providerId: string; info: RateLimitInfo }> = [];
  spendUsd = 0;
  private next = 0;

  private state(providerId: string, rule: QuotaRule): QuotaState {
    const used = this.used.get(`${providerId}|${rule.metric}`) ?? 0;
    let reserved = 0;
    for (const r of this.reservations.values()) if (r.providerId === providerId) reserved += r.amounts[rule.metric] ?? 0;
    return { rule, used, reserved, left: Math.max(0, rule.limit - used - reserved), fraction: (used + reserved) / rule.limit, windowStartMs: 0, resetAtMs: 86_400_000 };
  }

  async reserve(req: ReserveRequest): Promise<ReserveOutcome> {
    const states = req.rules.map((r) => this.state(req.providerId, r));
    // Only the global budget (budget_usd_month): the month's spend plus what reservations hold.
    for (const b of req.budgets ?? []) {
      if (b.scope !== 'global') continue;
      let held = 0;
      for (const r of this.reservations.values()) held += r.amounts.usd ?? 0;
      const rule: QuotaRule = { metric: 'usd', window: 'month', limit: b.limitUsd };
      states.push({ rule, used: this.spendUsd, reserved: held, left: Math.max(0, b.limitUsd - this.spendUsd - held), fraction: 0, windowStartMs: 0, resetAtMs: 0, budget: { scope: 'global', key: '*' } });
    }
    const blocking = states.find((s) => (req.amounts[s.rule.metric] ?? 0) > s.left);
    if (blocking) return { ok: false, blocking, states };
    const id = `r${++this.next}`;
    this.reservations.set(id, { providerId: req.providerId, amounts: req.amounts });
    return { ok: true, reservationId: id, states };
  }

  async settle(id: string, rules: QuotaRule[], record: CallRecord): Promise<{ events: ThresholdEvent[]; states: QuotaState[] }> {
    if (!this.reservations.delete(id)) throw new Error(`settle of unknown reservation ${id}`);
    for (const [metric, v] of Object.entries(record.amounts)) {
      const k = `${record.providerId}|${metric}`;
      this.used.set(k, (this.used.get(k) ?? 0) + (v ?? 0));
    }
    this.records.push(record);
    this.spendUsd += record.costUsd;
    return { events: [], states: rules.map((r) => this.state(record.providerId, r)) };
  }

  async release(id: string): Promise<void> {
    this.reservations.delete(id);
    this.released.push(id);
  }

  async quota(providerId: string, rules: QuotaRule[]): Promise<QuotaState[]> {
    return rules.map((r) => this.state(providerId, r));
  }

  async setCooldown(key: string, untilMs: number, reason: string): Promise<void> {
    this.cooldowns.set(key, { key, untilMs, reason });
  }

  async cooldown(key: string): Promise<Cooldown | undefined> {
    return this.cooldowns.get(key);
  }

  async recordOutcome(providerId: string, ok: boolean): Promise<CircuitState> {
    this.outcomes.push({ providerId, ok });
    return this.circuits.get(providerId) ?? { state: 'closed' };
  }

  async circuit(providerId: string): Promise<CircuitState> {
    return this.circuits.get(providerId) ?? { state: 'closed' };
  }

  async reconcile(providerId: string, _rules: QuotaRule[], info: RateLimitInfo): Promise<void> {
    this.reconciled.push({ providerId, info });
  }

  async monthSpend(): Promise<SpendSummary> {
    return { month: '2026-01', calls: this.records.length, usd: this.spendUsd, baselineUsd: 0 };
  }

  async close(): Promise<void> {}
}
