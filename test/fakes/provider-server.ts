/**
 * Fake LLM provider server for tests and benchmarks (test code, not product).
 *
 * ONE loopback HTTP server (127.0.0.1, random port) speaking each wire protocol the way the official SDKs send it:
 *   - OpenAI-style chat completions: POST …/chat/completions, JSON or SSE (with `stream_options.include_usage`
 *     the usage chunk is sent). Used by openai, together-ai, openai-compatible and @huggingface/inference
 *     (its endpointUrl route is `<endpointUrl>/chat/completions` when the URL ends in /v1, else `/v1/chat/completions`).
 *   - Gemini: POST …/models/{model}:generateContent and …:streamGenerateContent?alt=sse.
 *   - GET …/models: the OpenAI-compatible model list the local-tier probe reads.
 *
 * Routes. The FIRST path segment is the "route" name, so one server can stand in for many providers:
 *   const server = await startFakeProviderServer();
 *   server.baseUrl('openai', 'cheap')   // http://127.0.0.1:PORT/cheap/v1  (route "cheap")
 *   server.baseUrl('gemini')            // http://127.0.0.1:PORT/gemini     (SDK appends /v1beta/models/…)
 *   server.baseUrl('huggingface', 'hf') // http://127.0.0.1:PORT/hf/v1
 * Point a provider at it with `SWITCHBOARD_<ID>_BASE_URL=<that URL>` or ProviderConfig.baseUrl.
 *
 * Faults. `server.enqueue(route | '*', fault, times = 1)` scripts the next request(s) of a route ('*' = any route;
 * a route's own queue is used before the '*' queue). `server.setDefault(route | '*', fault)` sets what happens when
 * no fault is queued (initially `{ kind: 'ok' }`). See `Fault` below for every kind; each one answers in the shape of
 * the protocol the request used (OpenAI error JSON vs Gemini error JSON, `finish_reason` vs `finishReason`…).
 *
 * Replies. `server.setReply({ text, usage, model })` (or the options of startFakeProviderServer) sets the answer.
 * `usage: null` omits usage from replies (to test estimation).
 *
 * Recording. `server.requests` lists every request: { route, protocol, method, path, query, headers, body, json, atMs }.
 * `server.count(route?)` counts them (per route or all); `server.reset()` clears log, queues, defaults and reply.
 * Header values are stored as sent (tests use dummy keys only).
 *
 * Other processes. `startFakeProviderServerInChild()` runs the same server in a child process (for multi-process
 * tests) and returns a client with the same operations as async calls over a small control API (`/__control/*`).
 * `server.close()` ends every open connection (including hung ones) and stops the server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';

export type WireProtocol = 'openai' | 'gemini' | 'models' | 'unknown';
export type SdkKind = 'openai' | 'together' | 'openai-compatible' | 'huggingface' | 'gemini';

export type Fault =
  /** Normal answer; `headers` adds response headers (e.g. x-ratelimit-*); `delayMs` waits before answering. */
  | { kind: 'ok'; headers?: Record<string, string>; delayMs?: number; text?: string }
  /** Success carrying x-ratelimit-* headers (OpenAI style: limit/remaining/reset for requests and tokens). */
  | { kind: 'rate_limit_headers'; headers?: Record<string, string> }
  /** 429 with `Retry-After: <seconds>`. */
  | { kind: 'rate_limit_seconds'; seconds: number }
  /** 429 with `Retry-After: <HTTP date seconds from now>`. */
  | { kind: 'rate_limit_date'; seconds: number }
  /** 429 with `retry-after-ms: <ms>`. */
  | { kind: 'rate_limit_ms'; ms: number }
  /** 429 with a day-long `Retry-After` (86400 s). */
  | { kind: 'rate_limit_day' }
  /** 429 with no hint at all. */
  | { kind: 'rate_limit_plain' }
  /** Any HTTP error status with the protocol's error JSON (e.g. 500, 502, 503, 504, 401, 403, 404). */
  | { kind: 'status'; status: number; message?: string; headers?: Record<string, string> }
  /** 400 because the prompt is longer than the model's context (OpenAI: code context_length_exceeded). */
  | { kind: 'context_length' }
  /** Socket destroyed before any response byte. */
  | { kind: 'reset_before_headers' }
  /** 200 + part of the body (JSON or SSE), then the socket is destroyed. */
  | { kind: 'reset_mid_stream' }
  /** Never answers (until the client gives up or the server closes). */
  | { kind: 'hang_before_headers' }
  /** Sends 200 headers, then nothing. */
  | { kind: 'headers_then_silence' }
  /** The body in `chunks` pieces, one every `intervalMs` (each gap below an idle timeout, total above a deadline). */
  | { kind: 'slow_drip'; intervalMs?: number; chunks?: number }
  /** 200 application/json whose body stops halfway (connection closed cleanly). */
  | { kind: 'truncated_json' }
  /** 200 text/html (a captive portal or proxy page). */
  | { kind: 'html' }
  /** 200 application/json with an empty body. */
  | { kind: 'empty_body' }
  /** 200 with `choices: []` (Gemini: `candidates: []`). */
  | { kind: 'no_choices' }
  /** 200 whose answer was cut by the token limit (finish_reason "length" / finishReason "MAX_TOKENS"). */
  | { kind: 'finish_length' }
  /** SSE that ends without `data: [DONE]` (Gemini: without a final chunk carrying finishReason). Non-stream: normal. */
  | { kind: 'sse_no_done' }
  /** SSE with an error event after the first chunk (non-stream requests get a 500). */
  | { kind: 'sse_error_event' }
  /** 200 with a body of `bytes` (default 16 MiB), far over a size cap. */
  | { kind: 'oversized'; bytes?: number };

