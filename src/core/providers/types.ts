/**
 * The one provider interface. Each provider (one file each, under src/core/providers/) maps our request to its
 * official SDK and the SDK's answer back, with those mappings as pure functions tested offline.
 * The router owns retries and failover: providers make exactly one attempt and classify what went wrong.
 */

export type ProviderKind = 'openai' | 'gemini' | 'huggingface' | 'together' | 'openai-compatible' | 'switchboard';
export type Tier = 'local' | 'free' | 'paid';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface GenerationRequest {
  model: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  /** Stream the answer (SSE). Streaming lets the idle timeout see a stalled generation early. */
  stream?: boolean;
  /** The task kind being routed (a team server behind `kind: switchboard` routes by it again). */
  task?: string;
}

/** Provider-reported rate-limit state (x-ratelimit-* headers), used to reconcile the ledger. */
export interface RateLimitInfo {
  limitRequests?: number;
  remainingRequests?: number;
  limitTokens?: number;
  remainingTokens?: number;
  /** Milliseconds until the request / token window resets, when the provider says. */
  resetRequestsMs?: number;
  resetTokensMs?: number;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export type FinishReason = 'stop' | 'length' | 'content_filter' | 'incomplete' | 'other';

export interface GenerationResult {
  text: string;
  /** The model that answered, as the provider named it. */
  model: string;
  usage: Usage;
  /** True when the provider did not report usage and it was estimated from characters. */
  usageEstimated: boolean;
  finishReason: FinishReason;
  /** False when the output ended early (stream without its end marker, length limit): never pass it off as whole. */
  complete: boolean;
  rateLimit?: RateLimitInfo;
}

/** Limits every call runs under; all are enforced by the provider's transport, not trusted to the SDK. */
export interface CallLimits {
  /** Until response headers arrive. */
  headersTimeoutMs: number;
  /** Longest silence while the body is arriving. */
  idleTimeoutMs: number;
  /** The whole call, first byte to last. */
  totalDeadlineMs: number;
  /** Largest response body accepted. */
  maxResponseBytes: number;
  signal?: AbortSignal;
}

export const DEFAULT_CALL_LIMITS: CallLimits = {
  headersTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  totalDeadlineMs: 300_000,
  maxResponseBytes: 8 * 1024 * 1024,
};

/**
 * How a failed attempt is classified; the router decides from this alone.
 * - rate_limited: 429 (retryAfterMs when the provider said how long)
 * - server_error: 5xx
 * - timeout: headers timeout, idle timeout or total deadline
 * - network: connection refused / reset, before or during the body
 * - malformed: a body that is not what the protocol promises (truncated JSON, HTML, empty, no choices, over the byte cap)
 * - auth: 401 / 403 — cool the provider/key down
 * - bad_request: 400/404/422 — our request is wrong; do not retry anywhere
 * - context_length: the prompt is too long for this model; another model with a larger context may take it
 * - cancelled: the caller aborted
 */
export type FailureClass =
  | 'rate_limited'
  | 'server_error'
  | 'timeout'
  | 'network'
  | 'malformed'
  | 'auth'
  | 'bad_request'
  | 'context_length'
  | 'cancelled';

export class ProviderError extends Error {
  readonly failure: FailureClass;
  readonly providerId: string;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly rateLimit?: RateLimitInfo;

  constructor(providerId: string, failure: FailureClass, message: string, details: { status?: number; retryAfterMs?: number; rateLimit?: RateLimitInfo } = {}) {
    super(message);
    this.name = 'ProviderError';
    this.providerId = providerId;
    this.failure = failure;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.rateLimit = details.rateLimit;
  }
}

export interface ProviderConfig {
  id: string;
  kind: ProviderKind;
  tier: Tier;
  /** Resolved base URL (SWITCHBOARD_<ID>_BASE_URL over router.yaml's baseUrl over the SDK default). */
  baseUrl?: string;
  /** Resolved key; never logged. Local servers may have none. */
  apiKey?: string;
}

export interface Provider {
  readonly id: string;
  readonly kind: ProviderKind;
  /** One attempt. Resolves with the result or rejects with a ProviderError (never anything else). */
  generate(request: GenerationRequest, limits: CallLimits): Promise<GenerationResult>;
}
