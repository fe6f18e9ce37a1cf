/**
 * Turning whatever an attempt threw into one ProviderError with the right FailureClass, and the attempt runner
 * every provider uses. What the transport observed (a tripped limit, the HTTP status, the error body) wins over
 * the SDK's error type: four SDKs throw four different hierarchies, but a 429 is a 429.
 */
import { redact } from '../redact';
import { GuardedTransport } from './transport';
import { ProviderError, type CallLimits, type FailureClass, type GenerationRequest, type GenerationResult } from './types';

/** Thrown by the pure response mappers when a body is not what the protocol promises. */
export class MalformedResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedResponseError';
  }
}

const CONTEXT_LENGTH = /context[_ ]length|maximum context|context window|too many tokens|input token count|exceeds the maximum number of tokens|prompt is too long|input is too long|reduce the length/i;
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function classifyStatus(status: number, detail: string): FailureClass {
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'auth';
  if (status === 408) return 'timeout';
  if (status === 413) return 'context_length';
  if (status >= 500) return 'server_error';
  if ((status === 400 || status === 422) && CONTEXT_LENGTH.test(detail)) return 'context_length';
  return 'bad_request';
}

const STATUS_WORDS: Record<FailureClass, string> = {
  rate_limited: 'rate limited',
  server_error: 'server error',
  timeout: 'timed out',
  network: 'connection failed',
  malformed: 'malformed response',
  auth: 'authentication failed (check the API key)',
  bad_request: 'request rejected',
  context_length: 'prompt too long for the model context',
  cancelled: 'cancelled',
};

/** The provider's own error message from an error body (OpenAI, Gemini, HF shapes), one line, at most 200 chars. */
export function providerErrorDetail(body: string): string {
  let detail = body.trim();
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown; detail?: unknown };
    const e = parsed.error;
    if (typeof e === 'string') detail = e;
    else if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') detail = (e as { message: string }).message;
    else if (typeof parsed.message === 'string') detail = parsed.message;
    else if (typeof parsed.detail === 'string') detail = parsed.detail;
  } catch {
    // An SDK message wrapping the body ("got status: UNAVAILABLE. {...}"): read the JSON part.
    const brace = body.indexOf('{');
    if (brace > 0) {
      const inner = providerErrorDetail(body.slice(brace));
      if (inner && !inner.startsWith('{')) return inner;
    }
    // Not JSON: keep the raw text, unless it is an HTML page.
    if (/^\s*</.test(detail)) detail = '';
  }
  detail = detail.replace(/\s+/g, ' ').trim();
  return detail.length > 200 ? `${detail.slice(0, 197)}...` : detail;
}

function errorChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let cur: unknown = err;
  while (cur && chain.length < 6 && !chain.includes(cur)) {
    chain.push(cur);
    cur = (cur as { cause?: unknown }).cause;
  }
  return chain;
}

function isNetworkError(err: unknown): boolean {
  return errorChain(err).some((e) => {
    const o = e as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof o.code === 'string' && NETWORK_CODES.has(o.code)) return true;
    if (o.name === 'APIConnectionError') return true;
    return typeof o.message === 'string' && /fetch failed|terminated|other side closed|socket hang up|network error/i.test(o.message);
  });
}

/** The SDKs' "the body said error" errors: OpenAI/Together APIError carry `.error`; HF names it in the message. */
function isStreamErrorEvent(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const o = err as { error?: unknown; name?: unknown; message?: unknown };
  if (o.error && typeof o.error === 'object') return true;
  if (typeof o.name === 'string' && /api.?error/i.test(o.name)) return true;
  return typeof o.message === 'string' && /occurred while streaming|error event/i.test(o.message);
}

function sdkStatus(err: unknown): number | undefined {
  const o = err as { status?: unknown; httpResponse?: { status?: unknown } };
  if (typeof o?.status === 'number' && o.status >= 400) return o.status;
  if (typeof o?.httpResponse?.status === 'number' && o.httpResponse.status >= 400) return o.httpResponse.status;
  return undefined;
}

function describeRetry(ms: number | undefined): string {
  if (ms === undefined) return '';
  return ms >= 120_000 ? `; retry after ${Math.round(ms / 60_000)} min` : `; retry after ${ms} ms`;
}

