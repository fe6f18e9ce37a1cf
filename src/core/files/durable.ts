/**
 * Low-level durable I/O: atomic replace (temp in the same folder, fsync, rename, fsync the folder), bounded
 * retry on busy files, and opening a checked file without following links.
 *
 * What runs inline and what goes to the thread pool: metadata calls (open, fstat, rename, unlink, mkdir, a
 * short listing), reads of small files and writes of small internal files (journal entries, audit lines, the
 * lock) are synchronous — microseconds, where a thread-pool round trip costs tens to hundreds of microseconds on
 * a busy machine and queues behind running fsyncs. Every fsync, and the content of workspace files and backup
 * blobs (up to megabytes), go through the thread pool, so the event loop never waits for the disk to flush.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/** 0 where the platform has no such flag (Windows), so the same code runs everywhere. */
export const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;
const O_DIRECTORY = fs.constants.O_DIRECTORY ?? 0;

/** Suffix of every temp file Switchboard creates; recovery sweeps by it. */
export const TEMP_SUFFIX = '.sb-tmp';

// One call instead of a Hash object per digest (Node 20.12+, 21.7+); older Nodes build the object.
const oneShotHash = typeof crypto.hash === 'function' ? crypto.hash : undefined;

export function sha256(data: Uint8Array): string {
  return oneShotHash ? oneShotHash('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
}

// Windows reports a file held open by an editor or a virus scanner as EBUSY/EPERM/EACCES for a moment.
const BUSY = new Set(process.platform === 'win32' ? ['EBUSY', 'EPERM', 'EACCES'] : ['EBUSY', 'ETXTBSY']);

/**
 * Runs fn, retrying a few times with growing pauses (~1.5 s in all) while the platform says "busy". fn may be
 * synchronous (a rename): the first try then runs inline and only a retry waits.
 */
export async function retryBusy<T>(fn: () => T | Promise<T>, attempts = 6): Promise<T> {
  let delay = 25;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !BUSY.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}

/**
 * Makes a folder's entries (a rename, a new or removed file) durable. A no-op where folders cannot be opened.
 * Opening and closing are inline (metadata, microseconds); only the fsync, which waits for the disk, goes to the
 * thread pool — a pool round trip costs more than the open itself on a busy machine.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | O_DIRECTORY);
    await fsyncFd(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EACCES', 'ENOTSUP', 'EBADF'].includes(code ?? '')) throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export const fsyncFd = promisify(fs.fsync);
export const fdatasyncFd = promisify(fs.fdatasync);

function writeFd(fd: number, buffer: Uint8Array, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buffer, offset, length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

function readFd(fd: number, buffer: Uint8Array, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buffer, offset, length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/** Writes all of `data` (write(2) may write less than asked). */
export async function writeAll(fd: number, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length; ) off += await writeFd(fd, data, off, data.length - off);
}

export function tempNameFor(target: string, id: string): string {
  // Leading dot keeps it out of most listings; the id ties it to its journal entry.
  return `.${path.basename(target).slice(0, 100)}.${id}${TEMP_SUFFIX}`;
}

export interface ReplaceOptions {
  /** Permission bits to give the new file (the old file's, to keep its mode). */
  mode?: number;
  /** Name of the temp file. */
  tempName?: string;
  /**
   * Folder of the temp file: the target's (default) or another on the same file system, which lets the temp be
   * written before anything names it in the target's folder (rename moves it across folders atomically).
   */
  tempDir?: string;
  /** Called after the temp file is durable and before the rename (last moment to re-check the target). */
  beforeRename?: () => Promise<void> | void;
  /** Skip fsync of the folder (internal state whose loss is repaired from the journal). */
  skipDirSync?: boolean;
  /** An empty file made earlier in the temp file's folder (see makeSpare), used instead of creating one. */
  spare?: Spare;
}

/** Prefix of spare files; recovery sweeps them. */
export const SPARE_PREFIX = '.spare-';

