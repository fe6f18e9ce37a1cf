/** A sidecar spoken to in raw frames over its stdin/stdout: every line it writes is kept as written and parsed. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { childEnv, SIDECAR, type Scratch } from './helpers';

export interface Reply {
  jsonrpc: string;
  id: string | number | null;
  result?: unknown;
  error?: { code: number; message: string };
}

export class RawSidecar {
  readonly child: ChildProcessWithoutNullStreams;
  readonly replies: Reply[] = [];
  /** Every line of stdout as it was written. */
  readonly lines: string[] = [];
  readonly junk: string[] = [];
  stderr = '';
  private buffer = '';
  private waiters: Array<() => void> = [];

  constructor(scratch: Scratch, env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [SIDECAR, 'serve', '--workspace', scratch.workspace], { env: childEnv(scratch, env), stdio: 'pipe' });
    this.child.stdout.on('data', (d: Buffer) => {
      this.buffer += d.toString('utf8');
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) !== -1) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        this.lines.push(line);
        try {
          this.replies.push(JSON.parse(line) as Reply);
        } catch {
          this.junk.push(line); // anything on stdout that is not a JSON-RPC frame is a bug
        }
        for (const w of this.waiters.splice(0)) w();
      }
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString('utf8')));
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.child.stdin.write(data, (err) => (err ? reject(err) : resolve())));
  }

  async waitFor(pred: (r: Reply) => boolean, timeoutMs = 10_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.replies.find(pred);
      if (found) return found;
      if (this.child.exitCode !== null) throw new Error(`sidecar exited (${this.child.exitCode}); stderr: ${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching reply within ${timeoutMs} ms; got ${JSON.stringify(this.replies.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private pings = 0;
  /**
   * Sends a ping and waits for its answer (and, when given, for a reply with `expectId`: replies may come out of
   * order, a tool call finishing after the ping); returns every other reply received since `since`.
   */
  async ping(since = this.replies.length, expectId?: string | number | null): Promise<Reply[]> {
    const id = `ping-${++this.pings}`;
    await this.write(JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' }) + '\n');
    const pong = await this.waitFor((r) => r.id === id);
    assert.deepEqual(pong.result, {});
    if (expectId !== undefined) await this.waitFor((r) => this.replies.indexOf(r) >= since && r.id === expectId && r !== pong);
    return this.replies.slice(since).filter((r) => r !== pong);
  }

  async initialize(): Promise<void> {
    await this.write(JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) + '\n');
    await this.waitFor((r) => r.id === 'init');
    await this.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  }
}