/** Classifies anything an attempt threw. Never returns a raw SDK error; the message is plain and redacted. */
export function toProviderError(providerId: string, err: unknown, transport?: GuardedTransport): ProviderError {
  if (err instanceof ProviderError) return err;
  const rec = transport?.record;
  const details = { status: rec?.status, retryAfterMs: rec?.retryAfterMs, rateLimit: rec?.rateLimit };
  const make = (failure: FailureClass, text: string, status = details.status): ProviderError =>
    new ProviderError(providerId, failure, redact(`${providerId}: ${text}`), { ...details, status });

  if (rec?.tripped) return make(rec.tripped.failure, `${STATUS_WORDS[rec.tripped.failure]}: ${rec.tripped.message}`);

  const message = err instanceof Error ? err.message : String(err);
  const status = rec?.status !== undefined && rec.status >= 400 ? rec.status : sdkStatus(err);
  if (status !== undefined) {
    const detail = providerErrorDetail(rec?.errorBody || message);
    const failure = classifyStatus(status, `${rec?.errorBody ?? ''} ${message}`);
    const retry = failure === 'rate_limited' ? describeRetry(rec?.retryAfterMs) : '';
    return make(failure, `${STATUS_WORDS[failure]} (HTTP ${status})${retry}${detail ? ` — ${detail}` : ''}`, status);
  }

  if (err instanceof MalformedResponseError) return make('malformed', `${STATUS_WORDS.malformed}: ${err.message}`);
  if (err instanceof SyntaxError || /JSON|Unexpected end|Unexpected token|Incomplete JSON|parsing stream chunk/i.test(message)) {
    return make('malformed', `${STATUS_WORDS.malformed}: the body is not valid JSON`);
  }
  if (isNetworkError(err)) {
    return make('network', rec?.gotHeaders ? 'connection lost while the answer was arriving' : `${STATUS_WORDS.network} before any response`);
  }
  // A 200 stream that carried an error event (OpenAI/Together/HF shapes): the provider failed mid-generation.
  if (rec?.gotHeaders && isStreamErrorEvent(err)) {
    const bodyError = (err as { error?: unknown }).error;
    const detail = providerErrorDetail(bodyError && typeof bodyError === 'object' ? JSON.stringify({ error: bodyError }) : message);
    const failure: FailureClass = CONTEXT_LENGTH.test(message) ? 'context_length' : 'server_error';
    return make(failure, `error event in the stream${detail ? ` — ${detail}` : ''}`);
  }
  if ((err as { name?: unknown })?.name === 'AbortError' || (err as { name?: unknown })?.name === 'APIUserAbortError') {
    return make('cancelled', STATUS_WORDS.cancelled);
  }
  const text = String(message);
  return make(rec?.gotHeaders ? 'malformed' : 'network', rec?.gotHeaders ? `unexpected response: ${text}` : `request failed: ${text}`);
}

/**
 * Runs one attempt under a fresh guarded transport: maps any failure to a ProviderError, attaches the rate-limit
 * headers the transport saw, and clears every timer. A limit that tripped fails the attempt even if the SDK
 * swallowed the abort and returned something.
 */
export async function runAttempt(
  providerId: string,
  limits: CallLimits,
  attempt: (transport: GuardedTransport) => Promise<GenerationResult>,
  baseFetch?: typeof fetch,
): Promise<GenerationResult> {
  const transport = new GuardedTransport(limits, baseFetch);
  try {
    throwIfTripped(transport);
    const result = await attempt(transport);
    throwIfTripped(transport);
    if (transport.record.rateLimit) result.rateLimit = transport.record.rateLimit;
    return result;
  } catch (err) {
    throw toProviderError(providerId, err, transport);
  } finally {
    transport.dispose();
  }
}

function throwIfTripped(transport: GuardedTransport): void {
  const tripped = transport.record.tripped;
  if (tripped) throw new Error(tripped.message);
}

/** Rough token count from characters (≈4 chars per token) when a provider does not report usage. */
export function estimateTokens(chars: number): number {
  return Math.ceil(chars / 4);
}

export function requestChars(request: GenerationRequest): number {
  return request.messages.reduce((n, m) => n + m.content.length, 0);
}