/**
 * An empty file created ahead of time, off a caller's path, to become the next temp file or journal entry:
 * creating a file can cost a file system far more than renaming one (ext4 without a journal scans past every
 * recently freed inode), and this keeps that cost after the answer. Known by its inode, so a file put at its
 * name by someone else is never used.
 */
export interface Spare {
  file: string;
  dev: number;
  ino: number;
  /** The mode it was created with (before the umask), as a file created in its place would be. */
  mode: number;
}

/** Creates a spare in `dir`; undefined when that fails (the next write then creates its file itself). */
export function makeSpare(dir: string, mode: number): Spare | undefined {
  const file = path.join(dir, `${SPARE_PREFIX}${crypto.randomBytes(6).toString('hex')}`);
  try {
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW, mode);
    try {
      const st = fs.fstatSync(fd);
      return { file, dev: st.dev, ino: st.ino, mode };
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/**
 * Moves a spare to `file` (which must not exist) and opens it for writing; undefined, with nothing left at
 * `file`, when the spare is gone (swept by another process's recovery) or is no longer the empty, singly
 * linked file that was made.
 */
function takeSpare(spare: Spare, file: string): { fd: number; mode: number } | undefined {
  try {
    fs.linkSync(spare.file, file); // fails if `file` exists
  } catch {
    unlinkQuiet(spare.file);
    return undefined;
  }
  unlinkQuiet(spare.file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | O_NOFOLLOW);
    const st = fs.fstatSync(fd);
    if (st.isFile() && st.dev === spare.dev && st.ino === spare.ino && st.nlink === 1 && st.size === 0) return { fd, mode: st.mode & 0o7777 };
  } catch {
    // fall through: not usable
  }
  if (fd !== undefined) fs.closeSync(fd);
  fs.rmSync(file, { force: true });
  return undefined;
}

/** Atomically replaces `target` with `data`: readers see the old or the new bytes, never a mix. */
export async function atomicReplace(target: string, data: Uint8Array, options: ReplaceOptions = {}): Promise<void> {
  const prepared = await prepareReplace(target, data, options);
  await prepared.finish();
}

/** A file created and written but not yet synced (see `prepareReplace` and `createUnsynced`). */
export interface PreparedWrite {
  /** Syncs (and, for a replace, renames); the file is closed whatever happens. */
  finish(): Promise<void>;
  /** Gives up: closes and removes the file (after a failure elsewhere, before finish). */
  abandon(): Promise<void>;
}

/**
 * The first half of atomicReplace: the temp file is created and written, nothing synced yet. A caller that
 * needs several files synced creates them all first and then syncs them together: on ext4 a file created (or
 * grown) while a sync's journal commit is under way waits for that commit, so creating one file after
 * another's sync has started turns two disk waits that could overlap into two in a row.
 */
export async function prepareReplace(target: string, data: Uint8Array, options: ReplaceOptions = {}): Promise<PreparedWrite> {
  const dir = path.dirname(target);
  const temp = path.join(options.tempDir ?? dir, options.tempName ?? tempNameFor(target, crypto.randomBytes(6).toString('hex')));
  // O_EXCL|O_NOFOLLOW: never open something an attacker placed at the temp name.
  const taken = options.spare ? takeSpare(options.spare, temp) : undefined;
  const fd = taken?.fd ?? fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW, options.mode ?? 0o666);
  let open = true;
  const close = (): void => {
    if (open) fs.closeSync(fd);
    open = false;
  };
  const remove = async (): Promise<void> => {
    close();
    await fs.promises.rm(temp, { force: true }).catch(() => undefined);
  };
  try {
    // Small content inline (microseconds); megabytes off the main thread.
    if (data.length <= INLINE_READ_BYTES) writeAllSync(fd, data);
    else await writeAll(fd, data);
    // A spare already has its mode when it was made for the same one (the usual case): no chmod.
    if (options.mode !== undefined && taken?.mode !== options.mode) fs.fchmodSync(fd, options.mode);
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    abandon: remove,
    finish: async () => {
      try {
        try {
          await fsyncFd(fd);
        } finally {
          close();
        }
        await options.beforeRename?.();
        // Metadata only: inline rather than queued behind the fsyncs that may fill the thread pool.
        await retryBusy(() => fs.renameSync(temp, target));
      } catch (err) {
        await remove();
        throw err;
      }
      if (!options.skipDirSync) await fsyncDir(dir);
    },
  };
}

