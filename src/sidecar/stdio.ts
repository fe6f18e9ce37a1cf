/**
 * MCP over stdio, hardened. The SDK's StdioServerTransport closes the session when one frame is too big and
 * drops malformed lines without a reply; a client then waits for an answer that never comes. This transport
 * reads newline-delimited frames itself and:
 *  - caps each frame (bytes over the cap are skipped up to the next newline, never buffered) and answers
 *    -32600 "frame too large", keeping the session;
 *  - answers invalid JSON with -32700 and a wrong JSON-RPC shape with -32600, with the request id when it can
 *    be recovered from the frame (null otherwise), as JSON-RPC 2.0 says;
 *  - hands every valid message to the SDK, which answers unknown methods (-32601) and bad params itself;
 *  - writes one message at a time and stops reading requests while the client is not reading answers
 *    (back-pressure), so a client that stops reading cannot make the sidecar buffer without bound;
 *  - treats a broken stdout (EPIPE, the reader gone) as the end of the session: it closes, and `serve` exits.
 * stdout carries only protocol; diagnostics go to the `log` callback (stderr).
 */
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ClientRequestSchema, JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const INVALID_PARAMS = -32602;

/** Large enough for a 10 MiB file (the policy's max_file_bytes) JSON-escaped inside write_file. */
export const DEFAULT_MAX_FRAME_BYTES = 24 * 1024 * 1024;
/** How much of an oversized frame is kept to find its id in. */
const HEAD_BYTES = 4096;

type JsonRpcId = string | number;

/** What a direct lane answers through. */
export interface DirectReply {
  /** Writes one already serialised JSON-RPC message (no newline), in order with everything else sent. */
  sendLine(line: string): Promise<void>;
}

/** A lane that answers some requests without the SDK (direct-tool-calls.ts). */
export interface DirectLane {
  /** Runs `message` and returns true, or returns false (nothing done) for the SDK to handle it. */
  take(message: unknown, reply: DirectReply): boolean;
  cancel(requestId: unknown): void;
  close(): void;
}

/** A JSON-RPC request id as MCP allows it: a string or a finite number (never null). */
export function isRequestId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

export interface LineTransportOptions {
  maxFrameBytes?: number;
  log?: (line: string) => void;
  /** Plain tool calls go here first; what it declines goes to the SDK. */
  direct?: DirectLane;
}

