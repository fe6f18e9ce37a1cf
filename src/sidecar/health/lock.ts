/**
 * One lock file per started server, `$SWITCHBOARD_HOME/servers/<name>.lock`, JSON
 * `{pid, port?, url?, command?, startedAt}` — the same files the server cascade reads for its "external" layer
 * (src/core/cascade/servers.ts, scanRunning). Whoever starts a server takes the lock first, so two processes
 * (the extension and a CLI run, say) never start the same server twice. A lock whose pid is dead is taken over.
 *
 * Creation is O_EXCL. Taking over a dead owner's lock is serialised as in src/core/ledger/file-lock.ts: the
 * taker hard-links the lock to `<lock>.takeover-<pid>`; link fails when that name exists, so one taker wins, and
 * it checks the linked inode is still the dead one before it unlinks, so a live owner's lock is never removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { processAlive } from '../../core/process-alive';
import { readLockText } from '../../core/file-lock';

export interface ServerLockInfo {
  pid: number;
  port?: number;
  url?: string;
  command?: string;
  startedAt: string;
}

export type AcquireOutcome = { ok: true; lock: ServerLock } | { ok: false; holder: ServerLockInfo };

/** A lock file name for a server id; ids are file names already in practice, anything else is encoded. */
export function serverLockFile(lockDir: string, id: string): string {
  const safe = /^[A-Za-z0-9._@-]+$/.test(id) && !id.startsWith('.') ? id : encodeURIComponent(id).replace(/^\./, '%2E');
  return path.join(lockDir, `${safe}.lock`);
}

export class ServerLock {
  private released = false;

  private constructor(readonly file: string, private info: ServerLockInfo & { token: string }) {}

  /** Takes the lock for `id`, or names the live process holding it. */
  static acquire(lockDir: string, id: string, info: Omit<ServerLockInfo, 'startedAt'> & { startedAt?: string }): AcquireOutcome {
    const file = serverLockFile(lockDir, id);
    const mine = { ...info, startedAt: info.startedAt ?? new Date().toISOString(), token: randomBytes(8).toString('hex') };
    fs.mkdirSync(lockDir, { recursive: true });
    for (let attempt = 0; attempt < 4; attempt++) {
      if (createExclusive(file, mine)) return { ok: true, lock: new ServerLock(file, mine) };
      const found = readLockFile(file);
      if (found === 'missing') continue;
      if (found.info && processAlive(found.info.pid)) return { ok: false, holder: publicInfo(found.info) };
      takeOver(file, found);
    }
    const last = readLockFile(file);
    return { ok: false, holder: last !== 'missing' && last.info ? publicInfo(last.info) : { pid: 0, startedAt: '' } };
  }

  /** Records the started server's own pid (and port/url once known); the file is replaced atomically. */
  update(changes: Partial<Omit<ServerLockInfo, 'startedAt'>>): void {
    if (this.released || !this.stillMine()) return;
    this.info = { ...this.info, ...changes };
    const temp = `${this.file}.${process.pid}.${this.info.token}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(this.info));
    fs.renameSync(temp, this.file);
  }

  /** Removes the lock if it is still ours (someone may have taken it over after judging us dead). */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.stillMine()) unlinkQuiet(this.file);
  }

  private stillMine(): boolean {
    const found = readLockFile(this.file);
    return found !== 'missing' && found.token === this.info.token;
  }
}

interface FoundLock {
  info?: ServerLockInfo;
  token?: string;
  ino: number;
  mtimeMs: number;
}

function createExclusive(file: string, info: ServerLockInfo & { token: string }): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    fs.writeSync(fd, JSON.stringify(info));
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

function readLockFile(file: string): FoundLock | 'missing' {
  const read = readLockText(file, 16 * 1024);
  if (read === 'missing') return read;
  let info: ServerLockInfo | undefined;
  let token: string | undefined;
  try {
    const v = JSON.parse(read.text) as Record<string, unknown>;
    if (v && typeof v.pid === 'number' && Number.isInteger(v.pid) && v.pid > 0) {
      info = v as unknown as ServerLockInfo;
      token = typeof v.token === 'string' ? v.token : undefined;
    }
  } catch {
    // Unreadable: a writer between open and write (microseconds), or one that died there.
  }
  return { info, token, ino: read.stat.ino, mtimeMs: read.stat.mtimeMs };
}

function takeOver(file: string, found: FoundLock): void {
  // An unreadable lock younger than a second may be a writer between open and write: leave it be.
  if (!found.info && Date.now() - found.mtimeMs < 1_000) return;
  const marker = `${file}.takeover-${found.info?.pid ?? `ino${found.ino}`}`;
  try {
    fs.linkSync(file, marker);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      // Another process is taking this same lock over; if it died doing so, clear its marker for the next try.
      try {
        if (Date.now() - fs.statSync(marker).ctimeMs > 2_000) unlinkQuiet(marker);
      } catch {
        // gone already
      }
      return;
    }
    if (code === 'ENOENT') return;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') {
      unlinkQuiet(file); // no hard links here: remove by name (a rare double take-over beats never recovering)
      return;
    }
    throw err;
  }
  try {
    const linked = readLockFile(marker);
    if (linked !== 'missing' && linked.ino === found.ino) unlinkQuiet(file);
  } finally {
    unlinkQuiet(marker);
  }
}

function publicInfo(info: ServerLockInfo): ServerLockInfo {
  const out: ServerLockInfo = { pid: info.pid, startedAt: typeof info.startedAt === 'string' ? info.startedAt : '' };
  if (typeof info.port === 'number') out.port = info.port;
  if (typeof info.url === 'string') out.url = info.url;
  if (typeof info.command === 'string') out.command = info.command;
  return out;
}


function unlinkQuiet(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // already gone
  }
}
