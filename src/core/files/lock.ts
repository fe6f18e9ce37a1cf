/**
 * The workspace write lock: one writer at a time across every process (extension, sidecar, CLI).
 *
 * Why not proper-lockfile: its staleness is time-based with a 5 s minimum, so a writer killed mid-write would
 * block the next start for 5–10 s. Here the lock file names its owner (pid, host); a lock whose owner process is
 * gone is taken over at once, and a lock older than STALE_MS is taken over whatever it says (pid reuse,
 * another host). Within one process, callers queue on a promise chain instead of polling the file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors';
import { processAlive } from '../process-alive';

const STALE_MS = 30_000;
const STEAL_STALE_MS = 5_000;

interface Owner {
  pid: number;
  host: string;
  token: string;
  time: number;
}

const inProcess = new Map<string, Promise<unknown>>();

export class WorkspaceLock {
  constructor(private readonly file: string, private readonly timeoutMs = 15_000) {}

  /** Runs fn while holding the lock. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = inProcess.get(this.file) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    inProcess.set(this.file, tail);
    await previous;
    try {
      const token = await this.acquire();
      try {
        return await fn();
      } finally {
        this.releaseFile(token);
      }
    } finally {
      release();
      if (inProcess.get(this.file) === tail) inProcess.delete(this.file);
    }
  }

  private async acquire(): Promise<string> {
    const token = crypto.randomBytes(8).toString('hex');
    const owner: Owner = { pid: process.pid, host: os.hostname(), token, time: Date.now() };
    const deadline = Date.now() + this.timeoutMs;
    let pause = 2;
    for (;;) {
      try {
        // The lock file is a few dozen bytes and never synced: inline calls, no thread-pool round trips.
        fs.writeFileSync(this.file, JSON.stringify(owner), { flag: 'wx' });
        return token;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const seen = await readRaw(this.file);
      if (seen !== undefined && (await isStale(this.file, seen))) {
        await this.takeOver(seen);
        continue;
      }
      if (Date.now() > deadline) {
        const pid = parse(seen ?? '')?.pid;
        throw new UserError(`The workspace is busy: another Switchboard process${pid ? ` (pid ${pid})` : ''} is writing files; try again`, 'workspace_busy');
      }
      await new Promise((r) => setTimeout(r, pause + Math.random() * pause));
      pause = Math.min(pause * 2, 50);
    }
  }

  /** Removes a stale lock, guarded by a second lock so two processes never remove each other's fresh lock. */
  private async takeOver(stale: string): Promise<void> {
    const guard = this.file + '.takeover';
    try {
      await fs.promises.writeFile(guard, String(process.pid), { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A taker that died mid-takeover leaves the guard behind; it is tiny-window, so age is enough.
      const st = await fs.promises.stat(guard).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > STEAL_STALE_MS) await fs.promises.rm(guard, { force: true });
      await new Promise((r) => setTimeout(r, 5));
      return;
    }
    try {
      if ((await readRaw(this.file)) === stale) await fs.promises.rm(this.file, { force: true });
    } finally {
      await fs.promises.rm(guard, { force: true });
    }
  }

  private releaseFile(token: string): void {
    let seen: Owner | undefined;
    try {
      seen = parse(fs.readFileSync(this.file, 'utf8'));
    } catch {
      return;
    }
    if (seen?.token !== token) return; // taken over as stale meanwhile: the file is no longer ours
    try {
      fs.unlinkSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

async function readRaw(file: string): Promise<string | undefined> {
  try {
    return await fs.promises.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

function parse(raw: string): Owner | undefined {
  try {
    const v = JSON.parse(raw) as Owner;
    return typeof v.pid === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}

async function isStale(file: string, raw: string): Promise<boolean> {
  const owner = parse(raw);
  const st = await fs.promises.stat(file).catch(() => undefined);
  if (!st) return false; // gone already: just retry
  if (Date.now() - st.mtimeMs > STALE_MS) return true;
  // A lock file being written right now is briefly empty; give it the benefit of the doubt until it is old.
  if (!owner) return Date.now() - st.mtimeMs > 1_000;
  return owner.host === os.hostname() && !processAlive(owner.pid);
}


export function lockFileFor(stateDir: string): string {
  return path.join(stateDir, 'write.lock');
}
