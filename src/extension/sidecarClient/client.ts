/**
 * SidecarClient — the extension's own Switchboard sidecar for one workspace folder, spoken to over MCP/stdio
 * exactly as Claude Code does. The only host-side module that imports `@modelcontextprotocol/sdk`.
 *
 * API
 *   const client = new SidecarClient({ folder, sidecarPath, env, log });
 *   client.state                    'stopped' | 'starting' | 'ready' | 'restarting' | 'failed'
 *   client.onDidChangeState(e => …) e = { state, previous, error? }; a vscode.Event-compatible function
 *   await client.start()            spawns `node dist/sidecar.js serve --workspace <folder> --actor extension`
 *                                   with the editor's Node (process.execPath, ELECTRON_RUN_AS_NODE=1); resolves
 *                                   when the MCP handshake is done. Idempotent; also restarts a 'failed' client.
 *   await client.callTool(name, args, { signal, onProgress, timeoutMs })
 *                                   starts the sidecar if needed, waits while it (re)starts, and returns the
 *                                   tool's `structuredContent`, typed by the tool's name (src/sidecar/protocol) and
 *                                   checked against its output schema. An `isError` result throws SidecarToolError
 *                                   with the tool's plain message; a dead connection throws too (no retry: a
 *                                   delegation is not idempotent).
 *   await client.callToolWithText(name, args, options)  → { structured, text, notes } (the readable content too)
 *   await client.restart(reason)    stops and starts again with a fresh environment (e.g. after a key change).
 *   client.pid / client.startMs     the child's pid and how long the last start took (spawn → initialized).
 *   client.dispose()                stops the process (stdin closed, then SIGTERM, then SIGKILL) for good.
 *
 * If the process dies unexpectedly the client restarts it with exponential backoff (250 ms doubling to 30 s);
 * after MAX_CONSECUTIVE_CRASHES crashes without a stable period it gives up in state 'failed' until start() or
 * restart() is called again (the "Restart Sidecar" path). This file imports no `vscode`, so it also runs in
 * plain Node.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type * as vscode from 'vscode';
import { redact } from '../../core/redact';
// The one extension module that imports the protocol's values (its schemas, to check results); zod is in the
// bundle already through the MCP SDK. Everything else in src/extension imports its types only.
import { TOOL_DESCRIPTORS, type InputOf, type OutputOf, type ToolDescriptors, type ToolName } from '../../sidecar/protocol/catalog';
import { readToolResult, ToolCallError, type TypedToolResult } from '../../sidecar/protocol/result';

export type SidecarState = 'stopped' | 'starting' | 'ready' | 'restarting' | 'failed';

export interface SidecarStateChange {
  state: SidecarState;
  previous: SidecarState;
  /** Why the sidecar left 'ready' or could not start (already redacted). */
  error?: string;
}

/** The subset of vscode.LogOutputChannel the client writes to. */
export interface SidecarLog {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface SidecarClientOptions {
  /** Absolute path of the workspace folder this sidecar serves. */
  folder: string;
  /** Absolute path of the bundled dist/sidecar.js. */
  sidecarPath: string;
  /**
   * The child's environment, asked for at every (re)start so a changed key takes effect on restart.
   * The client adds ELECTRON_RUN_AS_NODE=1 (harmless under plain Node and code-server).
   */
  env: () => NodeJS.ProcessEnv | Promise<NodeJS.ProcessEnv>;
  log: SidecarLog;
  /** Name for log lines (default: the folder's base name). */
  name?: string;
  /** Node executable; defaults to the editor's own (process.execPath). */
  nodePath?: string;
  /** How long the spawn + MCP handshake may take. */
  startTimeoutMs?: number;
  /** First restart delay; doubles per consecutive crash up to MAX_BACKOFF_MS. */
  initialBackoffMs?: number;
}

export interface CallToolOptions {
  signal?: AbortSignal;
  /** Progress notifications the tool sends (the sidecar sends one at least every few seconds while delegating). */
  onProgress?: (progress: { progress: number; total?: number; message?: string }) => void;
  /** Request timeout; reset by each progress notification. Default 60 s. */
  timeoutMs?: number;
}

/** A tool answered with `isError: true`; the message is the tool's own plain text. */
export class SidecarToolError extends Error {
  constructor(
    readonly tool: string,
    message: string,
  ) {
    super(message);
    this.name = 'SidecarToolError';
  }
}

/** The sidecar is not available (stopped, failed, or the connection dropped). */
export class SidecarUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SidecarUnavailableError';
  }
}

/** A start that a restart or stop replaced before it finished. */
class SupersededStartError extends SidecarUnavailableError {
  constructor() {
    super('sidecar start superseded');
  }
}

const CLIENT_INFO = { name: 'switchboard-vscode', version: '0.1.0' };
/** Generous: a first start on a busy machine (cold disk cache, an editor and a browser competing) can take many seconds. */
const DEFAULT_START_TIMEOUT_MS = 45_000;
const DEFAULT_CALL_TIMEOUT_MS = 60_000;
const MAX_BACKOFF_MS = 30_000;
const MAX_CONSECUTIVE_CRASHES = 8;
/** A sidecar that stayed up this long is considered healthy again: the backoff starts over. */
const STABLE_AFTER_MS = 30_000;

