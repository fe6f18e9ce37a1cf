/**
 * The guarded fetch every provider hands to its SDK. Limits are enforced here, not trusted to the SDK:
 * headers timeout, idle timeout while the body arrives, total deadline, byte cap, caller cancellation.
 * It also records what the transport saw (status, rate-limit headers, Retry-After, the start of an error body,
 * whether an SSE stream reached `data: [DONE]`), so a failure can be classified from facts rather than from
 * whatever error type a given SDK chooses to throw.
 *
 * One GuardedTransport per attempt; call dispose() when the attempt is over so no timer outlives it.
 */
import type { CallLimits, FailureClass, RateLimitInfo } from './types';

export interface TransportRecord {
  /** Status of the last response whose headers arrived. */
  status?: number;
  contentType?: string;
  rateLimit?: RateLimitInfo;
  retryAfterMs?: number;
  /** The first limit that tripped (or the caller's cancellation); takes precedence over any SDK error. */
  tripped?: { failure: FailureClass; message: string };
  /** The first few KB of a non-2xx body, to tell e.g. a context-length 400 from other 400s. */
  errorBody: string;
  bytesReceived: number;
  /** An OpenAI-style SSE body contained its `data: [DONE]` end marker. */
  sawSseDone: boolean;
  /** A response arrived (headers), so a later failure happened during the body. */
  gotHeaders: boolean;
}

const ERROR_BODY_KEEP = 4096;
/** Where a request made by a long-lived SDK client carries its attempt's transport (see transportFetchOptions). */
const TRANSPORT = Symbol('switchboard.guardedTransport');
const SSE_DONE = /data:\s*\[DONE\]/;
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

export class GuardedTransport {
  readonly record: TransportRecord = { errorBody: '', bytesReceived: 0, sawSseDone: false, gotHeaders: false };
  private readonly controller = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly removeCallerListener: () => void;
  private disposed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private waitingForData = false;

  constructor(
    private readonly limits: CallLimits,
    private readonly baseFetch: typeof fetch = globalThis.fetch,
  ) {
    this.startTimer(limits.totalDeadlineMs, 'timeout', `no complete answer within the ${limits.totalDeadlineMs} ms deadline`);
    const caller = limits.signal;
    const onCallerAbort = (): void => this.trip('cancelled', 'cancelled by the caller');
    if (caller?.aborted) onCallerAbort();
    caller?.addEventListener('abort', onCallerAbort, { once: true });
    this.removeCallerListener = () => caller?.removeEventListener('abort', onCallerAbort);
  }

  /** The fetch to pass to an SDK (its `fetch` option). */
  readonly fetch: typeof fetch = async (input, init) => {
    if (this.record.tripped) throw abortError(this.record.tripped.message);
    // The SDK's own signal is forwarded by hand: AbortSignal.any costs ~45 µs per call on Node 20.
    const sdkSignal = init?.signal;
    if (sdkSignal) {
      if (sdkSignal.aborted) this.controller.abort(sdkSignal.reason);
      else sdkSignal.addEventListener('abort', () => this.controller.abort(sdkSignal.reason), { once: true });
    }
    const headersTimer = this.startTimer(this.limits.headersTimeoutMs, 'timeout', `no response headers within ${this.limits.headersTimeoutMs} ms`);
    let response: Response;
    try {
      response = await this.baseFetch(input, { ...init, signal: this.controller.signal });
    } finally {
      this.clearTimer(headersTimer);
    }
    return this.wrapResponse(response);
  };

  /** Marks the attempt failed for `failure` (first one wins) and aborts the request in flight. */
  trip(failure: FailureClass, message: string): void {
    if (this.disposed || this.record.tripped) return;
    this.record.tripped = { failure, message };
    this.controller.abort(abortError(message));
  }

  dispose(): void {
    this.disposed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.removeCallerListener();
  }

  private startTimer(ms: number, failure: FailureClass, message: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.trip(failure, message);
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private clearTimer(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  private async wrapResponse(response: Response): Promise<Response> {
    const { record, limits } = this;
    record.gotHeaders = true;
    record.status = response.status;
    record.contentType = response.headers.get('content-type') ?? undefined;
    record.rateLimit = parseRateLimitHeaders(response.headers);
    record.retryAfterMs = parseRetryAfterMs(response.headers);

    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > limits.maxResponseBytes) {
      this.trip('malformed', `response of ${declared} bytes is over the ${limits.maxResponseBytes}-byte cap`);
      void response.body?.cancel().catch(() => undefined);
      throw abortError(record.tripped?.message ?? 'response over the byte cap');
    }
    if (!response.body || NULL_BODY_STATUSES.has(response.status)) return response;

    const isSse = (record.contentType ?? '').includes('event-stream');
    const inspector = new ChunkInspector(this, response.status >= 400, isSse);
    const reader = response.body.getReader();
    if (!isSse) {
      // A plain body is read here in one go: cheaper than a wrapping stream, and every limit still applies.
      const chunks: Uint8Array[] = [];
      for (;;) {
        const chunk = await this.readChunk(reader);
        if (chunk.done) break;
        inspector.inspect(chunk.value, reader);
        chunks.push(chunk.value);
      }
      return new GuardedResponse(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), response) as unknown as Response;
    }
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const chunk = await this.readChunk(reader);
          if (chunk.done) controller.close();
          else {
            inspector.inspect(chunk.value, reader);
            controller.enqueue(chunk.value);
          }
        } catch (err) {
          controller.error(err);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new GuardedResponse(body, response) as unknown as Response;
  }

