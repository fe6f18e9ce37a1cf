import { UserError } from '../errors';
import { redact } from '../redact';
import { cooldownKey } from './cooldown-key';
import type { Availability, Budget, Clock, Ledger, Principal, QuotaRule, QuotaState, ReserveOutcome, ReserveRequest, ThresholdEvent } from '../ledger/types';
import {
  DEFAULT_CALL_LIMITS,
  ProviderError,
  type CallLimits,
  type ChatMessage,
  type FailureClass,
  type FinishReason,
  type Provider,
  type ProviderConfig,
  type Tier,
} from '../providers/types';
import { resolveProviderConfig, resolveProviderKey, type ResolvedProviderConfig } from '../providers/env';
import { probeLocalServer } from '../providers/probe';
import { createProvider } from '../providers/registry';
import { DEFAULT_CONTEXT_TOKENS, type ProviderSpec, type RouterConfig } from './config';
import { selectCandidates, type Skip } from './candidates';
import { estimateCall, priceUsd, quotaAmounts } from './cost';
import { countsAgainstCircuit, decide, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry';

// Re-exported: callers have always found it on the router.
export { cooldownKey };

export interface RouteRequest {
  /** tests | docs | boilerplate | code | review | anything else (routed as auto). */
  task: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  stream?: boolean;
  /** A provider asked for by name, or "auto". */
  provider?: string;
  /** An agent's pinned model and its fallbacks. */
  model?: string;
  fallbackModels?: string[];
  /** Capabilities the model must list (when it lists any). */
  capabilities?: string[];
  /** Providers not to use in this route (verified delegation: those whose answers already failed the check). */
  exclude?: readonly string[];
  /** With `provider` named: use only this model of it (a repair goes back to the model that answered). */
  onlyModel?: string;
  /** Who asked (agent id, "cli", "mcp"), recorded in the ledger. */
  actor?: string;
  /** The team server's caller, recorded in the ledger and held to its budgets. */
  principal?: Principal;
  /** Spending caps this call is held to (per principal, team, provider); budget_usd_month is added for paid providers. */
  budgets?: Budget[];
  signal?: AbortSignal;
  limits?: Partial<CallLimits>;
}

export interface Attempt {
  provider: string;
  model: string;
  outcome: 'ok' | FailureClass;
  /** Redacted, one line. */
  message: string;
  ms: number;
  status?: number;
}

export interface QuotaLeft {
  metric: QuotaRule['metric'];
  window: QuotaRule['window'];
  limit: number;
  used: number;
  left: number;
  /** ISO time the window resets. */
  resetsAt: string;
}

export interface RouteResult {
  text: string;
  provider: string;
  model: string;
  tier: Tier;
  inputTokens: number;
  outputTokens: number;
  /** True when the provider reported no usage and tokens were estimated from characters. */
  usageEstimated: boolean;
  costUsd: number;
  /** What the premium baseline model would have cost for the same tokens. */
  baselineUsd: number;
  /** False when the output ended early (length limit, stream cut): it must not be passed off as whole. */
  complete: boolean;
  finishReason: FinishReason;
  quotaLeft: QuotaLeft[];
  attempts: Attempt[];
  skipped: Skip[];
  /** Quota thresholds (alerts) crossed by this call. */
  events: ThresholdEvent[];
}

/** No provider could take the task, or the request itself was refused: a plain message plus the whole story. */
export class RouteError extends UserError {
  constructor(message: string, code: string, readonly attempts: Attempt[], readonly skipped: Skip[]) {
    super(message, code);
    this.name = 'RouteError';
  }
}

/** Builds a Provider from its resolved configuration (key, base URL). */
export type ProviderFactory = (config: ProviderConfig) => Provider;

/** Is a local server answering, and what does it serve (cached by the implementation). */
export type LocalProbe = (baseUrl: string) => Promise<{ up: boolean; models: string[]; reason?: string }>;

export interface RouterOptions {
  config: RouterConfig;
  ledger: Ledger;
  /** Default: the providers registry (official SDKs). Simulations pass an in-process double. */
  providerFor?: ProviderFactory;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  /** Waits between retries; injectable so simulated time does not wait. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  probe?: LocalProbe;
  retry?: RetryPolicy;
  limits?: CallLimits;
  /** A reservation neither settled nor released by then (its holder died) is charged as used. */
  reservationTtlMs?: number;
}

/** A provider's resolved key and base URL, or why they are unusable. */
interface Access {
  config?: ResolvedProviderConfig;
  apiKey?: string;
  problem?: string;
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ProviderError('-', 'cancelled', 'cancelled'));
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(new ProviderError('-', 'cancelled', 'cancelled')); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The router: picks candidates, checks each against the shared ledger, and runs the one retry loop.
 * One instance per process; it holds no state a restart would lose (all of it is in the ledger).
 */
export class Router {
  private readonly providers = new Map<string, Provider>();
  private readonly clock: Clock;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly probe: LocalProbe;
  private readonly retry: RetryPolicy;
  private readonly limits: CallLimits;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly options: RouterOptions) {
    this.clock = options.clock ?? Date.now;
    this.sleep = options.sleep ?? abortableSleep;
    this.random = options.random ?? Math.random;
    this.probe = options.probe ?? ((url) => probeLocalServer(url, { now: this.clock }));
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.limits = options.limits ?? DEFAULT_CALL_LIMITS;
    this.env = options.env ?? process.env;
  }

  get config(): RouterConfig {
    return this.options.config;
  }

  async route(request: RouteRequest): Promise<RouteResult> {
    const { ledger } = this.options;
    const estimate = estimateCall(request.messages, request.maxTokens);
    const skipped: Skip[] = [];
    const attempts: Attempt[] = [];
    // Key and base URL once per provider per route (the environment may change between routes, not within one).
    const accessed = new Map<ProviderSpec, Access>();
    const access = (spec: ProviderSpec): Access => {
      let a = accessed.get(spec);
      if (!a) accessed.set(spec, (a = this.access(spec)));
      return a;
    };
    const config = await this.withLocalServers(request, skipped, access);
    const selection = selectCandidates(config, { ...request, estimate }, (p) => p.apiKeyEnv.length === 0 || access(p).apiKey !== undefined);
    skipped.push(...selection.skipped);

    // Providers out for the rest of this route (recorded once in skipped/attempts); the caller's exclusions are silent.
    const excluded = new Set<string>(request.exclude ?? []);
    let minContext = 0; // after a context_length refusal, only larger models are worth trying
    const limits: CallLimits = { ...this.limits, ...request.limits, signal: request.signal };

    for (const candidate of selection.candidates) {
      const { provider: spec, model } = candidate;
      if (excluded.has(spec.id)) continue;
      if (model.context <= minContext) {
        skipped.push({ provider: spec.id, model: model.id, reason: `context ${model.context} is not larger than the model that refused the prompt` });
        continue;
      }
      const { config: resolved, apiKey, problem } = access(spec);
      if (problem) {
        skipped.push({ provider: spec.id, reason: problem });
        excluded.add(spec.id);
        continue;
      }
      const estimatedAmounts = quotaAmounts(estimate.inputChars, estimate.inputTokens, estimate.outputTokens, candidate.estimatedUsd);
      const reservation = await this.reserveIfAvailable(spec, apiKey, {
        providerId: spec.id, principal: request.principal, rules: spec.quotas, amounts: estimatedAmounts, ttlMs: this.reservationTtl(limits),
        budgets: this.budgetsFor(spec, request),
      });
      if ('unavailable' in reservation) {
        skipped.push({ provider: spec.id, reason: reservation.unavailable });
        excluded.add(spec.id);
        continue;
      }
      if (!reservation.ok) {
        skipped.push({ provider: spec.id, reason: describeRefusal(reservation.blocking, candidate.estimatedUsd) });
        excluded.add(spec.id);
        continue;
      }

      const provider = this.providerInstance(resolved!);
      for (let retries = 0; ; retries++) {
        const t0 = performance.now();
        try {
          const out = await provider.generate(
            { model: model.id, messages: request.messages, maxTokens: request.maxTokens, temperature: request.temperature, stream: request.stream, task: request.task },
            limits,
          );
          const ms = Math.round(performance.now() - t0);
          const inputTokens = out.usage.inputTokens;
          const outputTokens = out.usage.outputTokens;
          const costUsd = priceUsd(model, inputTokens, outputTokens);
          const baselineUsd = priceUsd(config.baseline, inputTokens, outputTokens);
          attempts.push({ provider: spec.id, model: model.id, outcome: 'ok', message: out.complete ? 'ok' : `incomplete (${out.finishReason})`, ms });
          // Durable before the result is returned: a crash after this point loses no usage.
          const settled = await ledger.settle(reservation.reservationId, spec.quotas, {
            providerId: spec.id, model: model.id, tier: spec.tier, task: request.task, actor: request.actor, principal: request.principal, ok: true,
            amounts: quotaAmounts(estimate.inputChars, inputTokens, outputTokens, costUsd),
            inputTokens, outputTokens, costUsd, baselineUsd,
          });
          // A success resets the circuit; nothing to reset when the settlement saw none (one look at the ledger fewer).
          if (settled.circuitClean !== true) await ledger.recordOutcome(spec.id, true);
          let states = settled.states;
          if (out.rateLimit) {
            // After settling, so the provider's count (which includes this call) is not added to ours twice.
            await ledger.reconcile(spec.id, spec.quotas, out.rateLimit);
            states = await ledger.quota(spec.id, spec.quotas);
          }
          return {
            text: out.text, provider: spec.id, model: model.id, tier: spec.tier, inputTokens, outputTokens,
            usageEstimated: out.usageEstimated, costUsd, baselineUsd, complete: out.complete, finishReason: out.finishReason,
            quotaLeft: states.map(toQuotaLeft), attempts, skipped: dedupe(skipped), events: settled.events,
          };
        } catch (err) {
          const failure = asProviderError(spec.id, err);
          attempts.push({ provider: spec.id, model: model.id, outcome: failure.failure, message: oneLine(redact(failure.message, this.env)), ms: Math.round(performance.now() - t0), status: failure.status });
          if (countsAgainstCircuit(failure.failure)) await ledger.recordOutcome(spec.id, false);
          if (failure.rateLimit) await ledger.reconcile(spec.id, spec.quotas, failure.rateLimit);
          const action = request.signal?.aborted ? { kind: 'stop' as const } : decide({ failure: failure.failure, retriesSoFar: retries, retryAfterMs: failure.retryAfterMs }, this.retry, this.random);
          if (action.kind === 'retry') {
            try {
              await this.sleep(action.delayMs, request.signal);
              continue;
            } catch {
              await ledger.release(reservation.reservationId);
              throw new RouteError('cancelled', 'cancelled', attempts, dedupe(skipped));
            }
          }
          await ledger.release(reservation.reservationId);
          if (action.kind === 'stop') {
            const what = failure.failure === 'cancelled' || request.signal?.aborted ? 'cancelled' : `${spec.id} refused the request: ${oneLine(redact(failure.message, this.env))}`;
            throw new RouteError(what, failure.failure === 'bad_request' ? 'bad_request' : 'cancelled', attempts, dedupe(skipped));
          }
          if (action.kind === 'failover_larger_context') {
            minContext = Math.max(minContext, model.context);
          } else {
            excluded.add(spec.id);
            if (action.cooldownMs !== undefined) {
              const reason = failure.failure === 'auth' ? 'key rejected' : 'rate limited';
              await ledger.setCooldown(cooldownKey(spec.id, apiKey), this.clock() + action.cooldownMs, reason);
            }
          }
          break;
        }
      }
    }
    throw new RouteError(noProviderMessage(request.task, attempts, dedupe(skipped)), 'no_provider', attempts, dedupe(skipped));
  }

  /** Local servers are used only when they answer; one with no models configured serves what it has. */
  private async withLocalServers(request: RouteRequest, skipped: Skip[], accessFor: (spec: ProviderSpec) => Access): Promise<RouterConfig> {
    const config = this.options.config;
    const locals = config.providers.filter((p) => p.tier === 'local' && !p.disabled && config.routing.chain.includes(p.tier)
      && (!request.provider || request.provider === 'auto' || request.provider === p.id));
    if (!locals.length) return config;
    const replaced = new Map<string, ProviderSpec | null>();
    await Promise.all(locals.map(async (p) => {
      const access = accessFor(p);
      const url = access.config?.baseUrl;
      if (!url) { skipped.push({ provider: p.id, reason: access.problem ?? 'local provider has no baseUrl' }); replaced.set(p.id, null); return; }
      const probe = await this.probe(url);
      if (!probe.up) { skipped.push({ provider: p.id, reason: probe.reason ?? `not answering at ${url}` }); replaced.set(p.id, null); return; }
      if (!p.models.length) {
        replaced.set(p.id, { ...p, models: probe.models.map((id) => ({ id, input_per_mtok: 0, output_per_mtok: 0, context: DEFAULT_CONTEXT_TOKENS })) });
        if (!probe.models.length) skipped.push({ provider: p.id, reason: 'local server serves no models' });
      }
    }));
    if (!replaced.size) return config;
    const providers: ProviderSpec[] = [];
    for (const p of config.providers) {
      const r = replaced.get(p.id);
      if (r === null) continue;
      providers.push(r ?? p);
    }
    return { ...config, providers };
  }

  /**
   * The reservation, or the ledger-held reason the provider cannot be used right now (cooldown, open circuit:
   * shared by every process). In one step where the ledger offers it (the sql.js ledger: one lock and one look
   * at the shared file instead of a read and then a lock).
   */
  private async reserveIfAvailable(spec: ProviderSpec, apiKey: string | undefined, request: ReserveRequest): Promise<ReserveOutcome | { unavailable: string }> {
    const { ledger } = this.options;
    const key = cooldownKey(spec.id, apiKey);
    if (ledger.reserveIfAvailable) {
      const outcome = await ledger.reserveIfAvailable(request, key);
      if (!('unavailable' in outcome)) return outcome;
      const why = unavailableReason(outcome.unavailable, this.clock());
      if (why) return { unavailable: why };
      // Over by the router's clock (an injected one may differ from the ledger's): as if it had not been asked.
      return ledger.reserve(request);
    }
    // One read where the ledger offers it, else two (the circuit only when not cooling down).
    const now = this.clock();
    const both = ledger.availability ? await ledger.availability(key, spec.id) : undefined;
    const cooling = unavailableReason({ cooldown: both ? both.cooldown : await ledger.cooldown(key), circuit: { state: 'closed' } }, now);
    if (cooling) return { unavailable: cooling };
    const open = unavailableReason({ circuit: both ? both.circuit : await ledger.circuit(spec.id) }, now);
    return open ? { unavailable: open } : ledger.reserve(request);
  }

  /**
   * The budgets a call holds by reservation: the caller's, and budget_usd_month (global) for paid providers.
   * Held with the quota in one step, so concurrent processes cannot overshoot it (reading spend first could,
   * by about one call each).
   */
  private budgetsFor(spec: ProviderSpec, request: RouteRequest): Budget[] {
    const budgets = [...(request.budgets ?? [])];
    const monthly = this.options.config.routing.budget_usd_month;
    if (spec.tier === 'paid' && monthly !== undefined) budgets.push({ scope: 'global', limitUsd: monthly, window: 'month' });
    return budgets;
  }

  /** Key and base URL from the environment and router.yaml; a bad URL becomes a skip reason, not a crash. */
  private access(spec: ProviderSpec): Access {
    try {
      const config = resolveProviderConfig(spec, this.env);
      return { config, apiKey: config.apiKey };
    } catch (err) {
      // The key is still looked up: a bad base URL must be reported as such, not as "no API key".
      return { apiKey: resolveProviderKey(spec, this.env).apiKey, problem: oneLine(redact((err as Error).message, this.env)) };
    }
  }

  private providerInstance(config: ResolvedProviderConfig): Provider {
    const id = `${config.id}|${config.kind}|${config.baseUrl ?? ''}|${cooldownKey(config.id, config.apiKey)}`;
    let p = this.providers.get(id);
    if (!p) {
      p = (this.options.providerFor ?? createProvider)(config);
      this.providers.set(id, p);
    }
    return p;
  }

  private reservationTtl(limits: CallLimits): number {
    return this.options.reservationTtlMs ?? limits.totalDeadlineMs * (this.retry.maxRetries + 1) + (this.retry.maxRetries + 1) * this.retry.maxDelayMs;
  }
}

