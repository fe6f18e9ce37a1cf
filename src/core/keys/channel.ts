/**
 * The per-user key channel: how a sidecar that Claude Code started obtains the API keys the editor keeps in
 * SecretStorage, while the editor runs, without any key ever touching the disk.
 *
 * The editor (server side) listens on a Unix socket `$SWITCHBOARD_HOME/run/keys-<id>.sock` (Windows: a named
 * pipe derived from the same id) and writes a random 256-bit token to `run/keys-<id>.token` beside it. The run
 * folder is 0700 and owned by the user, the socket and the token file 0600: only the same user can read the
 * token, and a request without it is refused. The request names the folder the sidecar works in, and the editor
 * answers only for a folder it trusts (SPEC "Trust": VS Code's workspace trust, and one of its own folders), so a
 * sidecar running in a clone the editor never trusted gets no key. One line of JSON each way:
 *   → {"v":1,"token":"<hex>","folder":"/abs/workspace","except":["OPENAI_API_KEY"]}
 *   ← {"v":1,"keys":{"GEMINI_API_KEY":"…"}}  or  {"v":1,"error":"refused" | "untrusted folder" | …}
 * Several editor windows each serve their own endpoint; a client tries the newest first.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { switchboardHome } from '../paths';
import { processAlive } from '../process-alive';

export const PROTOCOL_VERSION = 1;
const MAX_REQUEST_BYTES = 8192;
const MAX_RESPONSE_BYTES = 256 * 1024;
const SERVER_IDLE_MS = 2_000;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TOKEN_FILE = /^keys-(\d+)-([0-9a-f]+)\.token$/;
const isWindows = process.platform === 'win32';

/** `$SWITCHBOARD_HOME/run`. */
export function keyChannelDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(switchboardHome(env), 'run');
}

/** Where the endpoint with this id listens. */
export function endpointFor(dir: string, id: string): string {
  if (isWindows) {
    const scope = crypto.createHash('sha256').update(path.resolve(dir).toLowerCase()).digest('hex').slice(0, 16);
    return `\\\\.\\pipe\\switchboard-keys-${scope}-${id}`;
  }
  return path.join(dir, `keys-${id}.sock`);
}

export function tokenFileFor(dir: string, id: string): string {
  return path.join(dir, `keys-${id}.token`);
}

