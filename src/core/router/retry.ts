import type { FailureClass } from '../providers/types';

/**
 * The router's single retry loop decides from the failure class alone (the SDKs' own retries are off).
 * This table is the whole policy; it is pure so every row is tested without a network.
 */

export interface RetryPolicy {
  /** Retries of the same provider after the first attempt (rate limits and 5xx). */
  maxRetries: number;
  baseDelayMs: number;
  /** Longest wait for one retry; a Retry-After above it means "fail over" instead of waiting. */
  maxDelayMs: number;
  /** How long a provider/key is skipped by every process after it rejected the key. */
  authCooldownMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 2,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  authCooldownMs: 60 * 60_000,
};

export type RetryAction =
  /** Try the same provider and model again after the delay. */
  | { kind: 'retry'; delayMs: number }
  /** Move to the next candidate; cooldownMs set = every process skips this provider/key that long. */
  | { kind: 'failover'; cooldownMs?: number }
  /** Move on, but only to models with a larger context than the one that refused the prompt. */
  | { kind: 'failover_larger_context' }
  /** The request itself is wrong (or the caller gave up): no other provider will do better. */
  | { kind: 'stop' };

export interface FailureFacts {
  failure: FailureClass;
  /** Retries already made on this candidate (0 after the first attempt). */
  retriesSoFar: number;
  retryAfterMs?: number;
}

/** Exponential backoff with jitter in [50 %, 100 %] of the step, so processes that failed together spread out. */
export function backoffMs(retriesSoFar: number, policy: RetryPolicy, random: () => number): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retriesSoFar);
  return Math.round(step * (0.5 + 0.5 * random()));
}

export function decide(facts: FailureFacts, policy: RetryPolicy = DEFAULT_RETRY_POLICY, random: () => number = Math.random): RetryAction {
  const canRetry = facts.retriesSoFar < policy.maxRetries;
  switch (facts.failure) {
    case 'rate_limited': {
      const wait = facts.retryAfterMs;
      // A long wait (a daily quota gone) is not worth blocking on: others skip it until then, we fail over.
      if (wait !== undefined && wait > policy.maxDelayMs) return { kind: 'failover', cooldownMs: wait };
      if (!canRetry) return { kind: 'failover' };
      return { kind: 'retry', delayMs: wait !== undefined ? Math.max(0, Math.ceil(wait)) : backoffMs(facts.retriesSoFar, policy, random) };
    }
    case 'server_error':
      return canRetry ? { kind: 'retry', delayMs: Math.min(policy.maxDelayMs, facts.retryAfterMs ?? backoffMs(facts.retriesSoFar, policy, random)) } : { kind: 'failover' };
    // A timeout already cost a full deadline, a reset or a garbled body says the server is unwell: move on.
    case 'timeout':
    case 'network':
    case 'malformed':
      return { kind: 'failover' };
    case 'auth':
      return { kind: 'failover', cooldownMs: policy.authCooldownMs };
    case 'context_length':
      return { kind: 'failover_larger_context' };
    case 'bad_request':
    case 'cancelled':
      return { kind: 'stop' };
  }
}

/** Failures that say something about the provider's health (and so count toward its circuit breaker). */
export function countsAgainstCircuit(failure: FailureClass): boolean {
  return failure === 'server_error' || failure === 'timeout' || failure === 'network' || failure === 'malformed';
}
