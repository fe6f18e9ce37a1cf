import fs from 'node:fs';
import { processAlive } from './process-alive';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from './errors';

/**
 * A cross-process exclusive lock: the file `<target>.lock`, created already holding its owner's name (pid,
 * host, random token) by hard-linking a temp file to it, which fails if the lock exists.
 *
 * Why not proper-lockfile: it only notices a dead holder by mtime age (at least 2 s, default 10 s, so a holder
 * killed with SIGKILL stalls every process that long), and its stale-lock reclaim (rmdir, then mkdir) can grant
 * the lock twice when two waiters judge the same lock stale at once (moxystudio/node-proper-lockfile#121, open).
 *
 * Here a lock is stale at once when its owner is a process on this host that no longer exists (or is a zombie),
 * and otherwise after `staleMs` without release (another host, or a reused pid). Breaking a stale lock is
 * serialised per dead owner: the breaker hard-links the lock to `<lock>.break-<token>`; link fails if that name
 * exists, so exactly one process wins, and the winner checks the linked file still names the dead owner (the
 * lock could have changed hands between reading and linking) before it unlinks the lock. Only the dead owner or
 * that one breaker can remove the lock it found, so a live holder's lock is never removed.
 */

export interface LockOwner {
  pid: number;
  host: string;
  token: string;
  /** Wall-clock ms at acquisition (for messages only; staleness uses the lock file's mtime). */
  at: number;
}

export interface FileLockOptions {
  /** A lock older than this is stale even when its owner cannot be checked (other host, reused pid). */
  staleMs?: number;
  /** Give up waiting after this long, with a message naming the holder. */
  acquireTimeoutMs?: number;
  /**
   * Keep one lock file per instance and link it again for each acquisition, rather than creating and freeing a
   * file each time (a third of the lock's cost, and of the file-system journal a later fsync must write). The
   * file stays as `<target>.tmp-<pid>-l<hex>` between acquisitions; dispose() or the process's exit removes it,
   * and a killed process's is swept like any dead writer's temp. For long-lived instances.
   */
  reuseLockFile?: boolean;
  /**
   * After release(), keep the lock this long for this instance's next acquisition (a lease), unless another
   * process waits for it: waiters say so by touching `<lock>.want`, which release() looks at. Back-to-back
   * changes then cost no lock file operations at all. Default 0 (release at once).
   */
  leaseMs?: number;
}

const DEFAULT_STALE_MS = 10_000;
const DEFAULT_ACQUIRE_TIMEOUT_MS = 30_000;
/** A want marker (see leaseMs) not touched for this long was left by a waiter that died or gave up. */
const WANT_FRESH_MS = 1_000;
/** A break marker older than this was left by a breaker that died between linking and unlinking. */
const BREAK_MARKER_STALE_MS = 2_000;
/** Tokens are this process's random nonce plus a counter: unique across processes and time, cheap to make. */
const PROCESS_NONCE = randomBytes(8).toString('hex');
let tokenCounter = 0;
/** This process's kept lock files (reuseLockFile), removed when it exits; a killed process's are swept by others. */
const keptLockFiles = new Set<string>();
/** Locks kept on lease: released when the process exits, so no one waits for a dead owner to be noticed. */
const leasedLocks = new Set<FileLock>();
let cleanUpAtExitRegistered = false;

/** One exit handler for both: leased locks are released first (their names link kept files), then kept files go. */
function cleanUpAtExit(): void {
  if (cleanUpAtExitRegistered) return;
  cleanUpAtExitRegistered = true;
  process.once('exit', () => {
    for (const lock of leasedLocks) lock.release();
    for (const kept of keptLockFiles) {
      try {
        fs.unlinkSync(kept);
      } catch {
        // already gone
      }
    }
  });
}

/** reuseLockFile's kept file: its temp name, open fd, owner record buffer, and when that record was last written. */
interface KeptLockFile {
  path: string;
  fd: number;
  record: Buffer;
  writtenAt?: number;
}

