/**
 * The MCP handshake behind a health check: initialize + tools/list over stdio (a child process we start and
 * always stop) or Streamable HTTP / SSE, bounded by a deadline. The only file of the health module that
 * imports the MCP SDK.
 */
import type { ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import crossSpawn from 'cross-spawn';

export interface ProbeOutcome {
  ok: boolean;
  toolCount?: number;
  /** Plain, one line; not yet scrubbed of env values (the caller does that). */
  error?: string;
  note?: string;
}

/** At most this many tools/list pages are followed (a server that pages forever is still counted). */
const MAX_TOOL_PAGES = 50;
const STDERR_TAIL_BYTES = 4096;
const CLIENT_INFO = { name: 'switchboard-health', version: '1' };

export interface StdioProbeSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  timeoutMs: number;
  /** Told the child's pid as soon as it runs (the lock file records it). */
  onSpawn?: (pid: number) => void;
}

/**
 * Starts the server, handshakes, lists tools, then stops it: stdin closed, then SIGTERM, then SIGKILL, sent to
 * its whole process group (npx and shell wrappers leave grandchildren otherwise).
 */
export async function probeStdio(spec: StdioProbeSpec): Promise<ProbeOutcome> {
  const posix = process.platform !== 'win32';
  let child: ChildProcess;
  try {
    // cross-spawn (what the SDK's own stdio transport uses) finds npx.cmd and friends on Windows.
    child = crossSpawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['pipe', 'pipe', 'pipe'], detached: posix, windowsHide: true });
  } catch (err) {
    return { ok: false, error: spawnError(spec.command, err) };
  }
  let stderrTail = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString('utf8')).slice(-STDERR_TAIL_BYTES);
  });
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    exit = { code, signal };
    resolve();
  }));
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  if (spawned) return { ok: false, error: spawnError(spec.command, spawned) };
  if (child.pid) spec.onSpawn?.(child.pid);

  const transport = new ChildTransport(child);
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  const deadline = withDeadline(spec.timeoutMs);
  try {
    const toolCount = await deadline.run(async (signal) => {
      await client.connect(transport, { signal, timeout: spec.timeoutMs });
      return countTools(client, signal, spec.timeoutMs);
    });
    return { ok: true, toolCount };
  } catch (err) {
    if (deadline.expired) return { ok: false, error: `no answer to the MCP handshake within ${spec.timeoutMs} ms` };
    // Give a dying process a moment so its exit status and last words are known.
    await Promise.race([exited, sleep(200)]);
    const lastWords = lastLine(stderrTail);
    if (exit) {
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      return { ok: false, error: `the server ${how} before the MCP handshake finished${lastWords ? `: ${lastWords}` : ''}` };
    }
    return { ok: false, error: `MCP handshake failed: ${errorText(err)}${lastWords ? ` (stderr: ${lastWords})` : ''}` };
  } finally {
    deadline.clear();
    await stopChild(child, exited, () => exit !== undefined, posix);
    await client.close().catch(() => undefined);
  }
}

export interface HttpProbeSpec {
  url: string;
  type: 'http' | 'sse';
  headers: Record<string, string>;
  timeoutMs: number;
}

/** Streamable HTTP (or SSE for `type: sse`) initialize + tools/list; when that fails, a plain GET. */
export async function probeHttp(spec: HttpProbeSpec): Promise<ProbeOutcome> {
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    return { ok: false, error: 'the url is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, error: `unsupported url scheme "${url.protocol}"` };
  const started = Date.now();
  const deadline = withDeadline(spec.timeoutMs);
  const requestInit = { headers: spec.headers };
  const transport = spec.type === 'sse' ? new SSEClientTransport(url, { requestInit }) : new StreamableHTTPClientTransport(url, { requestInit });
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  let handshakeError: string;
  try {
    const toolCount = await deadline.run(async (signal) => {
      await client.connect(transport, { signal, timeout: spec.timeoutMs });
      return countTools(client, signal, spec.timeoutMs);
    });
    return { ok: true, toolCount };
  } catch (err) {
    if (deadline.expired) return { ok: false, error: `no answer to the MCP handshake within ${spec.timeoutMs} ms` };
    handshakeError = errorText(err);
  } finally {
    deadline.clear();
    await client.close().catch(() => undefined);
  }

  const left = spec.timeoutMs - (Date.now() - started);
  if (left <= 0) return { ok: false, error: `MCP handshake failed: ${handshakeError}` };
  try {
    const res = await fetch(url, { method: 'GET', headers: spec.headers, signal: AbortSignal.timeout(left), redirect: 'manual' });
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 401 || res.status === 403) return { ok: false, error: `the server needs authorization (HTTP ${res.status}); MCP handshake failed: ${handshakeError}` };
    if (res.ok) return { ok: true, note: `answered a plain GET (HTTP ${res.status}); MCP handshake failed: ${handshakeError}` };
    return { ok: false, error: `HTTP ${res.status} to a plain GET; MCP handshake failed: ${handshakeError}` };
  } catch (err) {
    const timedOut = (err as Error)?.name === 'TimeoutError';
    return { ok: false, error: timedOut ? `no answer within ${spec.timeoutMs} ms` : `cannot connect: ${errorText(err)}` };
  }
}