  /**
   * One read, under the idle timer. It runs only while we wait on the network, so a slow consumer is never blamed.
   * One timer per attempt, re-armed for each read (a stream brings hundreds of chunks; a timer each cost more).
   */
  private async readChunk(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>> {
    this.waitingForData = true;
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      const { idleTimeoutMs } = this.limits;
      this.idleTimer = setTimeout(() => {
        if (this.waitingForData) this.trip('timeout', `no data for ${idleTimeoutMs} ms while the answer was arriving`);
      }, idleTimeoutMs);
      this.timers.add(this.idleTimer);
    }
    try {
      return await reader.read();
    } finally {
      this.waitingForData = false;
    }
  }

  /** @internal used by ChunkInspector */
  get callLimits(): CallLimits {
    return this.limits;
  }
}

/** Counts bytes against the cap, keeps the start of an error body, and watches an SSE body for `data: [DONE]`. */
class ChunkInspector {
  private readonly decoder = new TextDecoder();
  /** The stream's last 16 bytes so far, so a marker split across chunks is still seen. */
  private sseTail: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly transport: GuardedTransport,
    private readonly isError: boolean,
    private readonly isSse: boolean,
  ) {}

  /** Throws (after tripping the transport) when the body goes over the byte cap. */
  inspect(bytes: Uint8Array, reader: ReadableStreamDefaultReader<Uint8Array>): void {
    const record = this.transport.record;
    const cap = this.transport.callLimits.maxResponseBytes;
    record.bytesReceived += bytes.byteLength;
    if (record.bytesReceived > cap) {
      this.transport.trip('malformed', `response is over the ${cap}-byte cap`);
      void reader.cancel().catch(() => undefined);
      throw abortError(record.tripped?.message ?? 'response over the byte cap');
    }
    if (this.isError && record.errorBody.length < ERROR_BODY_KEEP) {
      record.errorBody += this.decoder.decode(bytes, { stream: true }).slice(0, ERROR_BODY_KEEP - record.errorBody.length);
    } else if (this.isSse && !record.sawSseDone) {
      // The marker ends in "E]": a chunk without one (most of hundreds) is not decoded at all.
      const tail = this.sseTail;
      if (mayEndSseMarker(bytes, tail[tail.length - 1]) && SSE_DONE.test(Buffer.concat([tail, bytes]).toString('utf8'))) record.sawSseDone = true;
      this.sseTail = bytes.length >= 16 ? bytes.subarray(-16) : Buffer.concat([tail, bytes]).subarray(-16);
    }
  }
}

/** True when bytes hold an "E]" (the end of `[DONE]`), counting `before`, the byte ahead of them. */
function mayEndSseMarker(bytes: Uint8Array, before: number | undefined): boolean {
  for (let i = bytes.indexOf(0x5d); i !== -1; i = bytes.indexOf(0x5d, i + 1)) {
    if ((i > 0 ? bytes[i - 1] : before) === 0x45) return true;
  }
  return false;
}

/**
 * Per-request SDK options that route one request through `transport`. The OpenAI-style SDKs spread a request's
 * `fetchOptions` into the init they hand their `fetch`, so a client built once (with `dispatchToTransport` as its
 * fetch) can still give every attempt its own limits: building a client per attempt costs ~60 µs.
 */
export function transportFetchOptions(transport: GuardedTransport): Record<never, never> {
  // Typed as carrying nothing: the symbol is invisible to the SDKs' RequestInit types, and to fetch itself.
  return { [TRANSPORT]: transport };
}

/** The `fetch` for a long-lived SDK client: sends each request through the transport its init carries. */
export const dispatchToTransport: typeof fetch = (input, init) => {
  const transport = (init as Record<symbol, GuardedTransport | undefined> | undefined)?.[TRANSPORT];
  // Never fall back to an unguarded fetch: a request without limits could hang or run over the byte cap.
  if (!transport) return Promise.reject(new Error('internal error: an SDK request carried no guarded transport'));
  return transport.fetch(input, init);
};

/** Response's constructor, typed loosely: the lib types declare its members as fields, which getters cannot override. */
const ResponseBase: new (body: null, init: ResponseInit) => object = Response;

/**
 * The response handed to the SDK (a real Response: brand checks and `instanceof` pass), over the original's
 * headers and a body the transport guards: the bytes of a plain body it read whole, or the stream it inspects
 * as it passes. Building a new Response around either cost ~70 µs per call (a web stream, a header copy); this
 * makes one only for a caller that needs more than the bytes or the stream.
 */