export class FileLock {
  readonly lockPath: string;
  private readonly staleMs: number;
  private readonly acquireTimeoutMs: number;
  private readonly host = os.hostname();
  private held: LockOwner | undefined;
  /**
   * Open on our lock file while we hold it. An open file's inode cannot be freed and reused, so "the lock
   * path is still this inode, unmodified" is an exact ownership test costing one stat.
   */
  private heldFd: number | undefined;
  private heldStat: fs.Stats | undefined;
  /** Cleared for good when the file system has no hard links (each acquisition then creates its file in place). */
  private reuseLockFile: boolean;
  /**
   * With reuseLockFile: the kept lock file, open, its owner record (padded with spaces to one length) and when
   * that was last written (performance.now(); undefined: never).
   */
  private spare: KeptLockFile | undefined;
  /** performance.now() when the lock was last acquired. */
  private acquiredAt = 0;
  /**
   * A quarter of staleMs: a lock file written this recently cannot be judged stale by anyone (see linkSpare),
   * so for this long after an acquisition the lock is surely ours.
   */
  private readonly freshMs: number;
  private readonly leaseMs: number;
  private readonly wantPath: string;
  /** Released by its user but still ours (leaseMs), until leaseUntil (performance.now()). */
  private leased = false;
  private leaseUntil = 0;
  private leaseTimer: NodeJS.Timeout | undefined;
  /** Counts acquisitions of the lock file: unchanged means the lock was held (or leased) without a break. */
  private holdingsCount = 0;

  constructor(target: string, options: FileLockOptions = {}) {
    this.lockPath = `${target}.lock`;
    this.staleMs = options.staleMs ?? DEFAULT_STALE_MS;
    this.freshMs = this.staleMs / 4;
    this.acquireTimeoutMs = options.acquireTimeoutMs ?? DEFAULT_ACQUIRE_TIMEOUT_MS;
    this.reuseLockFile = options.reuseLockFile ?? false;
    this.leaseMs = options.leaseMs ?? 0;
    this.wantPath = `${this.lockPath}.want`;
  }

  get isHeld(): boolean {
    return this.held !== undefined && !this.leased;
  }

  /**
   * Changes each time the lock file is acquired. The same value at two acquisitions means no other process
   * can have held the lock in between (this instance kept it, leased).
   */
  get holdings(): number {
    return this.holdingsCount;
  }

  /** Held, or kept on lease: no other process can hold it now. */
  get ownsLock(): boolean {
    return this.held !== undefined;
  }