export interface FakeReply {
  text: string;
  /** null = do not report usage. */
  usage: { inputTokens: number; outputTokens: number } | null;
  /** Model name reported back; default: the model the request named. */
  model?: string;
}

export interface RecordedRequest {
  route: string;
  protocol: WireProtocol;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
  json: unknown;
  /** For Gemini: the model from the path; for OpenAI style: body.model. */
  model?: string;
  stream: boolean;
  atMs: number;
}

export interface FakeServerOptions {
  reply?: Partial<FakeReply>;
}

const DEFAULT_REPLY: FakeReply = { text: 'Hello from the fake provider.', usage: { inputTokens: 11, outputTokens: 7 } };

export const OPENAI_RATE_LIMIT_HEADERS: Record<string, string> = {
  'x-ratelimit-limit-requests': '60',
  'x-ratelimit-remaining-requests': '59',
  'x-ratelimit-reset-requests': '1s',
  'x-ratelimit-limit-tokens': '150000',
  'x-ratelimit-remaining-tokens': '149984',
  'x-ratelimit-reset-tokens': '6m0s',
};

export class FakeProviderServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly queues = new Map<string, Fault[]>();
  private readonly defaults = new Map<string, Fault>();
  private reply: FakeReply;
  private readonly timers = new Set<NodeJS.Timeout>();
  port = 0;

  constructor(options: FakeServerOptions = {}) {
    this.reply = { ...DEFAULT_REPLY, ...options.reply };
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The base URL to give a provider of this SDK kind so that its requests land on `route`. */
  baseUrl(kind: SdkKind, route: string = kind): string {
    return kind === 'gemini' ? `${this.origin}/${route}` : `${this.origin}/${route}/v1`;
  }

  enqueue(route: string, fault: Fault, times = 1): void {
    const queue = this.queues.get(route) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.queues.set(route, queue);
  }

  setDefault(route: string, fault: Fault): void {
    this.defaults.set(route, fault);
  }

  setReply(reply: Partial<FakeReply>): void {
    this.reply = { ...this.reply, ...reply };
  }

  count(route?: string): number {
    return route === undefined ? this.requests.length : this.requests.filter((r) => r.route === route).length;
  }

  /** Completion requests only (not model-list probes) for a route. */
  completions(route?: string): RecordedRequest[] {
    return this.requests.filter((r) => (route === undefined || r.route === route) && (r.protocol === 'openai' || r.protocol === 'gemini'));
  }

  reset(): void {
    this.requests.length = 0;
    this.queues.clear();
    this.defaults.clear();
    this.reply = { ...DEFAULT_REPLY };
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private nextFault(route: string): Fault {
    for (const key of [route, '*']) {
      const queue = this.queues.get(key);
      if (queue && queue.length > 0) return queue.shift()!;
    }
    return this.defaults.get(route) ?? this.defaults.get('*') ?? { kind: 'ok' };
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', this.origin);
      if (url.pathname.startsWith('/__control/')) {
        this.control(url.pathname, body, res);
        return;
      }
      this.serve(req, res, url, body);
    });
  }

  private control(pathname: string, body: string, res: http.ServerResponse): void {
    const args = body ? (JSON.parse(body) as Record<string, unknown>) : {};
    let out: unknown = { ok: true };
    if (pathname === '/__control/enqueue') this.enqueue(args.route as string, args.fault as Fault, (args.times as number) ?? 1);
    else if (pathname === '/__control/default') this.setDefault(args.route as string, args.fault as Fault);
    else if (pathname === '/__control/reply') this.setReply(args.reply as Partial<FakeReply>);
    else if (pathname === '/__control/reset') this.reset();
    else if (pathname === '/__control/requests') out = this.requests;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string): void {
    const segments = url.pathname.split('/').filter(Boolean);
    const route = segments[0] ?? '';
    const method = req.method ?? 'GET';
    let protocol: WireProtocol = 'unknown';
    let model: string | undefined;
    let stream = false;
    let json: unknown;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {
      json = undefined;
    }
    const geminiMatch = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(url.pathname);
    if (method === 'POST' && url.pathname.endsWith('/chat/completions')) {
      protocol = 'openai';
      const b = (json ?? {}) as { model?: string; stream?: boolean };
      model = b.model;
      stream = b.stream === true;
    } else if (method === 'POST' && geminiMatch) {
      protocol = 'gemini';
      model = decodeURIComponent(geminiMatch[1]!);
      stream = geminiMatch[2] === 'streamGenerateContent';
    } else if (method === 'GET' && url.pathname.endsWith('/models')) {
      protocol = 'models';
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : (v ?? '');
    this.requests.push({
      route,
      protocol,
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
      json,
      model,
      stream,
      atMs: Date.now(),
    });
    if (protocol === 'unknown') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no such route ${url.pathname}` } }));
      return;
    }
    const fault = this.nextFault(route);
    new Responder(this, res, protocol, model ?? 'fake-model', stream, this.reply, (ms, fn) => this.later(ms, fn)).respond(fault);
  }
}

/** Writes one response for one request according to a fault, in the request's protocol. */
class Responder {
  constructor(
    private readonly owner: FakeProviderServer,
    private readonly res: http.ServerResponse,
    private readonly protocol: WireProtocol,
    private readonly model: string,
    private readonly stream: boolean,
    private readonly reply: FakeReply,
    private readonly later: (ms: number, fn: () => void) => void,
  ) {}

  respond(fault: Fault): void {
    const { res } = this;
    switch (fault.kind) {
      case 'ok':
        if (fault.delayMs) this.later(fault.delayMs, () => this.success({ headers: fault.headers, text: fault.text }));
        else this.success({ headers: fault.headers, text: fault.text });
        return;
      case 'rate_limit_headers':
        this.success({ headers: { ...OPENAI_RATE_LIMIT_HEADERS, ...fault.headers } });
        return;
      case 'rate_limit_seconds':
        this.error(429, 'Rate limit reached. Please try again later.', { 'retry-after': String(fault.seconds) });
        return;
      case 'rate_limit_date':
        this.error(429, 'Rate limit reached.', { 'retry-after': new Date(Date.now() + fault.seconds * 1000).toUTCString() });
        return;
      case 'rate_limit_ms':
        this.error(429, 'Rate limit reached.', { 'retry-after-ms': String(fault.ms) });
        return;
      case 'rate_limit_day':
        this.error(429, 'You exceeded your current quota for the day.', { 'retry-after': '86400' });
        return;
      case 'rate_limit_plain':
        this.error(429, 'Too many requests.');
        return;
      case 'status':
        this.error(fault.status, fault.message ?? http.STATUS_CODES[fault.status] ?? 'error', fault.headers);
        return;
      case 'context_length':
        if (this.protocol === 'gemini') this.error(400, 'The input token count (1048580) exceeds the maximum number of tokens allowed (1048576).');
        else
          this.json(400, {
            error: {
              message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
              type: 'invalid_request_error',
              param: 'messages',
              code: 'context_length_exceeded',
            },
          });
        return;
      case 'reset_before_headers':
        res.socket?.destroy();
        return;
      case 'reset_mid_stream': {
        const body = this.stream ? this.sseEvents(this.reply.text, 'done').join('') : JSON.stringify(this.successBody(this.reply.text, 'stop'));
        res.writeHead(200, { 'content-type': this.stream ? 'text/event-stream' : 'application/json' });
        res.write(body.slice(0, Math.max(1, Math.floor(body.length / 2))));
        this.later(20, () => res.socket?.destroy());
        return;
      }
      case 'hang_before_headers':
        return; // the server's close() destroys the socket
      case 'headers_then_silence':
        res.writeHead(200, { 'content-type': this.stream ? 'text/event-stream' : 'application/json' });
        res.flushHeaders();
        return;
      case 'slow_drip': {
        const intervalMs = fault.intervalMs ?? 100;
        const pieces = fault.chunks ?? 50;
        const body = this.stream ? this.sseEvents(this.reply.text, 'done').join('') : JSON.stringify(this.successBody(this.reply.text, 'stop'));
        const size = Math.max(1, Math.ceil(body.length / pieces));
        res.writeHead(200, { 'content-type': this.stream ? 'text/event-stream' : 'application/json' });
        res.flushHeaders();
        let offset = 0;
        const tick = (): void => {
          if (res.destroyed) return;
          res.write(body.slice(offset, offset + size));
          offset += size;
          if (offset >= body.length) res.end();
          else this.later(intervalMs, tick);
        };
        this.later(intervalMs, tick);
        return;
      }
      case 'truncated_json': {
        const body = JSON.stringify(this.successBody(this.reply.text, 'stop'));
        res.writeHead(200, { 'content-type': 'application/json' }).end(body.slice(0, Math.floor(body.length / 2)));
        return;
      }
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><html><body><h1>Welcome to the hotel Wi-Fi</h1></body></html>');
        return;
      case 'empty_body':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '0' }).end();
        return;
      case 'no_choices':
        if (this.stream) this.sse(this.protocol === 'gemini' ? [`data: ${JSON.stringify({ candidates: [], modelVersion: this.replyModel() })}\n\n`] : [`data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model: this.replyModel(), choices: [] })}\n\n`, 'data: [DONE]\n\n']);
        else this.json(200, this.protocol === 'gemini' ? { candidates: [], modelVersion: this.replyModel() } : { ...this.openaiBody('', 'stop'), choices: [] });
        return;
      case 'finish_length':
        if (this.stream) this.sse(this.sseEvents(this.reply.text, 'done', 'length'));
        else this.json(200, this.successBody(this.reply.text, 'length'));
        return;
      case 'sse_no_done':
        if (this.stream) this.sse(this.sseEvents(this.reply.text, 'no_done'));
        else this.success({});
        return;
      case 'sse_error_event':
        if (!this.stream) {
          this.error(500, 'The model crashed mid-generation.');
          return;
        }
        this.sse([
          this.sseEvents(this.reply.text, 'no_done')[0]!,
          this.protocol === 'gemini'
            ? `data: ${JSON.stringify({ error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } })}\n\n`
            : `data: ${JSON.stringify({ error: { message: 'The model is overloaded.', type: 'server_error', code: 'overloaded' } })}\n\n`,
        ]);
        return;
      case 'oversized':
        this.oversized(fault.bytes ?? 16 * 1024 * 1024);
        return;
    }
  }

  private replyModel(): string {
    return this.reply.model ?? this.model;
  }

  private success(opts: { headers?: Record<string, string>; text?: string }): void {
    const text = opts.text ?? this.reply.text;
    if (this.protocol === 'models') {
      this.json(200, { object: 'list', data: [{ id: 'fake-local-model', object: 'model', created: 1, owned_by: 'fake' }] }, opts.headers);
      return;
    }
    if (this.stream) this.sse(this.sseEvents(text, 'done'), opts.headers);
    else this.json(200, this.successBody(text, 'stop'), opts.headers);
  }

  private successBody(text: string, finish: 'stop' | 'length'): unknown {
    return this.protocol === 'gemini' ? this.geminiBody(text, finish) : this.openaiBody(text, finish);
  }

  private openaiBody(text: string, finish: 'stop' | 'length'): Record<string, unknown> {
    const u = this.reply.usage;
    return {
      id: 'chatcmpl-fake',
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: this.replyModel(),
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finish, logprobs: null }],
      ...(u ? { usage: { prompt_tokens: u.inputTokens, completion_tokens: u.outputTokens, total_tokens: u.inputTokens + u.outputTokens } } : {}),
    };
  }

  private geminiBody(text: string, finish: 'stop' | 'length' | null): Record<string, unknown> {
    const u = this.reply.usage;
    return {
      candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(finish ? { finishReason: finish === 'stop' ? 'STOP' : 'MAX_TOKENS' } : {}) }],
      ...(u && finish ? { usageMetadata: { promptTokenCount: u.inputTokens, candidatesTokenCount: u.outputTokens, totalTokenCount: u.inputTokens + u.outputTokens } } : {}),
      modelVersion: this.replyModel(),
    };
  }

  /** SSE events for `text` split in three parts. 'no_done' omits the end marker (Gemini: the finishReason chunk). */
  private sseEvents(text: string, ending: 'done' | 'no_done', finish: 'stop' | 'length' = 'stop'): string[] {
    const third = Math.ceil(text.length / 3) || 1;
    const parts = [text.slice(0, third), text.slice(third, 2 * third), text.slice(2 * third)];
    const events: string[] = [];
    if (this.protocol === 'gemini') {
      parts.forEach((part, i) => {
        const last = i === parts.length - 1;
        if (last && ending === 'no_done') return;
        events.push(`data: ${JSON.stringify(this.geminiBody(part, last ? finish : null))}\r\n\r\n`);
      });
      return events;
    }
    const chunk = (delta: Record<string, unknown>, finishReason: string | null, extra: Record<string, unknown> = {}): string =>
      `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model: this.replyModel(), choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }], ...extra })}\n\n`;
    parts.forEach((part, i) => events.push(chunk(i === 0 ? { role: 'assistant', content: part } : { content: part }, null)));
    events.push(chunk({}, finish));
    const u = this.reply.usage;
    if (u) events.push(`data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model: this.replyModel(), choices: [], usage: { prompt_tokens: u.inputTokens, completion_tokens: u.outputTokens, total_tokens: u.inputTokens + u.outputTokens } })}\n\n`);
    if (ending === 'done') events.push('data: [DONE]\n\n');
    return events;
  }

  private sse(events: string[], headers?: Record<string, string>): void {
    this.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
    for (const e of events) this.res.write(e);
    this.res.end();
  }

  private json(status: number, body: unknown, headers?: Record<string, string>): void {
    this.res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  }

  private error(status: number, message: string, headers?: Record<string, string>): void {
    const body =
      this.protocol === 'gemini'
        ? { error: { code: status, message, status: geminiStatus(status) } }
        : { error: { message, type: status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error', code: null } };
    this.json(status, body, headers);
  }

  private oversized(bytes: number): void {
    const { res } = this;
    res.writeHead(200, { 'content-type': this.stream ? 'text/event-stream' : 'application/json' });
    const filler = this.stream
      ? `data: ${JSON.stringify(this.protocol === 'gemini' ? this.geminiBody('x'.repeat(16 * 1024), null) : { id: 'c', object: 'chat.completion.chunk', created: 1, model: this.replyModel(), choices: [{ index: 0, delta: { content: 'x'.repeat(16 * 1024) }, finish_reason: null }] })}\n\n`
      : 'x'.repeat(64 * 1024);
    if (!this.stream) res.write('{"id":"chatcmpl-fake","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"');
    let sent = 0;
    // Respect back-pressure and stop as soon as the client hangs up.
    const pump = (): void => {
      while (sent < bytes && !res.destroyed) {
        sent += filler.length;
        if (!res.write(filler)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end(this.stream ? 'data: [DONE]\n\n' : '"},"finish_reason":"stop"}]}');
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
    void this.owner;
  }
}

function geminiStatus(status: number): string {
  if (status === 400) return 'INVALID_ARGUMENT';
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'PERMISSION_DENIED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 429) return 'RESOURCE_EXHAUSTED';
  if (status === 503) return 'UNAVAILABLE';
  if (status === 504) return 'DEADLINE_EXCEEDED';
  return 'INTERNAL';
}

export async function startFakeProviderServer(options: FakeServerOptions = {}): Promise<FakeProviderServer> {
  return new FakeProviderServer(options).listen();
}

/** The same server in a child process, driven over its control API. */
export interface ChildFakeServer {
  origin: string;
  pid: number;
  baseUrl(kind: SdkKind, route?: string): string;
  enqueue(route: string, fault: Fault, times?: number): Promise<void>;
  setDefault(route: string, fault: Fault): Promise<void>;
  setReply(reply: Partial<FakeReply>): Promise<void>;
  requests(): Promise<RecordedRequest[]>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeProviderServerInChild(timeoutMs = 15_000): Promise<ChildFakeServer> {
  const tsxCli = require.resolve('tsx/cli');
  const child: ChildProcess = spawn(process.execPath, [tsxCli, path.join(__dirname, 'provider-server.ts'), '--serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('fake provider server child did not start in time'));
    }, timeoutMs);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^listening (http:\/\/\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fake provider server child exited early (code ${code})`));
    });
  });
  const call = async (name: string, args: unknown = {}): Promise<unknown> => {
    const res = await fetch(`${origin}/__control/${name}`, { method: 'POST', body: JSON.stringify(args), signal: AbortSignal.timeout(5000) });
    return res.json();
  };
  return {
    origin,
    pid: child.pid!,
    baseUrl: (kind, route = kind) => (kind === 'gemini' ? `${origin}/${route}` : `${origin}/${route}/v1`),
    enqueue: async (route, fault, times = 1) => void (await call('enqueue', { route, fault, times })),
    setDefault: async (route, fault) => void (await call('default', { route, fault })),
    setReply: async (reply) => void (await call('reply', { reply })),
    requests: async () => (await call('requests')) as RecordedRequest[],
    reset: async () => void (await call('reset')),
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

if (require.main === module && process.argv.includes('--serve')) {
  void startFakeProviderServer().then((server) => {
    process.stdout.write(`listening ${server.origin}\n`);
    const stop = (): void => void server.close().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