export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private readonly maxFrameBytes: number;
  private readonly log: (line: string) => void;
  private readonly direct: DirectLane | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Set while skipping the rest of an oversized frame; holds its first bytes. */
  private oversizedHead: Buffer | undefined;
  private oversizedBytes = 0;
  private closed = false;
  /** Set when stdout failed: the session is over even though stdin may still be open. */
  private broken: Error | undefined;
  /** The write in progress; each send waits for the one before it (messages are never interleaved). */
  private writing: Promise<void> = Promise.resolve();
  /** Sends waiting for stdout to drain; released (dropped) when the session closes. */
  private readonly drainWaiters = new Set<() => void>();
  /** True while stdout is full: no further request is taken, even from a chunk already read. */
  private outputBlocked = false;
  /** The unprocessed rest of a chunk read before stdout filled up. */
  private deferred: Buffer | undefined;
  /** stdin ended while requests were held back. */
  private endAfterDrain = false;

  constructor(private readonly input: Readable, private readonly output: Writable, options: LineTransportOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.log = options.log ?? (() => {});
    this.direct = options.direct;
  }

  async start(): Promise<void> {
    this.input.on('data', this.onData);
    this.input.on('end', this.onEnd);
    this.input.on('error', this.onInputError);
    // A client that goes away mid-write must not crash the process with EPIPE: it ends the session instead.
    this.output.on('error', this.onOutputError);
    this.output.on('close', this.onOutputClose);
  }

  /** Why the session ended when it was stdout that failed (undefined while open or after stdin ended). */
  get outputError(): Error | undefined {
    return this.broken;
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) return;
    return this.sendLine(JSON.stringify(message));
  }

  /** Sends one message already serialised as JSON (without its newline). */
  sendLine(json: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    const line = json + '\n';
    const mine = this.writing.then(() => this.writeLine(line));
    this.writing = mine;
    return mine;
  }

  private writeLine(line: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.output.write(line)) return Promise.resolve();
    // The client is not keeping up: take no more requests until it has read what was written.
    this.outputBlocked = true;
    this.input.pause();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.drainWaiters.delete(done);
        this.output.off('drain', done);
        this.outputBlocked = false;
        if (!this.closed) {
          const rest = this.deferred;
          this.deferred = undefined;
          if (rest) this.onData(rest);
          if (!this.outputBlocked && this.endAfterDrain) this.onEnd();
          else if (!this.outputBlocked) this.input.resume();
        }
        resolve();
      };
      this.drainWaiters.add(done);
      this.output.once('drain', done);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
    this.input.off('error', this.onInputError);
    this.output.off('close', this.onOutputClose);
    // Nothing more is read: a paused stdin no longer keeps the process alive.
    this.input.pause();
    this.direct?.close();
    for (const release of [...this.drainWaiters]) release();
    this.deferred = undefined;
    this.pending = [];
    this.pendingBytes = 0;
    this.oversizedHead = undefined;
    this.onclose?.();
  }

  private readonly onEnd = (): void => {
    // Requests still held back behind a full stdout are answered first; the session ends after them.
    if (this.outputBlocked) {
      this.endAfterDrain = true;
      return;
    }
    // A last frame without its newline still counts.
    if (this.pendingBytes > 0 && !this.oversizedHead) this.handleFrame(Buffer.concat(this.pending));
    void this.close();
  };

  private readonly onInputError = (err: Error): void => {
    this.onerror?.(err);
    void this.close();
  };

  private readonly onOutputError = (err: Error): void => {
    if (this.closed) return;
    this.broken = err;
    this.log(`stdout: ${err.message}; the client is gone, ending the session`);
    void this.close();
  };

  private readonly onOutputClose = (): void => {
    if (this.closed) return;
    this.broken = new Error('stdout was closed');
    this.log('stdout was closed; the client is gone, ending the session');
    void this.close();
  };

  private readonly onData = (chunk: Buffer | string): void => {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    while (buf.length > 0 && !this.closed) {
      if (this.outputBlocked) {
        // Kept for when stdout drains (at most one chunk: stdin is paused meanwhile).
        this.deferred = this.deferred ? Buffer.concat([this.deferred, buf]) : buf;
        return;
      }
      const nl = buf.indexOf(0x0a);
      const piece = nl === -1 ? buf : buf.subarray(0, nl);
      if (this.oversizedHead) {
        this.oversizedBytes += piece.length;
      } else if (this.pendingBytes + piece.length > this.maxFrameBytes) {
        const head = Buffer.concat([...this.pending, piece.subarray(0, HEAD_BYTES)]).subarray(0, HEAD_BYTES);
        this.oversizedHead = head;
        this.oversizedBytes = this.pendingBytes + piece.length;
        this.pending = [];
        this.pendingBytes = 0;
      } else if (piece.length > 0) {
        this.pending.push(piece);
        this.pendingBytes += piece.length;
      }
      if (nl === -1) break;
      buf = buf.subarray(nl + 1);
      if (this.oversizedHead) {
        this.rejectOversized(this.oversizedHead, this.oversizedBytes);
        this.oversizedHead = undefined;
        this.oversizedBytes = 0;
      } else {
        const frame = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
        this.pending = [];
        this.pendingBytes = 0;
        this.handleFrame(frame);
      }
    }
  };

  private rejectOversized(head: Buffer, bytes: number): void {
    const id = recoverRequestId(head.toString('utf8'));
    this.log(`rejected a ${bytes}-byte frame (limit ${this.maxFrameBytes})`);
    this.replyError(id, INVALID_REQUEST, `Request too large: ${bytes} bytes, the limit is ${this.maxFrameBytes} bytes`);
  }

  private handleFrame(frame: Buffer): void {
    const text = frame.toString('utf8').replace(/\r$/, '');
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.log(`parse error: ${(err as Error).message}`);
      this.replyError(recoverRequestId(text), PARSE_ERROR, `Parse error: ${(err as Error).message}`);
      return;
    }
    if (Array.isArray(value)) {
      // MCP (2025-06-18) dropped JSON-RPC batches; answer each request in it so no caller waits forever.
      const ids = value.map(idOf).filter((id): id is JsonRpcId => id !== undefined);
      if (ids.length === 0) this.replyError(null, INVALID_REQUEST, 'Invalid Request: batches are not supported');
      for (const id of ids) this.replyError(id, INVALID_REQUEST, 'Invalid Request: batches are not supported');
      return;
    }
    if (this.direct?.take(value, this)) return;
    const parsed = JSONRPCMessageSchema.safeParse(value);
    if (!parsed.success) {
      const id = idOf(value);
      const isNotification = id === undefined && isObject(value) && typeof value.method === 'string' && !('id' in value);
      this.log(`invalid JSON-RPC message${id !== undefined ? ` (id ${JSON.stringify(id)})` : ''}`);
      // JSON-RPC: a notification is never answered, even when it is wrong.
      if (!isNotification) this.replyError(id ?? null, INVALID_REQUEST, `Invalid Request: ${describeShapeProblem(value)}`);
      return;
    }
    const message = parsed.data as JSONRPCMessage;
    if ('method' in message && message.method === 'notifications/cancelled') this.direct?.cancel(message.params?.requestId);
    // The SDK answers a known method with bad params as an internal error carrying a zod dump; say -32602 plainly.
    if ('method' in message && 'id' in message) {
      const problem = paramsProblem(message.method, value);
      if (problem) {
        this.log(`invalid params for ${message.method}: ${problem}`);
        this.replyError(message.id, INVALID_PARAMS, `Invalid params for ${message.method}: ${problem}`);
        return;
      }
    }
    this.onmessage?.(message);
  }

  private replyError(id: JsonRpcId | null, code: number, message: string): void {
    // The SDK's message type requires an id; JSON-RPC requires null when it cannot be known, so write it raw.
    const reply = { jsonrpc: '2.0', id, error: { code, message } };
    void this.send(reply as unknown as JSONRPCMessage);
  }
}

