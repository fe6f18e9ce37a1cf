import type { RateLimitInfo, Tier } from '../providers/types';

/**
 * The quota ledger's contract, shared by the router and everything that shows quota.
 * Two implementations with the same semantics: the sql.js file at $SWITCHBOARD_HOME/ledger.sqlite shared by the
 * processes of one machine (default), and PostgreSQL (SWITCHBOARD_LEDGER_URL) shared by a whole team.
 */

export type QuotaMetric = 'requests' | 'input_chars' | 'tokens' | 'usd';
export type QuotaWindow = 'minute' | 'day' | 'month';

/** A quota as data (router.yaml). `reset_tz` is an IANA zone; Gemini's day resets at midnight America/Los_Angeles. */
export interface QuotaRule {
  metric: QuotaMetric;
  window: QuotaWindow;
  limit: number;
  reset_tz?: string;
}

export type Amounts = Partial<Record<QuotaMetric, number>>;

export interface QuotaState {
  rule: QuotaRule;
  /** Settled usage in the current window, plus expired reservations never settled or released (charged). */
  used: number;
  /** Held by open reservations in the current window. */
  reserved: number;
  /** limit - used - reserved, never below 0. */
  left: number;
  /** (used + reserved) / limit. */
  fraction: number;
  windowStartMs: number;
  resetAtMs: number;
  /** Set when this state is a budget's (rule is then its usd/month counter). */
  budget?: { scope: BudgetScope; key: string };
}

/** Who a call is for: a team server's token id or JWT subject, and their team; local sidecars use none. */
export interface Principal {
  id: string;
  team?: string;
}

export type BudgetScope = 'principal' | 'team' | 'provider' | 'global';

/**
 * A spending cap in US dollars per UTC calendar month, enforced by reservation: a call is admitted only if what
 * was spent in the month (with the estimates of expired, never-settled reservations: charged) plus what open
 * reservations hold plus this call's estimate (`amounts.usd`) stays within `limitUsd`. Every settled call counts its cost against its provider, its principal and its team
 * (and the global total), so a budget set later sees the month's spend so far. `routing.budget_usd_month` is
 * the global one (the router adds it for paid providers).
 */
export interface Budget {
  scope: BudgetScope;
  /** Principal id, team name or provider id. Default: the request's own; ignored for 'global'. */
  key?: string;
  limitUsd: number;
  window: 'month';
}

export interface ReserveRequest {
  providerId: string;
  /** Recorded with the reservation and the call; budgets per principal and team apply to it. */
  principal?: Principal;
  rules: QuotaRule[];
  /** Held by this reservation as well as the quota rules; one that would go over refuses the call. */
  budgets?: Budget[];
  /** What the call is expected to consume (estimated before the call). */
  amounts: Amounts;
  /**
   * A reservation not settled or released by then is charged (its holder died mid-call, and the provider most
   * likely served and billed it): its amounts count as used in the windows containing its creation, until a late
   * settle (which records the real usage instead) or release removes it.
   */
  ttlMs?: number;
}

export type ReserveOutcome =
  | { ok: true; reservationId: string; states: QuotaState[] }
  | { ok: false; blocking: QuotaState; states: QuotaState[] };

/** A provider's cooldown (for one key) and circuit, as the router checks them before each call. */
export interface Availability {
  cooldown?: Cooldown;
  circuit: CircuitState;
}

/** reserveIfAvailable()'s outcome: reserve()'s, or the provider's availability when it is cooling down or its circuit is open. */
export type AvailableReserveOutcome = ReserveOutcome | { ok: false; unavailable: Availability };

/** What settle() reports: threshold events, the states after the call and, where the ledger says, circuit news. */
export interface Settlement {
  events: ThresholdEvent[];
  states: QuotaState[];
  /**
   * True when the ledger saw no failure count or open circuit for the provider as it settled, so recording this
   * success would change nothing (the router then skips recordOutcome). Undefined: not known, record it.
   */
  circuitClean?: boolean;
}

/** What a finished call really used; recorded durably before the result reaches the caller. */
export interface CallRecord {
  providerId: string;
  model: string;
  tier: Tier;
  task?: string;
  actor?: string;
  principal?: Principal;
  ok: boolean;
  amounts: Amounts;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** What the premium baseline model would have cost for the same tokens (savings reporting). */
  baselineUsd: number;
  /**
   * Idempotency key (defaults to the reservation id): settling a call whose id is already recorded changes
   * nothing, so a caller that crashed or retried after a settle can never count the same call twice.
   */
  callId?: string;
}

export interface ThresholdEvent {
  providerId: string;
  rule: QuotaRule;
  threshold: number;
  fraction: number;
}

export interface Cooldown {
  key: string;
  untilMs: number;
  reason: string;
}

export type CircuitState = { state: 'closed' } | { state: 'open'; untilMs: number } | { state: 'half-open' };

export interface SpendSummary {
  /** Calendar month (UTC) the figures cover, e.g. "2026-11". */
  month: string;
  calls: number;
  usd: number;
  baselineUsd: number;
}

export interface Ledger {
  /**
   * Holds the call's estimate. The sql.js ledger admits a burst of calls with one key against a quota lease
   * (leases.ts): one reservation holding several calls' estimates, so others may see up to that much reserved
   * (at most 1% of what was left) until the burst ends or the ledger closes.
   */
  reserve(request: ReserveRequest): Promise<ReserveOutcome>;
  /**
   * Replaces the reservation with the real usage. The call counts durably when it resolves: its record is on
   * disk, or (sql.js) its reservation's or lease's is, which stands for it — charged at its expiry — if a crash
   * loses the settlement.
   */
  settle(reservationId: string, rules: QuotaRule[], record: CallRecord): Promise<Settlement>;
  /** Gives a reservation back (the call failed before using anything). */
  release(reservationId: string): Promise<void>;
  quota(providerId: string, rules: QuotaRule[]): Promise<QuotaState[]>;
  setCooldown(key: string, untilMs: number, reason: string): Promise<void>;
  cooldown(key: string): Promise<Cooldown | undefined>;
  recordOutcome(providerId: string, ok: boolean): Promise<CircuitState>;
  circuit(providerId: string): Promise<CircuitState>;
  /** cooldown(key) and circuit(providerId) in one read, where a ledger can (the router asks both before each call). */
  availability?(cooldownKey: string, providerId: string): Promise<Availability>;
  /**
   * availability() and reserve() in one step, where a ledger can: a provider cooling down (for this key) or with
   * its circuit open is refused with its availability, and nothing is reserved; otherwise, reserve().
   */
  reserveIfAvailable?(request: ReserveRequest, cooldownKey: string): Promise<AvailableReserveOutcome>;
  /** Provider-reported rate-limit headers win over our count when they say less is left. */
  reconcile(providerId: string, rules: QuotaRule[], info: RateLimitInfo): Promise<void>;
  monthSpend(): Promise<SpendSummary>;
  close(): Promise<void>;
}

/** Injectable clock so windows, resets and cooldowns are tested without waiting. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();