interface Running {
  client: Client;
  transport: StdioClientTransport;
  readyAt: number;
}

export class SidecarClient implements vscode.Disposable {
  private currentState: SidecarState = 'stopped';
  private readonly emitter = new EventEmitter();
  private running: Running | undefined;
  /** The start in progress (or the last successful one); callTool waits on it. */
  private starting: Promise<Running> | undefined;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles the promise callers got while a restart waited out its backoff. */
  private pendingRestart: { resolve(r: Running): void; reject(e: unknown): void } | undefined;
  private consecutiveCrashes = 0;
  private generation = 0;
  private disposed = false;
  private lastStartMs: number | undefined;
  private lastErrorText: string | undefined;
  readonly name: string;

  constructor(private readonly options: SidecarClientOptions) {
    this.name = options.name ?? path.basename(options.folder);
  }

  get state(): SidecarState {
    return this.currentState;
  }

  get folder(): string {
    return this.options.folder;
  }

  /** The child's pid while one runs. */
  get pid(): number | undefined {
    return this.running?.transport.pid ?? undefined;
  }

  /** Milliseconds from spawn to a finished MCP handshake, for the last successful start. */
  get startMs(): number | undefined {
    return this.lastStartMs;
  }

  get lastError(): string | undefined {
    return this.lastErrorText;
  }

  /** vscode.Event-compatible: returns a disposable; `disposables` collects it when given. */
  readonly onDidChangeState = (listener: (e: SidecarStateChange) => unknown, thisArgs?: unknown, disposables?: vscode.Disposable[]): vscode.Disposable => {
    const bound = (e: SidecarStateChange) => listener.call(thisArgs, e);
    this.emitter.on('state', bound);
    const disposable = { dispose: () => void this.emitter.off('state', bound) };
    disposables?.push(disposable);
    return disposable;
  };

  /** Starts the sidecar unless it is running or starting; resolves once it answers MCP. */
  async start(): Promise<void> {
    await this.ensureRunning(true);
  }

  /** Stops the current process (if any) and starts a new one with a freshly computed environment. */
  async restart(reason: string): Promise<void> {
    if (this.disposed) throw new SidecarUnavailableError('the sidecar client was disposed');
    this.options.log.info(`[sidecar ${this.name}] restarting: ${reason}`);
    await this.stopProcess();
    this.consecutiveCrashes = 0;
    await this.ensureRunning(true);
  }

  /** The tool's structured result, typed and checked against its output schema (src/sidecar/protocol). */
  async callTool<N extends ToolName>(name: N, args: InputOf<N> = {} as InputOf<N>, options: CallToolOptions = {}): Promise<OutputOf<N>> {
    return (await this.callToolWithText(name, args, options)).structured;
  }

  /** Like callTool, plus the result's readable text (the generated content of `delegate`, for example). */
  async callToolWithText<N extends ToolName>(name: N, args: InputOf<N> = {} as InputOf<N>, options: CallToolOptions = {}): Promise<TypedToolResult<ToolDescriptors[N]>> {
    const descriptor = TOOL_DESCRIPTORS[name];
    const running = await this.runningForCall();
    options.signal?.throwIfAborted();
    const result = await running.client.callTool({ name, arguments: args as Record<string, unknown> }, undefined, {
      signal: options.signal,
      timeout: options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      resetTimeoutOnProgress: true,
      onprogress: options.onProgress ? (p) => options.onProgress!({ progress: p.progress, total: p.total, message: p.message }) : undefined,
    });
    try {
      // The first block is the content itself (delegate: the generated text); later blocks are notes about it.
      return readToolResult(descriptor, result);
    } catch (error) {
      if (error instanceof ToolCallError) throw new SidecarToolError(name, redact(error.message));
      throw error;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.restartTimer);
    void this.stopProcess().finally(() => {
      this.setState('stopped');
      this.emitter.removeAllListeners();
    });
  }