/**
 * Creates `dir` 0700 if needed and checks it is a real folder owned by this user with no group/other access
 * (tightening the mode when it is ours). Throws with a plain reason otherwise.
 */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory()) throw new Error(`${dir} is not a folder`);
  if (isWindows) return; // Windows: the user profile's ACLs protect it; modes mean nothing there.
  if (stat.uid !== process.getuid!()) throw new Error(`${dir} belongs to another user`);
  if ((stat.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}

/** True when `dir` exists, is a folder (not a link), ours and 0700 — what a client requires before trusting it. */
function isPrivateDir(dir: string): boolean {
  try {
    const stat = fs.lstatSync(dir);
    if (!stat.isDirectory()) return false;
    return isWindows || (stat.uid === process.getuid!() && (stat.mode & 0o077) === 0);
  } catch {
    return false;
  }
}

export interface KeyChannelServerOptions {
  env?: NodeJS.ProcessEnv;
  /** The keys to hand out (environment variable name → value), asked for at each request. */
  keys: () => Promise<Record<string, string>> | Record<string, string>;
  /** Whether the editor trusts the (absolute) folder a request names; keys go only to trusted folders. */
  trustsFolder: (folder: string) => boolean | Promise<boolean>;
  /** Names only, never values. */
  log?: (level: 'info' | 'warn', line: string) => void;
}

export interface KeyChannelServer {
  readonly id: string;
  readonly endpoint: string;
  readonly tokenFile: string;
  /** Requests answered with keys / refused, for the log and tests. */
  readonly stats: { served: number; refused: number; untrusted: number };
  close(): Promise<void>;
}

/** Starts serving keys; the token file appears only once the endpoint listens. */
export async function startKeyChannel(options: KeyChannelServerOptions): Promise<KeyChannelServer> {
  const dir = keyChannelDir(options.env);
  ensurePrivateDir(dir);
  removeStaleEndpoints(dir);
  const id = `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const endpoint = endpointFor(dir, id);
  const tokenFile = tokenFileFor(dir, id);
  if (!isWindows && Buffer.byteLength(endpoint) > 100) throw new Error(`the key channel path is too long for a Unix socket (${endpoint.length} characters); set SWITCHBOARD_HOME to a shorter folder`);
  const token = crypto.randomBytes(32).toString('hex');
  const stats = { served: 0, refused: 0, untrusted: 0 };
  const log = options.log ?? (() => {});

  const server = net.createServer((socket) => {
    socket.setTimeout(SERVER_IDLE_MS, () => socket.destroy());
    let received = Buffer.alloc(0);
    let handled = false;
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      if (handled) return;
      received = Buffer.concat([received, chunk]);
      const newline = received.indexOf(0x0a);
      if (newline < 0) {
        if (received.length > MAX_REQUEST_BYTES) {
          handled = true;
          socket.end(JSON.stringify({ v: PROTOCOL_VERSION, error: 'request too large' }) + '\n');
        }
        return;
      }
      handled = true;
      void answer(received.subarray(0, newline).toString('utf8')).then((reply) => socket.end(JSON.stringify(reply) + '\n'), () => socket.destroy());
    });
  });

  const answer = async (line: string): Promise<Record<string, unknown>> => {
    let request: { v?: unknown; token?: unknown; except?: unknown; folder?: unknown };
    try {
      request = JSON.parse(line) as typeof request;
    } catch {
      return { v: PROTOCOL_VERSION, error: 'bad request' };
    }
    if (typeof request.token !== 'string' || !sameSecret(request.token, token)) {
      stats.refused++;
      log('warn', 'key channel: refused a request with a wrong token');
      return { v: PROTOCOL_VERSION, error: 'refused' };
    }
    const folder = request.folder;
    if (typeof folder !== 'string' || !path.isAbsolute(folder) || folder.length > 4096 || !(await options.trustsFolder(folder))) {
      stats.untrusted++;
      log('warn', 'key channel: refused a sidecar whose folder this editor does not trust (open and trust the folder to give it keys)');
      return { v: PROTOCOL_VERSION, error: 'untrusted folder' };
    }
    const except = new Set(Array.isArray(request.except) ? request.except.filter((n): n is string => typeof n === 'string') : []);
    const keys: Record<string, string> = {};
    for (const [name, value] of Object.entries(await options.keys())) {
      if (ENV_NAME.test(name) && value && !except.has(name)) keys[name] = value;
    }
    stats.served++;
    log('info', `key channel: handed ${Object.keys(keys).length} key(s) to a sidecar${Object.keys(keys).length ? ` (${Object.keys(keys).join(', ')})` : ''}`);
    return { v: PROTOCOL_VERSION, keys };
  };

  if (!isWindows) fs.rmSync(endpoint, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(endpoint, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    // The folder is already 0700; the socket's own mode is a second fence (and what a reviewer checks).
    if (!isWindows) fs.chmodSync(endpoint, 0o600);
    writePrivateFile(tokenFile, token);
  } catch (error) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw error;
  }

  let closed = false;
  return {
    id,
    endpoint,
    tokenFile,
    stats,
    async close() {
      if (closed) return;
      closed = true;
      fs.rmSync(tokenFile, { force: true });
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (!isWindows) fs.rmSync(endpoint, { force: true });
    },
  };
}

export interface KeyRequestOptions {
  /** The folder the asking sidecar works in; the editor answers only for folders it trusts. */
  folder: string;
  env?: NodeJS.ProcessEnv;
  /** Names the caller already has; the editor leaves them out. */
  except?: string[];
  /** Per endpoint. */
  timeoutMs?: number;
}

export interface KeyRequestResult {
  keys: Record<string, string>;
  /** Why nothing came back, when nothing did (no editor running, refused, …). */
  reason?: string;
}

/** Asks a running editor for its keys. Never throws: no editor means no keys, and environment variables rule. */
export async function requestKeys(options: KeyRequestOptions): Promise<KeyRequestResult> {
  const dir = keyChannelDir(options.env);
  if (!fs.existsSync(dir)) return { keys: {}, reason: 'no editor is serving keys' };
  if (!isPrivateDir(dir)) return { keys: {}, reason: `${dir} is not a private folder of this user; not trusting it` };
  let reason = 'no editor is serving keys';
  for (const { id, tokenFile } of listEndpoints(dir)) {
    const token = readPrivateFile(tokenFile);
    if (!token) continue;
    try {
      const reply = await exchange(endpointFor(dir, id), { v: PROTOCOL_VERSION, token, folder: path.resolve(options.folder), except: options.except ?? [] }, options.timeoutMs ?? 1_000);
      if (reply && typeof reply === 'object' && reply.keys && typeof reply.keys === 'object') {
        const keys: Record<string, string> = {};
        for (const [name, value] of Object.entries(reply.keys as Record<string, unknown>)) if (ENV_NAME.test(name) && typeof value === 'string' && value) keys[name] = value;
        return { keys };
      }
      reason = `the editor answered: ${String(reply?.error ?? 'no keys')}`;
    } catch (error) {
      reason = `the editor's key channel did not answer (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
    }
  }
  return { keys: {}, reason };
}

