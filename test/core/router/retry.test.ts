import assert from 'node:assert/strict';
import { backoffMs, countsAgainstCircuit, decide, DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../../src/core/router/retry';
import type { FailureClass } from '../../../src/core/providers/types';

const policy: RetryPolicy = { maxRetries: 2, baseDelayMs: 100, maxDelayMs: 20_000, authCooldownMs: 3_600_000 };
const half = () => 0.5;

describe('router retry policy', () => {
  it('maps every failure class to one action (first attempt)', () => {
    const table: Record<FailureClass, string> = {
      rate_limited: 'retry',
      server_error: 'retry',
      timeout: 'failover',
      network: 'failover',
      malformed: 'failover',
      auth: 'failover',
      bad_request: 'stop',
      context_length: 'failover_larger_context',
      cancelled: 'stop',
    };
    for (const [failure, kind] of Object.entries(table)) {
      assert.equal(decide({ failure: failure as FailureClass, retriesSoFar: 0 }, policy, half).kind, kind, failure);
    }
  });

  it('fails over once retries are used up (429 and 5xx)', () => {
    assert.deepEqual(decide({ failure: 'server_error', retriesSoFar: 2 }, policy, half), { kind: 'failover' });
    assert.deepEqual(decide({ failure: 'rate_limited', retriesSoFar: 2, retryAfterMs: 10 }, policy, half), { kind: 'failover' });
  });

  it('honours Retry-After within the cap, and fails over with a cooldown when it is longer', () => {
    assert.deepEqual(decide({ failure: 'rate_limited', retriesSoFar: 0, retryAfterMs: 1500 }, policy, half), { kind: 'retry', delayMs: 1500 });
    assert.deepEqual(decide({ failure: 'rate_limited', retriesSoFar: 0, retryAfterMs: 0 }, policy, half), { kind: 'retry', delayMs: 0 });
    assert.deepEqual(decide({ failure: 'rate_limited', retriesSoFar: 0, retryAfterMs: 20_000 }, policy, half), { kind: 'retry', delayMs: 20_000 });
    assert.deepEqual(decide({ failure: 'rate_limited', retriesSoFar: 0, retryAfterMs: 86_400_000 }, policy, half), { kind: 'failover', cooldownMs: 86_400_000 });
    // A 5xx with Retry-After waits at most the cap.
    assert.deepEqual(decide({ failure: 'server_error', retriesSoFar: 0, retryAfterMs: 60_000 }, policy, half), { kind: 'retry', delayMs: 20_000 });
  });

  it('cools a provider/key down on auth errors', () => {
    assert.deepEqual(decide({ failure: 'auth', retriesSoFar: 0 }, policy, half), { kind: 'failover', cooldownMs: 3_600_000 });
  });

  it('backs off exponentially with jitter in [50 %, 100 %] of the step, capped', () => {
    assert.equal(backoffMs(0, policy, () => 0), 50);
    assert.equal(backoffMs(0, policy, () => 1), 100);
    assert.equal(backoffMs(3, policy, () => 1), 800);
    assert.equal(backoffMs(20, policy, () => 1), 20_000);
    for (let i = 0; i < 200; i++) {
      const d = backoffMs(2, policy, Math.random);
      assert.ok(d >= 200 && d <= 400, String(d));
    }
    const r = decide({ failure: 'server_error', retriesSoFar: 1 }, policy, () => 0);
    assert.deepEqual(r, { kind: 'retry', delayMs: 100 });
  });

  it('counts only health failures toward the circuit breaker', () => {
    assert.deepEqual(
      (['rate_limited', 'server_error', 'timeout', 'network', 'malformed', 'auth', 'bad_request', 'context_length', 'cancelled'] as FailureClass[]).filter(countsAgainstCircuit),
      ['server_error', 'timeout', 'network', 'malformed'],
    );
    assert.equal(DEFAULT_RETRY_POLICY.maxDelayMs, 20_000);
  });
});
