import { randomUUID } from 'node:crypto';
import { METRICS } from './rules';
import type { Amounts, QuotaMetric, QuotaState } from './types';

/**
 * Quota leases: how the sql.js ledger admits a burst of calls without one disk wait each.
 *
 * A durable reservation costs an fdatasync of the shared log (0.3–1.5 ms on common disks, and it slows
 * everything else on the machine while it runs). When calls with the same key (provider, cooldown key, rules,
 * budgets) come in a burst, the ledger makes one reservation that holds several calls' estimates — a lease —
 * and admits the next calls against it in memory. Each call's settlement still goes to the shared log at once
 * (so other processes see the usage), but needs no fdatasync of its own: the lease is on disk, and if a power
 * cut loses the settlements, the lease is charged in full at its expiry, like any reservation whose holder
 * died. Quota is never under-counted; a crash over-counts by at most the lease's unused part.
 *
 * Bounds, so a crash costs little and quiet use sees no leases:
 * - only for a call that follows another with the same key within LEASE_BURST_MS;
 * - at most LEASE_CALLS calls' estimates, and at most LEASE_SHARE of what is left in every window and budget
 *   the call counts against (no lease when that is under two calls: tight quotas always reserve per call);
 * - the unused part is given back once LEASE_IDLE_MS pass with no call on it, when the ledger closes, and when
 *   a later call does not fit in it.
 *
 * This module is the in-memory book: which leases this process holds, what is left in each, which calls were
 * admitted against which. The ledger writes the rows (sqljs-ledger.ts).
 */

export const LEASE_CALLS = 8;
export const LEASE_SHARE = 0.01;
export const LEASE_BURST_MS = 1_000;
export const LEASE_IDLE_MS = 1_000;
/** Keys whose last call time is remembered for the burst test, at most. */
const MAX_KEYS = 256;

export interface Lease {
  /** The reservation row's id (and `<id>#<counter>` for its budget holds). */
  readonly id: string;
  readonly key: string;
  /** The counters its rows are in: the provider's (all metrics) and its budgets' (usd). */
  readonly providerId: string;
  readonly budgetCounters: readonly string[];
  readonly expiresMs: number;
  /** Held by the row and not admitted to a call yet. */
  readonly remaining: Required<Amounts>;
  /** Calls admitted against it and not settled or released yet. */
  outstanding: number;
  /** No more calls are admitted against it; its row goes when the last outstanding one ends. */
  closed: boolean;
  /** The row's background fdatasync: true once it is on disk. */
  synced: Promise<boolean>;
  idleTimer?: NodeJS.Timeout;
}

/** A call admitted against a lease: its reservation id is the sub id. */
export interface LeasedCall {
  readonly lease: Lease;
  readonly amounts: Required<Amounts>;
}

function full(amounts: Amounts): Required<Amounts> {
  return { requests: amounts.requests ?? 0, input_chars: amounts.input_chars ?? 0, tokens: amounts.tokens ?? 0, usd: amounts.usd ?? 0 };
}

/**
 * How many calls of `amounts` a lease may hold, given the states the call counts against (before it), at most
 * `most`; 1 means no lease.
 */
export function leaseCalls(states: QuotaState[], amounts: Amounts, most = LEASE_CALLS): number {
  let calls = most;
  for (const s of states) {
    const need = amounts[s.rule.metric] ?? 0;
    if (need > 0) calls = Math.min(calls, Math.floor((s.left * LEASE_SHARE) / need));
  }
  return calls >= 2 ? calls : 1;
}

/** What `calls` calls of `amounts` hold together. */
export function scaled(amounts: Amounts, calls: number): Required<Amounts> {
  const out = full(amounts);
  for (const m of METRICS) out[m] *= calls;
  return out;
}

export function fits(remaining: Required<Amounts>, amounts: Amounts): boolean {
  return METRICS.every((m) => (amounts[m] ?? 0) <= remaining[m] + 1e-9 * Math.max(1, Math.abs(remaining[m])));
}

export class LeaseBook {
  private readonly active = new Map<string, Lease>();
  private readonly calls = new Map<string, LeasedCall>();
  private readonly lastCallMs = new Map<string, number>();
  private readonly all = new Set<Lease>();

  /**
   * @param onIdle a lease nobody uses any more (closed, nothing outstanding, row still there): delete its row.
   */
  constructor(private readonly onIdle: (lease: Lease) => void) {}

  /** True when a lease is worth taking for this call (one came with the same key just before); notes the call. */
  inBurst(key: string, now: number): boolean {
    const last = this.lastCallMs.get(key);
    this.lastCallMs.delete(key);
    if (this.lastCallMs.size >= MAX_KEYS) this.lastCallMs.delete(this.lastCallMs.keys().next().value!);
    this.lastCallMs.set(key, now);
    return last !== undefined && now - last >= 0 && now - last <= LEASE_BURST_MS;
  }

  hasActive(key: string): boolean {
    return this.active.has(key);
  }

