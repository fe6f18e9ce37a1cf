/**
 * Runs one check command: in its own process group, cwd the workspace, an allow-listed environment without the
 * keys Switchboard manages, a timeout that ends the whole group (SIGTERM, then SIGKILL), and output capped (the
 * head and the tail are kept). A check that hangs or floods its output is a failed check, never a hung sidecar.
 */
import { spawn } from 'node:child_process';
import { DEFAULT_KEY_ENV } from '../providers/env';
import type { CheckInvocation } from './command';

export interface CheckLimits {
  timeoutMs: number;
  /** Output beyond this many bytes (stdout + stderr) ends the check as a failure. */
  maxOutputBytes: number;
  /** Kept from the start and from the end of the output. */
  headBytes: number;
  tailBytes: number;
  /** After SIGTERM, how long the group has before SIGKILL. */
  killGraceMs: number;
}

export const DEFAULT_CHECK_LIMITS: CheckLimits = {
  timeoutMs: 120_000,
  maxOutputBytes: 8 * 1024 * 1024,
  headBytes: 8 * 1024,
  tailBytes: 24 * 1024,
  killGraceMs: 2_000,
};

export interface CheckRun {
  passed: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  flooded: boolean;
  /** The spawn itself failed (program not found …). */
  spawnError?: string;
  /** stdout and stderr interleaved as they came, capped (a marker shows where the middle was cut). */
  output: string;
  outputBytes: number;
  pid?: number;
  ms: number;
}

/** Variables a check may see: what tools need to find themselves and a home, nothing that carries a secret. */
const ENV_ALLOW = [
  'PATH', 'Path', 'PATHEXT', 'HOME', 'USERPROFILE', 'HOMEDRIVE', 'HOMEPATH', 'USER', 'USERNAME', 'LOGNAME', 'SHELL',
  'TMPDIR', 'TEMP', 'TMP', 'LANG', 'LANGUAGE', 'TZ', 'TERM',
  'SystemRoot', 'SYSTEMROOT', 'SystemDrive', 'WINDIR', 'ComSpec', 'COMSPEC', 'APPDATA', 'LOCALAPPDATA', 'ProgramData', 'ProgramFiles', 'ProgramFiles(x86)',
  'XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_RUNTIME_DIR',
  'NVM_DIR', 'NVM_BIN', 'VOLTA_HOME', 'FNM_DIR', 'npm_config_cache', 'NPM_CONFIG_CACHE',
  'VIRTUAL_ENV', 'CONDA_PREFIX', 'PYENV_ROOT', 'PYTHONPATH',
  'GOPATH', 'GOROOT', 'GOCACHE', 'GOMODCACHE', 'GOFLAGS', 'GOPROXY', 'GOTOOLCHAIN',
  'CARGO_HOME', 'RUSTUP_HOME', 'RUSTUP_TOOLCHAIN', 'JAVA_HOME',
];
const ENV_ALLOW_PREFIX = ['LC_'];

/**
 * The check's environment: the allow-list from `base`, minus every key variable (the standard ones and any
 * `extraKeyVars`, e.g. each provider's `apiKeyEnv`), plus CI=1 so runners do not start a watcher.
 */
export function checkEnvironment(base: NodeJS.ProcessEnv, extraKeyVars: readonly string[] = []): Record<string, string> {
  const keys = new Set<string>([...Object.values(DEFAULT_KEY_ENV).flat(), ...extraKeyVars]);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined || keys.has(name)) continue;
    if (ENV_ALLOW.includes(name) || ENV_ALLOW_PREFIX.some((p) => name.startsWith(p))) env[name] = value;
  }
  env.CI = '1';
  env.NO_COLOR = '1';
  env.FORCE_COLOR = '0';
  return env;
}

/** Sends `signal` to the whole process group led by `pid`; false when nothing was left to signal. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    if (process.platform === 'win32') process.kill(pid, signal);
    else process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

export function runCheck(invocation: CheckInvocation, options: { cwd: string; env: Record<string, string>; limits?: Partial<CheckLimits>; signal?: AbortSignal }): Promise<CheckRun> {
  const limits = { ...DEFAULT_CHECK_LIMITS, ...options.limits };
  const started = Date.now();
  const [command, ...args] = invocation.kind === 'argv' ? invocation.argv : [invocation.shell, ...invocation.args];
  return new Promise((resolve) => {
    const output = new CappedOutput(limits.headBytes, limits.tailBytes);
    let timedOut = false;
    let flooded = false;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(command!, args, {
        cwd: options.cwd,
        env: options.env,
        // Its own process group, so the timeout can end everything it started (npm → node → workers).
        detached: process.platform !== 'win32',
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
        // cmd.exe parses its own command line; Node's quoting of it would double-quote the script.
        windowsVerbatimArguments: invocation.kind === 'shell' && process.platform === 'win32',
      });
    } catch (err) {
      resolve({ passed: false, exitCode: null, signal: null, timedOut: false, flooded: false, spawnError: (err as Error).message, output: '', outputBytes: 0, ms: 0 });
      return;
    }
    const pid = child.pid;
    const stop = () => {
      if (pid === undefined) return;
      signalGroup(pid, 'SIGTERM');
      killTimer ??= setTimeout(() => signalGroup(pid, 'SIGKILL'), limits.killGraceMs);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, limits.timeoutMs);
    const onAbort = () => stop();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const onData = (chunk: Buffer) => {
      output.push(chunk);
      if (!flooded && output.total > limits.maxOutputBytes) {
        flooded = true;
        stop();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // Whatever the check left behind in its group (a server, a watcher) goes with it.
      if (pid !== undefined) signalGroup(pid, 'SIGKILL');
      if (killTimer) clearTimeout(killTimer);
      resolve({
        passed: !timedOut && !flooded && !spawnError && exitCode === 0 && !options.signal?.aborted,
        exitCode, signal, timedOut, flooded, spawnError,
        output: output.text(), outputBytes: output.total, pid, ms: Date.now() - started,
      });
    };
    child.on('error', (err) => finish(null, null, err.message));
    // 'exit', not 'close': a grandchild holding the pipes open must not keep the check alive.
    child.on('exit', (code, signal) => {
      // Let the pipes drain what was already written, briefly.
      setTimeout(() => finish(code, signal), 50);
    });
  });
}

/** Keeps the first `head` and last `tail` bytes of a stream. */
class CappedOutput {
  private readonly head: Buffer[] = [];
  private headLength = 0;
  private tail: Buffer = Buffer.alloc(0);
  total = 0;

  constructor(private readonly headBytes: number, private readonly tailBytes: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.headLength < this.headBytes) {
      const take = chunk.subarray(0, this.headBytes - this.headLength);
      this.head.push(take);
      this.headLength += take.length;
      chunk = chunk.subarray(take.length);
    }
    if (!chunk.length) return;
    this.tail = Buffer.concat([this.tail, chunk]);
    if (this.tail.length > this.tailBytes) this.tail = this.tail.subarray(this.tail.length - this.tailBytes);
  }

  text(): string {
    const head = Buffer.concat(this.head).toString('utf8');
    const cut = this.total - this.headLength - this.tail.length;
    const tail = this.tail.toString('utf8');
    return cut > 0 ? `${head}\n[… ${cut} bytes of output left out …]\n${tail}` : head + tail;
  }
}