class GuardedResponse extends ResponseBase {
  private used = false;
  /** A standard Response over the source, once a caller needs one (`body` of bytes, a body method of a stream). */
  private whole?: Response;

  constructor(
    private readonly source: Uint8Array | ReadableStream<Uint8Array>,
    private readonly original: Response,
  ) {
    super(null, { status: original.status, statusText: original.statusText });
  }

  get headers(): Headers {
    return this.original.headers;
  }

  get url(): string {
    return this.original.url;
  }

  get redirected(): boolean {
    return this.original.redirected;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.whole) return this.whole.body;
    if (this.source instanceof ReadableStream) return this.source;
    return this.standard().body;
  }

  get bodyUsed(): boolean {
    if (this.whole) return this.whole.bodyUsed;
    return this.source instanceof ReadableStream ? this.source.locked : this.used;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const data = this.takeBytes();
    if (!data) return this.standard().arrayBuffer();
    return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Uint8Array> {
    const data = this.takeBytes();
    return data ? new Uint8Array(data) : new Uint8Array(await this.standard().arrayBuffer());
  }

  async text(): Promise<string> {
    const data = this.takeBytes();
    if (!data) return this.standard().text();
    // As fetch decodes: UTF-8, a leading byte order mark dropped.
    const bom = data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? 3 : 0;
    return Buffer.from(data.buffer, data.byteOffset + bom, data.byteLength - bom).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async blob(): Promise<Blob> {
    const data = this.takeBytes();
    return data ? new Blob([data], { type: this.original.headers.get('content-type') ?? '' }) : this.standard().blob();
  }

  async formData(): Promise<FormData> {
    return this.standard().formData();
  }

  clone(): Response {
    if (this.bodyUsed) throw new TypeError('Response.clone: the body has already been read');
    if (this.whole || this.source instanceof ReadableStream) return withUrl(this.standard().clone(), this.original.url);
    return new GuardedResponse(this.source, this.original) as unknown as Response;
  }

  /** The bytes of a read-whole body, once (a fetch body is read at most once); undefined when a Response serves it. */
  private takeBytes(): Uint8Array | undefined {
    if (this.whole || this.source instanceof ReadableStream) return undefined;
    if (this.used) throw new TypeError('the response body has already been read');
    this.used = true;
    return this.source;
  }

  private standard(): Response {
    if (!this.whole && this.used) throw new TypeError('the response body has already been read');
    const { status, statusText, headers } = this.original;
    return (this.whole ??= new Response(this.source, { status, statusText, headers }));
  }
}

function withUrl(response: Response, url: string): Response {
  Object.defineProperty(response, 'url', { value: url });
  return response;
}

function abortError(message: string): Error {
  const err = new Error(message);
  err.name = 'AbortError';
  return err;
}

/** `retry-after-ms` (OpenAI), else `Retry-After` as seconds or an HTTP date. Undefined when absent or unreadable. */
export function parseRetryAfterMs(headers: Headers, nowMs: number = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Math.round(Number(ms));
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/**
 * A reset given as a duration ("1s", "6m0s", "20ms", "1h2m3.5s"), as plain seconds ("30", "0.5"),
 * or as a Unix time in seconds (some providers) — to milliseconds from now.
 */
export function parseResetMs(value: string | null, nowMs: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    // Over ~30 years of seconds can only be an absolute Unix time.
    return n > 1e9 ? Math.max(0, Math.round(n * 1000 - nowMs)) : Math.round(n * 1000);
  }
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(v)) !== null) {
    total += Number(m[1]) * unit[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === v.length && matched > 0 ? Math.round(total) : undefined;
}

function intHeader(headers: Headers, ...names: string[]): number | undefined {
  for (const name of names) {
    const v = headers.get(name);
    if (v !== null && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  }
  return undefined;
}

/** x-ratelimit-* (OpenAI: -requests/-tokens suffixes; Together and others: bare limit/remaining/reset for requests). */
export function parseRateLimitHeaders(headers: Headers, nowMs: number = Date.now()): RateLimitInfo | undefined {
  const info: RateLimitInfo = {
    limitRequests: intHeader(headers, 'x-ratelimit-limit-requests', 'x-ratelimit-limit'),
    remainingRequests: intHeader(headers, 'x-ratelimit-remaining-requests', 'x-ratelimit-remaining'),
    limitTokens: intHeader(headers, 'x-ratelimit-limit-tokens'),
    remainingTokens: intHeader(headers, 'x-ratelimit-remaining-tokens'),
    resetRequestsMs: parseResetMs(headers.get('x-ratelimit-reset-requests') ?? headers.get('x-ratelimit-reset'), nowMs),
    resetTokensMs: parseResetMs(headers.get('x-ratelimit-reset-tokens'), nowMs),
  };
  for (const key of Object.keys(info) as (keyof RateLimitInfo)[]) if (info[key] === undefined) delete info[key];
  return Object.keys(info).length > 0 ? info : undefined;
}