  /** Tries once, breaking a stale lock if it finds one. Returns false when a live owner holds it. */
  tryAcquire(): boolean {
    if (this.held) return false; // not re-entrant: a second caller in this process waits like any other
    const owner: LockOwner = { pid: process.pid, host: this.host, token: `${PROCESS_NONCE}-${(++tokenCounter).toString(36)}`, at: Date.now() };
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.create(owner)) {
        this.held = owner;
        this.acquiredAt = performance.now();
        this.holdingsCount++;
        return true;
      }
      const found = readLock(this.lockPath);
      if (found === 'missing') continue; // released between our create and read: try again now
      if (!this.isStale(found)) return false;
      this.breakStale(found);
    }
    return false;
  }

  /** Waits (polling with jittered backoff) until the lock is ours. */
  async acquire(): Promise<void> {
    if (!(await this.acquireWithin(this.acquireTimeoutMs))) throw this.timeoutError();
  }

  /** Like acquire, but gives up quietly (false) after timeoutMs: for work that can be left to another time. */
  async acquireWithin(timeoutMs: number): Promise<boolean> {
    if (this.takeLease()) return true;
    const deadline = Date.now() + timeoutMs;
    let delayMs = 0.5;
    let waited = false;
    for (;;) {
      if (this.tryAcquire()) {
        if (waited) unlinkQuiet(this.wantPath);
        return true;
      }
      if (Date.now() > deadline) return false;
      if (this.leaseMs > 0) {
        // Tell a holder keeping a lease that someone waits (touched on every try: a stale marker is ignored).
        waited = true;
        touch(this.wantPath);
      }
      await sleep(delayMs * (0.5 + Math.random()));
      delayMs = Math.min(delayMs * 2, 4);
    }
  }

  /** True while the lock file is still ours (false if someone judged us stale and broke or replaced it). */
  stillHeld(): boolean {
    if (this.held === undefined || this.heldStat === undefined) return false;
    const now = fs.statSync(this.lockPath, { throwIfNoEntry: false });
    const mine = this.heldStat;
    return now !== undefined && now.ino === mine.ino && now.dev === mine.dev && now.mtimeMs === mine.mtimeMs && now.size === mine.size;
  }

  /**
   * stillHeld(), without looking at the file while the lock is young. Nobody breaks a lock before its file is
   * staleMs old unless its owner died, and a lock's file is at most freshMs old when it is taken (see
   * linkSpare): for freshMs after that, it is surely still ours.
   */
  heldSurely(): boolean {
    if (this.held === undefined) return false;
    return this.young() || this.stillHeld();
  }

  /** Acquired less than freshMs ago. */
  private young(): boolean {
    return performance.now() - this.acquiredAt < this.freshMs;
  }

  /**
   * With leaseMs: release() later, so this instance's next acquisition costs nothing — unless another process
   * waits, or the holding is old enough that heldSurely() would look at the file (then a fresh one is better).
   */
  releaseOrLease(): void {
    if (!this.held || this.leased) return;
    if (this.leaseMs <= 0 || !this.young() || this.someoneWaits()) return this.release();
    this.leased = true;
    this.leaseUntil = performance.now() + this.leaseMs;
    leasedLocks.add(this);
    cleanUpAtExit();
    this.leaseTimer ??= setTimeout(() => this.endLease(), this.leaseMs);
    this.leaseTimer.unref?.();
  }

  /** The lease, if one is kept and still young enough to be surely ours. */
  private takeLease(): boolean {
    if (!this.leased) return false;
    this.leased = false;
    // One look at the file: a lock deleted by hand (as the timeout message suggests when no process runs) must
    // not leave two writers.
    if (this.young() && this.stillHeld()) return true;
    this.release();
    return false;
  }

  /** The lease timer: releases the lock once the lease ran out (one timer per lease period, not per change). */
  private endLease(): void {
    this.leaseTimer = undefined;
    if (!this.leased) return;
    const left = this.leaseUntil - performance.now();
    if (left > 0) {
      this.leaseTimer = setTimeout(() => this.endLease(), left);
      this.leaseTimer.unref?.();
      return;
    }
    this.release();
  }

  private someoneWaits(): boolean {
    const st = fs.statSync(this.wantPath, { throwIfNoEntry: false });
    if (!st) return false;
    if (Date.now() - st.mtimeMs < WANT_FRESH_MS) return true;
    unlinkQuiet(this.wantPath); // left by a waiter that died or gave up
    return false;
  }

  release(): void {
    if (this.leased) {
      this.leased = false;
      leasedLocks.delete(this);
    }
    if (this.leaseTimer) {
      clearTimeout(this.leaseTimer);
      this.leaseTimer = undefined;
    }
    if (!this.held) return;
    // Never remove a lock that is no longer ours (we were judged stale and someone else holds it now).
    if (this.stillHeld()) unlinkQuiet(this.lockPath);
    this.held = undefined;
    this.heldStat = undefined;
    if (this.heldFd !== undefined) {
      // The kept file stays open for the next acquisition (its other name, the temp, still links it).
      if (this.heldFd !== this.spare?.fd) fs.closeSync(this.heldFd);
      this.heldFd = undefined;
    }
  }

  /** Releases the lock if held and removes the kept lock file (reuseLockFile). */
  dispose(): void {
    this.release();
    this.dropSpare();
  }

  /**
   * Creates the lock with its content in one step: the owner is written to a temp file that is then hard-linked
   * to the lock name (link fails if the name exists). Creating the lock empty and writing it after would let a
   * waiter that reads it empty for a second (its creator descheduled in between, as on a loaded machine) judge
   * it abandoned, break it, and grant the lock twice. The temp is named like the ledger's temps (with our pid),
   * so a breaker clears it if we die in between. On success the file stays open (see heldFd).
   */
  private create(owner: LockOwner): boolean {
    if (this.reuseLockFile) {
      const linked = this.linkSpare(owner);
      if (linked !== undefined) return linked;
    }
    const { tmp, fd } = this.newTemp();
    let linked = false;
    try {
      fs.writeSync(fd, JSON.stringify(owner));
      fs.linkSync(tmp, this.lockPath);
      linked = true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') {
        fs.closeSync(fd);
        unlinkQuiet(tmp);
        throw err;
      }
      fs.closeSync(fd);
      unlinkQuiet(tmp);
      return code === 'EEXIST' ? false : this.createInPlace(owner);
    } finally {
      if (linked) unlinkQuiet(tmp);
    }
    this.holdOpen(fd);
    return true;
  }

  /**
   * reuseLockFile: writes the new owner (fresh token) into the kept file while no lock name links it, then links
   * it as the lock. A breaker that linked the previous holding's inode and reads it now finds a token other than
   * the one it judged stale, so it removes nothing (as with a new file). The record is padded to one length so
   * no byte of an older, longer one is left after it. Undefined: no kept file can be used here (no hard links),
   * fall back to a new file.
   *
   * The record is written again only when the last write is freshMs old: a breaker can judge a live owner's
   * holding stale only by its age (over staleMs), and a holding that old is always followed by a new record.
   */
  private linkSpare(owner: LockOwner): boolean | undefined {
    for (let attempt = 0; attempt < 2; attempt++) {
      const spare = this.spare ?? this.makeSpare();
      const now = performance.now();
      if (spare.writtenAt === undefined || now - spare.writtenAt >= this.freshMs) {
        const json = JSON.stringify(owner);
        const length = Buffer.byteLength(json, 'utf8');
        // Room for the token counter to grow without growing the file each time.
        if (length > spare.record.length) spare.record = Buffer.alloc(length + 32);
        const record = spare.record;
        record.fill(0x20, record.write(json, 0, 'utf8'));
        fs.writeSync(spare.fd, record, 0, record.length, 0);
        spare.writtenAt = now;
      }
      try {
        fs.linkSync(spare.path, this.lockPath);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return false;
        this.dropSpare();
        // The temp name was swept (a breaker judged this process stalled): make a new one and try again.
        if (code === 'ENOENT') continue;
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') {
          this.reuseLockFile = false;
          return undefined;
        }
        throw err;
      }
      this.holdOpen(spare.fd);
      return true;
    }
    return undefined;
  }

  /** A new, empty temp file beside the lock, named with our pid so a breaker can clear it if we die. */
  private newTemp(): { tmp: string; fd: number } {
    const target = this.lockPath.slice(0, -'.lock'.length);
    const tmp = `${target}.tmp-${process.pid}-l${(++tokenCounter).toString(16)}`;
    try {
      return { tmp, fd: fs.openSync(tmp, 'wx') };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      fs.mkdirSync(path.dirname(this.lockPath), { recursive: true });
      return { tmp, fd: fs.openSync(tmp, 'wx') };
    }
  }

  private makeSpare(): KeptLockFile {
    const { tmp, fd } = this.newTemp();
    this.spare = { path: tmp, fd, record: Buffer.alloc(0) };
    keptLockFiles.add(tmp);
    cleanUpAtExit();
    return this.spare;
  }

  private dropSpare(): void {
    const spare = this.spare;
    if (!spare) return;
    this.spare = undefined;
    keptLockFiles.delete(spare.path);
    unlinkQuiet(spare.path);
    // While it is the held lock, release() closes it (it is no longer the kept file).
    if (this.heldFd !== spare.fd) fs.closeSync(spare.fd);
  }

  /** For file systems without hard links: create, then write (an unreadable lock is stale after a second). */
  private createInPlace(owner: LockOwner): boolean {
    let fd: number;
    try {
      fd = fs.openSync(this.lockPath, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try {
      fs.writeSync(fd, JSON.stringify(owner));
    } catch (err) {
      fs.closeSync(fd);
      unlinkQuiet(this.lockPath);
      throw err;
    }
    this.holdOpen(fd);
    return true;
  }

  private holdOpen(fd: number): void {
    this.heldFd = fd;
    this.heldStat = fs.fstatSync(fd);
  }

  private isStale(found: FoundLock): boolean {
    const ageMs = Date.now() - found.mtimeMs;
    if (ageMs > this.staleMs) return true;
    const owner = found.owner;
    // Unreadable content: the owner is between open and write (microseconds), or it died there.
    if (!owner) return ageMs > 1_000;
    if (owner.host !== this.host) return false;
    return !processAlive(owner.pid);
  }

  private breakStale(found: FoundLock): void {
    const marker = `${this.lockPath}.break-${found.owner?.token ?? `ino${found.ino}`}`;
    try {
      fs.linkSync(this.lockPath, marker);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        // Another process is breaking this same lock; if it died mid-break, clear its marker for the next try.
        if (ageOf(marker, 'ctime') > BREAK_MARKER_STALE_MS) unlinkQuiet(marker);
        return;
      }
      if (code === 'ENOENT') return; // the lock is gone already
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') {
        // No hard links on this file system: remove by name. Two breakers racing could then both win; rare
        // (it needs a dead holder and two waiters within microseconds) and better than never recovering.
        unlinkQuiet(this.lockPath);
        return;
      }
      throw err;
    }
    try {
      // The marker is the inode the lock name pointed to when we linked: it must still be the stale one.
      const linked = readLock(marker);
      if (typeof linked === 'object' && linked.ino === found.ino && linked.owner?.token === found.owner?.token) {
        unlinkQuiet(this.lockPath);
        if (found.owner) removeOrphanTemps(this.lockPath.slice(0, -'.lock'.length), found.owner.pid);
      }
    } finally {
      unlinkQuiet(marker);
    }
  }

  private timeoutError(): UserError {
    const found = readLock(this.lockPath);
    const who = typeof found === 'object' && found.owner
      ? `process ${found.owner.pid} on ${found.owner.host} since ${new Date(found.owner.at).toISOString()}`
      : 'another process';
    return new UserError(
      `The quota ledger is locked by ${who} and was not released within ${Math.round(this.acquireTimeoutMs / 1000)} s. ` +
      `If no Switchboard process is running, delete ${path.basename(this.lockPath)} in ${path.dirname(this.lockPath)}.`,
      'ledger_locked',
    );
  }
}

