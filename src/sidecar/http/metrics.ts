/** The team server's Prometheus metrics (prom-client), on a registry of its own. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RouteResult } from '../../core/router';

export class ServerMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({ name: 'switchboard_http_requests_total', help: 'HTTP requests by route and status code', labelNames: ['route', 'code'], registers: [this.registry] });
  readonly toolCalls = new Counter({ name: 'switchboard_tool_calls_total', help: 'MCP tool calls by tool and status (ok, error, rate_limited, unauthorized, auth_unavailable)', labelNames: ['tool', 'status'], registers: [this.registry] });
  readonly toolSeconds = new Histogram({ name: 'switchboard_tool_duration_seconds', help: 'MCP tool call duration', labelNames: ['tool'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers: [this.registry] });
  readonly providerSeconds = new Histogram({ name: 'switchboard_provider_latency_seconds', help: 'Provider attempt latency by provider and outcome', labelNames: ['provider', 'outcome'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [this.registry] });
  readonly tokens = new Counter({ name: 'switchboard_tokens_total', help: 'Tokens by provider and direction (input, output)', labelNames: ['provider', 'direction'], registers: [this.registry] });
  readonly costUsd = new Counter({ name: 'switchboard_cost_usd_total', help: 'Cost in USD by provider', labelNames: ['provider'], registers: [this.registry] });
  readonly quotaRemaining = new Gauge({ name: 'switchboard_quota_remaining', help: 'Quota left by provider, metric and window (as of the last call)', labelNames: ['provider', 'metric', 'window'], registers: [this.registry] });
  readonly fallbacks = new Counter({ name: 'switchboard_fallbacks_total', help: 'Delegations answered by another provider after a failed attempt, by the provider that failed', labelNames: ['provider'], registers: [this.registry] });
  readonly verifications = new Counter({ name: 'switchboard_verifications_total', help: 'Verification outcomes of delegations (hosted delegations are not verified on the server: skipped)', labelNames: ['status'], registers: [this.registry] });
  readonly refusals = new Counter({ name: 'switchboard_rate_limit_refusals_total', help: 'Calls refused by a per-principal limit (rpm, budget)', labelNames: ['reason'], registers: [this.registry] });
  readonly inFlight = new Gauge({ name: 'switchboard_in_flight_requests', help: 'MCP requests being handled', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'switchboard_' });
  }

  /** Everything a finished route tells: per-attempt latency, tokens, cost, quota left, fallbacks. */
  recordRoute(result: RouteResult): void {
    for (const a of result.attempts) {
      this.providerSeconds.observe({ provider: a.provider, outcome: a.outcome }, a.ms / 1000);
      if (a.outcome !== 'ok') this.fallbacks.inc({ provider: a.provider });
    }
    this.tokens.inc({ provider: result.provider, direction: 'input' }, result.inputTokens);
    this.tokens.inc({ provider: result.provider, direction: 'output' }, result.outputTokens);
    this.costUsd.inc({ provider: result.provider }, result.costUsd);
    for (const q of result.quotaLeft) this.quotaRemaining.set({ provider: result.provider, metric: q.metric, window: q.window }, q.left);
    this.verifications.inc({ status: 'skipped' });
  }

  recordFailedAttempts(attempts: ReadonlyArray<{ provider: string; outcome: string; ms: number }>): void {
    for (const a of attempts) this.providerSeconds.observe({ provider: a.provider, outcome: a.outcome }, a.ms / 1000);
  }
}