/**
 * Creates `file` (which must not exist) holding `data`, durably: the content and the folder entry are synced
 * at the same time rather than one after the other. A crash before both are done can leave the file empty or
 * short, so only use it where the reader treats such a file as never written (journal entries).
 */
export async function createDurable(file: string, data: Uint8Array, mode = 0o600): Promise<void> {
  await (await createUnsynced(file, data, mode)).finish();
}

/**
 * The first half of createDurable: created and written; `finish` syncs content and folder entry together
 * (`syncFolder: false`: the content only, the caller syncs the folder). `spare`: a spare made with the same
 * mode (in any folder of the same file system), moved into place instead.
 */
export async function createUnsynced(file: string, data: Uint8Array, mode = 0o600, spare?: Spare, options: { syncFolder?: boolean } = {}): Promise<PreparedWrite> {
  const fd = (spare ? takeSpare(spare, file)?.fd : undefined) ?? fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW, mode);
  let open = true;
  const remove = async (): Promise<void> => {
    if (open) fs.closeSync(fd);
    open = false;
    fs.rmSync(file, { force: true });
  };
  try {
    // Small content inline; megabytes (backup blobs) off the main thread.
    if (data.length <= INLINE_READ_BYTES) writeAllSync(fd, data);
    else await writeAll(fd, data);
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    abandon: remove,
    finish: async () => {
      try {
        await Promise.all([fdatasyncFd(fd), options.syncFolder === false ? undefined : fsyncDir(path.dirname(file))]);
      } catch (err) {
        await remove();
        throw err;
      }
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
}

/** unlink, where a missing file is fine (rmSync stats first: twice the system calls). */
function unlinkQuiet(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function writeAllSync(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off);
}

/**
 * Opens a file for reading without following a final symbolic link and without blocking on a FIFO. Inline:
 * opening is metadata (the path was just examined with the same kind of calls), and a thread-pool round trip
 * costs several times the open itself.
 */
export function openNoFollow(file: string): number {
  return fs.openSync(file, fs.constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
}

/** Files up to this size are read inline: microseconds from the page cache. Larger ones go to the thread pool. */
export const INLINE_READ_BYTES = 64 * 1024;

/**
 * Reads at most `max + 1` bytes, so a file that grew past the limit is noticed without reading it all.
 * `expected` (the size from fstat) sizes the buffer, so a file that did not change is read in one call.
 */
export async function readCapped(fd: number, max: number, expected = 0): Promise<Buffer> {
  const read = expected <= INLINE_READ_BYTES ? (b: Buffer, n: number) => fs.readSync(fd, b, 0, n, null) : (b: Buffer, n: number) => readFd(fd, b, 0, n);
  const chunks: Buffer[] = [];
  let total = 0;
  // One byte more than expected: a short read then proves the end of the file without a second call.
  let buf = Buffer.allocUnsafe(Math.max(1, Math.min(max + 1, expected + 1, 1 << 20)));
  for (;;) {
    const want = Math.min(buf.length, max + 1 - total);
    const bytesRead = await read(buf, want);
    if (bytesRead === 0) break;
    chunks.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
    total += bytesRead;
    // A short read at the size fstat gave is the end (some network file systems read short mid-file).
    if (total > max || (bytesRead < want && total === expected)) break;
    buf = Buffer.allocUnsafe(Math.min(max + 1 - total, 1 << 20));
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** Where an open file really is, on platforms that can tell (Linux /proc); undefined elsewhere. */
export function pathOfOpenFile(fd: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    // procfs answers from memory: no disk wait, so no reason for a thread-pool round trip.
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}