interface FoundLock {
  owner: LockOwner | undefined;
  mtimeMs: number;
  ino: number;
}

function readLock(file: string): FoundLock | 'missing' {
  const read = readLockText(file, 4096);
  return read === 'missing' ? read : { owner: parseOwner(read.text), mtimeMs: read.stat.mtimeMs, ino: read.stat.ino };
}

/**
 * A lock file's text (at most maxBytes) and the stat of the very file read — one open, so the content and the
 * inode/mtime describe the same file even if the lock changes hands meanwhile. 'missing' when there is none.
 */
export function readLockText(file: string, maxBytes: number): { text: string; stat: fs.Stats } | 'missing' {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
  try {
    const stat = fs.fstatSync(fd);
    const buf = Buffer.alloc(Math.min(stat.size, maxBytes));
    const n = buf.length ? fs.readSync(fd, buf, 0, buf.length, 0) : 0;
    return { text: buf.subarray(0, n).toString('utf8'), stat };
  } finally {
    fs.closeSync(fd);
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') {
      return { pid: v.pid, host: v.host, token: v.token, at: typeof v.at === 'number' ? v.at : 0 };
    }
  } catch {
    // fall through: partial or foreign content
  }
  return undefined;
}


function ageOf(file: string, which: 'mtime' | 'ctime'): number {
  try {
    const st = fs.statSync(file);
    return Date.now() - (which === 'mtime' ? st.mtimeMs : st.ctimeMs);
  } catch {
    return 0;
  }
}

function unlinkQuiet(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Temp files `<target>.tmp-<pid>-<hex>` (`-l<hex>`: a lock's) a dead writer left behind (of the given pid, or of any dead pid). */
export function removeOrphanTemps(target: string, deadPid?: number): void {
  const dir = path.dirname(target);
  const prefix = `${path.basename(target)}.tmp-`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)-l?[0-9a-f]+$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (deadPid !== undefined ? pid === deadPid : !processAlive(pid)) unlinkQuiet(path.join(dir, name));
  }
}

function touch(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'w'));
  } catch {
    // best effort: the holder's lease still ends by its timer
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