  /**
   * The key's lease when this call fits in it and has its whole ttl before the lease expires. A lease a call
   * does not fit in is closed (the caller takes a new one).
   */
  usable(key: string, amounts: Amounts, now: number, ttlMs: number): Lease | undefined {
    const lease = this.active.get(key);
    if (!lease) return undefined;
    if (!lease.closed && now + ttlMs <= lease.expiresMs && fits(lease.remaining, amounts)) return lease;
    this.close(lease);
    return undefined;
  }

  /** Admits a call against the lease; its reservation id. */
  admit(lease: Lease, amounts: Amounts): string {
    const id = randomUUID();
    const own = full(amounts);
    for (const m of METRICS) lease.remaining[m] -= own[m];
    lease.outstanding++;
    clearTimeout(lease.idleTimer);
    lease.idleTimer = undefined;
    this.calls.set(id, { lease, amounts: own });
    return id;
  }

  /** Adds a lease whose row is being written (closing the key's previous one) and admits the first call. */
  add(lease: Omit<Lease, 'outstanding' | 'closed' | 'idleTimer'>, amounts: Amounts): { lease: Lease; reservationId: string } {
    const previous = this.active.get(lease.key);
    const added: Lease = { ...lease, outstanding: 0, closed: false };
    this.active.set(lease.key, added);
    this.all.add(added);
    if (previous) this.close(previous);
    return { lease: added, reservationId: this.admit(added, amounts) };
  }

  /** A lease whose row was never written (its change failed): forgotten with its calls. */
  discard(lease: Lease): void {
    for (const [id, call] of this.calls) if (call.lease === lease) this.calls.delete(id);
    this.gone(lease);
  }

  /**
   * What this process's live leases hold in a counter and no call uses yet: free for its own calls, so what it
   * reports as reserved leaves it out (another process sees it held until the lease is given back).
   */
  unused(counter: string, metric: QuotaMetric, now: number): number {
    let sum = 0;
    for (const lease of this.all) {
      if (lease.expiresMs <= now) continue;
      if (lease.providerId === counter) sum += lease.remaining[metric];
      else if (metric === 'usd' && lease.budgetCounters.includes(counter)) sum += lease.remaining.usd;
    }
    return sum;
  }

  call(reservationId: string): LeasedCall | undefined {
    return this.calls.get(reservationId);
  }

  /** True when settling this call should delete the lease's row rather than shrink it (it is the last one). */
  endsLease(call: LeasedCall): boolean {
    const { lease } = call;
    return lease.outstanding === 1 && (lease.closed || !fits(lease.remaining, call.amounts));
  }

  /** A call was settled (its estimate left the row: `rowGone` when the row went with it). */
  settled(reservationId: string, rowGone: boolean): void {
    const call = this.calls.get(reservationId);
    if (!call) return;
    this.calls.delete(reservationId);
    const { lease } = call;
    lease.outstanding--;
    if (rowGone) this.gone(lease);
    else if (!fits(lease.remaining, call.amounts)) this.close(lease);
    else this.afterChange(lease);
  }

  /** A call was released: what it held goes back to the lease. */
  released(reservationId: string): boolean {
    const call = this.calls.get(reservationId);
    if (!call) return false;
    this.calls.delete(reservationId);
    const { lease } = call;
    lease.outstanding--;
    for (const m of METRICS) lease.remaining[m] += call.amounts[m];
    this.afterChange(lease);
    return true;
  }

  /** Every lease whose row is still there (for close), with their timers stopped and no more calls admitted. */
  closeAll(): Lease[] {
    for (const lease of this.all) {
      clearTimeout(lease.idleTimer);
      lease.closed = true;
    }
    this.active.clear();
    return [...this.all];
  }

  /** The row is gone (or is being deleted): forget the lease. The book holds only leases whose row is there. */
  gone(lease: Lease): void {
    lease.closed = true;
    clearTimeout(lease.idleTimer);
    this.all.delete(lease);
    if (this.active.get(lease.key) === lease) this.active.delete(lease.key);
  }

  get size(): number {
    return this.all.size;
  }

  private close(lease: Lease): void {
    lease.closed = true;
    if (this.active.get(lease.key) === lease) this.active.delete(lease.key);
    this.afterChange(lease);
  }

  /** After a change: an unused closed lease is given back now, an unused open one after LEASE_IDLE_MS. */
  private afterChange(lease: Lease): void {
    if (lease.outstanding > 0 || !this.all.has(lease)) return;
    if (lease.closed) {
      clearTimeout(lease.idleTimer);
      this.onIdle(lease);
      return;
    }
    clearTimeout(lease.idleTimer);
    lease.idleTimer = setTimeout(() => {
      lease.idleTimer = undefined;
      if (lease.outstanding === 0 && this.all.has(lease)) this.close(lease);
    }, LEASE_IDLE_MS);
    lease.idleTimer.unref();
  }
}