  /**
   * A connection for a tool call. A start that a restart replaced (a key changed meanwhile) is not a failure
   * for the caller: nothing was sent yet, so it waits for the newer start instead.
   */
  private async runningForCall(): Promise<Running> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.ensureRunning(false);
      } catch (error) {
        if (!(error instanceof SupersededStartError) || this.disposed || attempt >= 3) throw error;
      }
    }
  }

  /** Waits for a usable connection; `force` also revives a 'failed' or 'stopped' client. */
  private async ensureRunning(force: boolean): Promise<Running> {
    if (this.disposed) throw new SidecarUnavailableError('the sidecar client was disposed');
    if (this.running && this.currentState === 'ready') return this.running;
    if (this.starting && (this.currentState === 'starting' || this.currentState === 'restarting')) return this.starting;
    if (this.currentState === 'failed' && !force) {
      throw new SidecarUnavailableError(`the Switchboard sidecar failed to start${this.lastErrorText ? `: ${this.lastErrorText}` : ''}`);
    }
    if (this.currentState === 'failed') this.consecutiveCrashes = 0;
    return this.spawn(this.currentState === 'restarting' ? 'restarting' : 'starting');
  }

  private spawn(state: 'starting' | 'restarting'): Promise<Running> {
    clearTimeout(this.restartTimer);
    const generation = ++this.generation;
    this.setState(state);
    const attempt = this.connect(generation);
    this.starting = attempt;
    // Whoever waited during a backoff gets this attempt's outcome.
    const waiting = this.pendingRestart;
    this.pendingRestart = undefined;
    if (waiting) attempt.then(waiting.resolve, waiting.reject);
    attempt.then(
      (running) => {
        if (generation !== this.generation) return;
        this.running = running;
        this.lastErrorText = undefined;
        this.setState('ready');
      },
      (error: unknown) => {
        if (generation !== this.generation || this.disposed) return;
        this.lastErrorText = describe(error);
        this.options.log.error(`[sidecar ${this.name}] could not start: ${this.lastErrorText}`);
        this.scheduleRestart();
      },
    );
    return attempt;
  }

  private async connect(generation: number): Promise<Running> {
    const started = performance.now();
    const env = { ...(await this.options.env()), ELECTRON_RUN_AS_NODE: '1' };
    const transport = new StdioClientTransport({
      command: this.options.nodePath ?? process.execPath,
      args: [this.options.sidecarPath, 'serve', '--workspace', this.options.folder, '--actor', 'extension'],
      env: definedOnly(env),
      cwd: this.options.folder,
      stderr: 'pipe',
    });
    this.pipeStderr(transport, env);
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    const running: Running = { client, transport, readyAt: 0 };
    client.onclose = () => this.onClosed(running, generation);
    client.onerror = (error) => this.options.log.debug(`[sidecar ${this.name}] transport: ${redact(describe(error), env)}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
      await Promise.race([
        client.connect(transport, { timeout: timeoutMs }),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no MCP answer within ${timeoutMs} ms`)), timeoutMs))),
      ]);
    } catch (error) {
      await transport.close().catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (generation !== this.generation || this.disposed) {
      // Superseded by a restart or dispose while starting: this process is not wanted.
      await transport.close().catch(() => undefined);
      throw new SupersededStartError();
    }
    running.readyAt = Date.now();
    this.lastStartMs = performance.now() - started;
    this.options.log.info(`[sidecar ${this.name}] ready in ${this.lastStartMs.toFixed(0)} ms (pid ${transport.pid ?? '?'})`);
    return running;
  }

  private pipeStderr(transport: StdioClientTransport, env: NodeJS.ProcessEnv): void {
    let pending = '';
    transport.stderr?.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.options.log.info(`[sidecar ${this.name}] ${redact(line.replace(/^switchboard: /, ''), env)}`);
    });
  }

  private onClosed(running: Running, generation: number): void {
    if (generation !== this.generation || this.disposed || this.running !== running) return;
    this.running = undefined;
    this.starting = undefined;
    if (running.readyAt && Date.now() - running.readyAt >= STABLE_AFTER_MS) this.consecutiveCrashes = 0;
    this.lastErrorText = 'the sidecar process exited';
    this.options.log.warn(`[sidecar ${this.name}] process exited unexpectedly`);
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.disposed) return;
    this.consecutiveCrashes++;
    if (this.consecutiveCrashes > MAX_CONSECUTIVE_CRASHES) {
      this.options.log.error(`[sidecar ${this.name}] gave up after ${MAX_CONSECUTIVE_CRASHES} restarts; run "Switchboard: Restart Sidecar" or reload the window`);
      this.starting = undefined;
      this.setState('failed', this.lastErrorText);
      return;
    }
    const delay = Math.min(MAX_BACKOFF_MS, (this.options.initialBackoffMs ?? 250) * 2 ** (this.consecutiveCrashes - 1));
    this.options.log.info(`[sidecar ${this.name}] restarting in ${delay} ms (attempt ${this.consecutiveCrashes})`);
    const generation = ++this.generation;
    this.setState('restarting', this.lastErrorText);
    // Callers arriving during the backoff wait for the next start instead of failing.
    const deferred = new Promise<Running>((resolve, reject) => (this.pendingRestart = { resolve, reject }));
    deferred.catch(() => undefined);
    this.starting = deferred;
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (generation === this.generation && !this.disposed) void this.spawn('restarting').catch(() => undefined);
    }, delay);
  }

  private async stopProcess(): Promise<void> {
    this.generation++;
    clearTimeout(this.restartTimer);
    this.pendingRestart?.reject(new SidecarUnavailableError('the sidecar was stopped'));
    this.pendingRestart = undefined;
    const running = this.running;
    this.running = undefined;
    this.starting = undefined;
    if (running) {
      // client.close() closes stdin, then SIGTERM / SIGKILL after 2 s each (the SDK transport's sequence).
      await running.client.close().catch(() => undefined);
    }
    if (!this.disposed) this.setState('stopped');
  }

  private setState(state: SidecarState, error?: string): void {
    if (state === this.currentState) return;
    const previous = this.currentState;
    this.currentState = state;
    this.emitter.emit('state', { state, previous, ...(error ? { error } : {}) } satisfies SidecarStateChange);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
