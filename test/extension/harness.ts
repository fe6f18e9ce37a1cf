/**
 * Runs a real VS Code offline: code-server 4.100.3 (VS Code 1.100, Node 20) on a loopback port, driven by
 * Debian Chromium through playwright-core. Shared by the extension-host runner (test/extension/runner.ts) and
 * the UI suite (test/ui). See /work/shared/notes/real-vscode-offline.md for the reasons behind each flag.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const SAMPLE_WORKSPACE = path.join(REPO_ROOT, 'media', 'sample-workspace');
export const CHROMIUM = process.env.SWITCHBOARD_CHROMIUM ?? '/usr/bin/chromium';
const CODE_SERVER_CANDIDATES = [
  process.env.SWITCHBOARD_CODE_SERVER,
  '/opt/code-server/node_modules/.bin/code-server',
  '/usr/local/bin/code-server',
  path.join(os.homedir(), '.cache', 'switchboard', 'code-server', 'node_modules', '.bin', 'code-server'),
];

export function findCodeServer(): string {
  for (const candidate of CODE_SERVER_CANDIDATES) {
    if (candidate && fs.existsSync(candidate)) return candidate;
  }
  const onPath = spawnSync('sh', ['-c', 'command -v code-server'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  throw new Error('code-server not found. Install it with: sudo scripts/install-vscode-test-deps.sh (or set SWITCHBOARD_CODE_SERVER).');
}

export function assertChromium(): void {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}. Install it with: sudo scripts/install-vscode-test-deps.sh (or set SWITCHBOARD_CHROMIUM).`);
  }
}

/** A free loopback port (the OS picks; closed again before code-server binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Rejects after `ms` with a message naming what hung. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A scratch area for one run: user-data-dir, extensions-dir, HOME and the opened workspace copy. */
export interface Scratch {
  root: string;
  userDataDir: string;
  extensionsDir: string;
  home: string;
  switchboardHome: string;
  remove(): void;
}

export function makeScratch(prefix: string): Scratch {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const scratch: Scratch = {
    root,
    userDataDir: path.join(root, 'user-data'),
    extensionsDir: path.join(root, 'extensions'),
    home: path.join(root, 'home'),
    switchboardHome: path.join(root, 'home', '.switchboard'),
    remove: () => { if (!process.env.SWITCHBOARD_KEEP_SCRATCH) fs.rmSync(root, { recursive: true, force: true }); },
  };
  for (const dir of [scratch.userDataDir, scratch.extensionsDir, scratch.home]) fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(path.join(scratch.userDataDir, 'User'), { recursive: true });
  fs.writeFileSync(
    path.join(scratch.userDataDir, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'window.commandCenter': false,
        'chat.commandCenter.enabled': false,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
      },
      null,
      2,
    ),
  );
  return scratch;
}

/**
 * Copies the fixture workspace into the scratch area, so tests can change files freely. The fixture is
 * written by another part of the project; a missing one is a clear error, not a silent empty workspace.
 */
export function copyWorkspace(scratch: Scratch, source = process.env.SWITCHBOARD_TEST_WORKSPACE ?? SAMPLE_WORKSPACE): string {
  if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) {
    throw new Error(`Fixture workspace ${path.relative(REPO_ROOT, source) || source} does not exist; it is needed to run the VS Code suites.`);
  }
  const target = path.join(scratch.root, 'workspace', path.basename(source));
  fs.cpSync(source, target, { recursive: true });
  return target;
}

export interface CodeServer {
  port: number;
  url: string;
  startMs: number;
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export interface CodeServerOptions {
  scratch: Scratch;
  /** Extra environment for code-server; it reaches the extension host. */
  env?: NodeJS.ProcessEnv;
  /** Keep workspace trust on (to see Restricted Mode); off by default so tests see the full extension. */
  workspaceTrust?: boolean;
  startTimeoutMs?: number;
}

export function runCodeServerCli(args: string[], scratch: Scratch, timeoutMs = 60_000): string {
  const result = spawnSync(findCodeServer(), [...args, '--user-data-dir', scratch.userDataDir, '--extensions-dir', scratch.extensionsDir], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, HOME: scratch.home, EXTENSIONS_GALLERY: '{}' },
  });
  if (result.status !== 0) {
    throw new Error(`code-server ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stdout}${result.stderr}`);
  }
  return result.stdout + result.stderr;
}

/** Starts code-server in its own process group (so stop() also ends its extension host) and waits until it answers. */
export async function startCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  const { scratch } = options;
  const port = await freePort();
  const args = [
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    '--user-data-dir', scratch.userDataDir,
    '--extensions-dir', scratch.extensionsDir,
  ];
  if (!options.workspaceTrust) args.push('--disable-workspace-trust');
  const started = performance.now();
  const child = spawn(findCodeServer(), args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOME: scratch.home,
      SWITCHBOARD_HOME: scratch.switchboardHome,
      // An empty gallery: no marketplace look-ups, nothing downloads.
      EXTENSIONS_GALLERY: '{}',
      ...options.env,
    },
  });
  let output = '';
  child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    killGroup(child, 'SIGTERM');
    const ended = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    if (!ended) killGroup(child, 'SIGKILL');
    // The extension host may outlive the server for a moment; the group kill reaches it too.
    killGroup(child, 'SIGKILL');
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode} before listening:\n${output}`);
      if (Date.now() > deadline) throw new Error(`code-server did not answer on ${url} in time:\n${output}`);
      try {
        const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (response.ok) break;
      } catch {
        // Not listening yet.
      }
      await sleep(50);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, url, startMs: performance.now() - started, process: child, output: () => output, stop };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function launchChromium(): Promise<Browser> {
  assertChromium();
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** `/?folder=…&payload=…` — how the web workbench takes extensionDevelopmentPath / extensionTestsPath. */
export function workbenchUrl(server: CodeServer, folder: string, payload?: Array<[string, string]>): string {
  const query = new URLSearchParams({ folder });
  if (payload) query.set('payload', JSON.stringify(payload));
  return `${server.url}/?${query.toString()}`;
}

export function remoteUri(server: CodeServer, absolutePath: string): string {
  return `vscode-remote://127.0.0.1:${server.port}${absolutePath.split(path.sep).join('/')}`;
}

/** Closes the browser without letting a stuck browser hang the run. */
export async function closeBrowser(browser: Browser | undefined): Promise<void> {
  if (!browser) return;
  // playwright kills the browser process it launched when this process exits, so a stuck close only costs 10 s.
  await withTimeout(browser.close(), 10_000, 'closing Chromium').catch((error: Error) => console.error(error.message));
}

export type { Browser, Page };