async function countTools(client: Client, signal: AbortSignal, timeout: number): Promise<number> {
  // A server offering only resources or prompts answers tools/list with "method not found": it has 0 tools.
  if (!client.getServerCapabilities()?.tools) return 0;
  let count = 0;
  let cursor: string | undefined;
  for (let page = 0; page < MAX_TOOL_PAGES; page++) {
    const result = await client.listTools(cursor ? { cursor } : undefined, { signal, timeout });
    count += result.tools.length;
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return count;
}

/** A stdio transport over a child we spawned ourselves (so we own its process group and exit status). */
class ChildTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private readonly buffer = new ReadBuffer();
  private closed = false;

  constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => {
      try {
        this.buffer.append(chunk);
      } catch (err) {
        this.onerror?.(err as Error); // a line over 10 MB: the handshake fails on its deadline
        return;
      }
      for (;;) {
        let message: JSONRPCMessage | null;
        try {
          message = this.buffer.readMessage();
        } catch (err) {
          // A line that is not JSON-RPC (a server logging to stdout): reported, the rest still read.
          this.onerror?.(err as Error);
          continue;
        }
        if (!message) break;
        this.onmessage?.(message);
      }
    });
    child.stdin?.on('error', (err) => this.onerror?.(err));
    child.once('close', () => this.finish());
  }

  async start(): Promise<void> {
    // Already running: probeStdio waited for 'spawn'.
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child.stdin;
    if (!stdin || this.closed || stdin.destroyed) throw new Error('the server is not running');
    await new Promise<void>((resolve, reject) => {
      stdin.write(serializeMessage(message), (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {
    this.child.stdin?.end();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}

/** Stdin closed (MCP's polite shutdown), then SIGTERM, then SIGKILL; the group is always swept at the end. */
async function stopChild(child: ChildProcess, exited: Promise<void>, hasExited: () => boolean, posix: boolean): Promise<void> {
  const signalAll = (signal: NodeJS.Signals) => {
    try {
      if (posix && child.pid) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // ESRCH: already gone
    }
  };
  child.stdin?.end();
  if (!hasExited()) await Promise.race([exited, sleep(300)]);
  if (!hasExited()) {
    signalAll('SIGTERM');
    await Promise.race([exited, sleep(700)]);
  }
  // Grandchildren (npx's node, a shell's command) share the group and may outlive the leader.
  signalAll('SIGKILL');
  if (!hasExited()) await Promise.race([exited, sleep(1_000)]);
  child.stdout?.destroy();
  child.stderr?.destroy();
}

function withDeadline(ms: number): { run<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T>; clear(): void; expired: boolean } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const state = {
    expired: false,
    run<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          state.expired = true;
          controller.abort();
          reject(new Error('deadline'));
        }, ms);
      });
      return Promise.race([fn(controller.signal), timeout]);
    },
    clear() {
      clearTimeout(timer);
    },
  };
  return state;
}

function spawnError(command: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return `command not found: ${command}`;
  if (code === 'EACCES') return `command is not executable: ${command}`;
  return `cannot start ${command}: ${errorText(err)}`;
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.replace(/^MCP error -?\d+: /, '').slice(0, 300);
}

function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const last = lines[lines.length - 1] ?? '';
  return last.length > 300 ? last.slice(0, 299) + '…' : last;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