function unavailableReason({ cooldown, circuit }: Availability, now: number): string | undefined {
  if (cooldown && cooldown.untilMs > now) return `cooling down until ${new Date(cooldown.untilMs).toISOString()} (${cooldown.reason})`;
  if (circuit.state === 'open' && circuit.untilMs > now) return `circuit open after repeated failures, until ${new Date(circuit.untilMs).toISOString()}`;
  return undefined;
}

function asProviderError(providerId: string, err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  // The contract says providers only reject with ProviderError; anything else is treated as a broken answer.
  return new ProviderError(providerId, 'malformed', `unexpected error: ${(err as Error)?.message ?? String(err)}`);
}

function oneLine(s: string): string {
  const line = s.split('\n')[0]!.trim();
  return line.length > 300 ? line.slice(0, 297) + '...' : line;
}

function toQuotaLeft(s: QuotaState): QuotaLeft {
  return { metric: s.rule.metric, window: s.rule.window, limit: s.rule.limit, used: s.used, left: s.left, resetsAt: new Date(s.resetAtMs).toISOString() };
}

export function describeRefusal(s: QuotaState, estimatedUsd: number): string {
  if (!s.budget) return `quota would be exceeded: ${describeState(s)}`;
  const spent = `$${s.used.toFixed(4)} spent in ${new Date(s.windowStartMs).toISOString().slice(0, 7)}`;
  const held = s.reserved > 0 ? ` (+$${s.reserved.toFixed(4)} held by calls in flight)` : '';
  const what = s.budget.scope === 'global' ? 'budget_usd_month' : `the ${s.budget.scope} budget of "${s.budget.key}"`;
  return `over ${what}: ${spent}${held}, this call ~$${estimatedUsd.toFixed(4)}, budget $${s.rule.limit}`;
}

function describeState(s: QuotaState): string {
  const fmt = (n: number) => (s.rule.metric === 'usd' ? `$${n.toFixed(4)}` : String(Math.round(n * 100) / 100));
  return `${s.rule.metric}/${s.rule.window} ${fmt(s.used + s.reserved)} of ${fmt(s.rule.limit)} used, resets ${new Date(s.resetAtMs).toISOString()}`;
}

function dedupe(skips: Skip[]): Skip[] {
  const seen = new Set<string>();
  return skips.filter((s) => {
    const k = `${s.provider}|${s.model ?? ''}|${s.reason}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function noProviderMessage(task: string, attempts: Attempt[], skipped: Skip[]): string {
  const parts = [
    ...skipped.map((s) => `${s.provider}${s.model ? ` (${s.model})` : ''}: ${s.reason}`),
    ...attempts.filter((a) => a.outcome !== 'ok').map((a) => `${a.provider}: ${a.outcome} (${a.message})`),
  ];
  return `no provider could take this ${task} task${parts.length ? ': ' + parts.join('; ') : ' (no providers configured)'}`;
}