interface ParamsSchema {
  safeParse(value: unknown): { success: true } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } };
}
let requestSchemas: Map<string, ParamsSchema> | undefined;

/** The first problem with a known request's params, or undefined when they fit (or the method is not known here). */
function paramsProblem(method: string, request: unknown): string | undefined {
  // The common case, checked by hand: a tool call with only a name and plain arguments always fits the schema,
  // and the SDK validates it again anyway; a second full parse was a noticeable part of a small call.
  if (method === 'tools/call' && plainToolCall(request)) return undefined;
  if (!requestSchemas) {
    requestSchemas = new Map();
    const options = (ClientRequestSchema as unknown as { options: Array<ParamsSchema & { shape: { method: { value: string } } }> }).options;
    for (const option of options) requestSchemas.set(option.shape.method.value, option);
  }
  const schema = requestSchemas.get(method);
  if (!schema) return undefined;
  const result = schema.safeParse(request);
  if (result.success) return undefined;
  const issue = result.error.issues[0];
  if (!issue) return 'invalid';
  const where = issue.path.map(String).join('.');
  return `${where ? `${where}: ` : ''}${issue.message}`;
}

function plainToolCall(request: unknown): boolean {
  const params = isObject(request) ? request.params : undefined;
  if (!isObject(params) || typeof params.name !== 'string') return false;
  for (const key in params) if (key !== 'name' && key !== 'arguments') return false;
  return params.arguments === undefined || (isObject(params.arguments) && Object.getPrototypeOf(params.arguments) === Object.prototype);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function idOf(value: unknown): JsonRpcId | undefined {
  if (!isObject(value)) return undefined;
  return isRequestId(value.id) ? value.id : undefined;
}

function describeShapeProblem(value: unknown): string {
  if (!isObject(value)) return 'a message must be a JSON object';
  if (value.jsonrpc !== '2.0') return '"jsonrpc" must be "2.0"';
  if ('method' in value && typeof value.method !== 'string') return '"method" must be a string';
  if ('id' in value && idOf(value) === undefined && value.id !== null) return '"id" must be a string or a number';
  if ('params' in value && !isObject(value.params) && !Array.isArray(value.params)) return '"params" must be an object';
  if (!('method' in value) && !('result' in value) && !('error' in value)) return 'a message needs "method", "result" or "error"';
  return 'not a valid JSON-RPC 2.0 message';
}

/**
 * Finds the top-level "id" of a JSON object that may be broken or cut short: walks the text tracking nesting
 * and strings, and reads the value of the first `"id":` key at depth 1. Returns null when there is none.
 */
export function recoverRequestId(text: string): JsonRpcId | null {
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '"') {
      const end = endOfString(text, i);
      if (end === -1) return null;
      if (depth === 1) {
        const key = text.slice(i + 1, end);
        let j = end + 1;
        while (j < n && /\s/.test(text[j]!)) j++;
        if (key === 'id' && text[j] === ':') return readIdValue(text, j + 1);
      }
      i = end + 1;
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    i++;
  }
  return null;
}

function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

function readIdValue(text: string, from: number): JsonRpcId | null {
  let i = from;
  while (i < text.length && /\s/.test(text[i]!)) i++;
  if (text[i] === '"') {
    const end = endOfString(text, i);
    if (end === -1) return null;
    try {
      return JSON.parse(text.slice(i, end + 1)) as string;
    } catch {
      return null;
    }
  }
  const m = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 40));
  if (!m) return null;
  // Only a complete number: "12" cut from "123" would answer the wrong request.
  const after = text[i + m[0].length];
  if (after === undefined) return null;
  return Number(m[0]);
}

/** Something `serveStdio` can connect: the McpServer from createServer (kept structural so tests can pass others). */
export interface Connectable {
  connect(transport: Transport): Promise<void>;
  close(): Promise<void>;
}

/**
 * Serves MCP on this process's stdin/stdout until stdin ends or stdout breaks (the result says which). Anything else that writes to stdout through
 * `console` is sent to stderr, so the protocol stream stays clean.
 */
export async function serveStdio(server: Connectable, options: LineTransportOptions & { onClose?: () => void } = {}): Promise<{ outputError?: Error }> {
  const toStderr = (...args: unknown[]): void => {
    process.stderr.write(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ') + '\n');
  };
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
  const transport = new LineTransport(process.stdin, process.stdout, options);
  await server.connect(transport);
  // connect() installed the SDK's onclose; chain ours after it so we learn when stdin ends.
  await new Promise<void>((resolve) => {
    const sdkOnClose = transport.onclose;
    transport.onclose = () => {
      sdkOnClose?.();
      resolve();
    };
  });
  options.onClose?.();
  await server.close().catch(() => {});
  return { outputError: transport.outputError };
}