/** Token files in `dir`, newest first. */
function listEndpoints(dir: string): Array<{ id: string; tokenFile: string; mtimeMs: number }> {
  const out: Array<{ id: string; tokenFile: string; mtimeMs: number }> = [];
  for (const name of safeReaddir(dir)) {
    const match = TOKEN_FILE.exec(name);
    if (!match) continue;
    const tokenFile = path.join(dir, name);
    try {
      out.push({ id: `${match[1]}-${match[2]}`, tokenFile, mtimeMs: fs.statSync(tokenFile).mtimeMs });
    } catch {
      // Removed meanwhile.
    }
  }
  return out.sort((a, b) => b.mtimeMs - a.mtimeMs);
}

/** Endpoints left by editors that died without cleaning up (their pid is gone). */
function removeStaleEndpoints(dir: string): void {
  for (const { id, tokenFile } of listEndpoints(dir)) {
    const pid = Number(id.split('-')[0]);
    if (pid === process.pid || processAlive(pid)) continue;
    fs.rmSync(tokenFile, { force: true });
    if (!isWindows) fs.rmSync(endpointFor(dir, id), { force: true });
  }
}


/** Written whole under a temporary name with 0600, then renamed: a reader never sees a partial token. */
function writePrivateFile(file: string, content: string): void {
  const temp = `${file}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(temp, 'wx', 0o600);
  try {
    fs.writeSync(fd, content);
    if (!isWindows) fs.fchmodSync(fd, 0o600);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
}

/** The token, if the file is ours and not readable by anyone else. */
function readPrivateFile(file: string): string | undefined {
  try {
    const stat = fs.lstatSync(file);
    if (!stat.isFile()) return undefined;
    if (!isWindows && (stat.uid !== process.getuid!() || (stat.mode & 0o077) !== 0)) return undefined;
    const text = fs.readFileSync(file, 'utf8').trim();
    return /^[0-9a-f]{64}$/.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

function exchange(endpoint: string, request: object, timeoutMs: number): Promise<{ keys?: unknown; error?: unknown } | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(endpoint);
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length > MAX_RESPONSE_BYTES) socket.destroy(new Error('answer too large'));
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(received.toString('utf8').trim()) as { keys?: unknown; error?: unknown });
      } catch {
        reject(new Error('unreadable answer'));
      }
    });
  });
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
