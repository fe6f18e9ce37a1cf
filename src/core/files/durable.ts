/**
 * Low-level durable I/O: atomic replace (temp in the same folder, fsync, rename, fsync the folder), bounded
 * retry on busy files, and opening a checked file without following links.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** 0 where the platform has no such flag (Windows), so the same code runs everywhere. */
export const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;
const O_DIRECTORY = fs.constants.O_DIRECTORY ?? 0;

/** Suffix of every temp file Switchboard creates; recovery sweeps by it. */
export const TEMP_SUFFIX = '.sb-tmp';

export function sha256(data: Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

// Windows reports a file held open by an editor or a virus scanner as EBUSY/EPERM/EACCES for a moment.
const BUSY = new Set(process.platform === 'win32' ? ['EBUSY', 'EPERM', 'EACCES'] : ['EBUSY', 'ETXTBSY']);

/** Runs fn, retrying a few times with growing pauses (~1.5 s in all) while the platform says "busy". */
export async function retryBusy<T>(fn: () => Promise<T>, attempts = 6): Promise<T> {
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

/** Makes a folder's entries (a rename, a new or removed file) durable. A no-op where folders cannot be opened. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(dir, fs.constants.O_RDONLY | O_DIRECTORY);
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EACCES', 'ENOTSUP', 'EBADF'].includes(code ?? '')) throw err;
  } finally {
    await fh?.close();
  }
}

export function tempNameFor(target: string, id: string): string {
  // Leading dot keeps it out of most listings; the id ties it to its journal entry.
  return `.${path.basename(target).slice(0, 100)}.${id}${TEMP_SUFFIX}`;
}

export interface ReplaceOptions {
  /** Permission bits to give the new file (the old file's, to keep its mode). */
  mode?: number;
  /** Name of the temp file in the target's folder. */
  tempName?: string;
  /** Called after the temp file is durable and before the rename (last moment to re-check the target). */
  beforeRename?: () => Promise<void> | void;
  /** Skip fsync of the folder (internal state whose loss is repaired from the journal). */
  skipDirSync?: boolean;
}

/** Atomically replaces `target` with `data`: readers see the old or the new bytes, never a mix. */
export async function atomicReplace(target: string, data: Uint8Array, options: ReplaceOptions = {}): Promise<void> {
  const dir = path.dirname(target);
  const temp = path.join(dir, options.tempName ?? tempNameFor(target, crypto.randomBytes(6).toString('hex')));
  // O_EXCL|O_NOFOLLOW: never open something an attacker placed at the temp name.
  const fh = await fs.promises.open(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW, options.mode ?? 0o666);
  try {
    try {
      await fh.writeFile(data);
      if (options.mode !== undefined) await fh.chmod(options.mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await options.beforeRename?.();
    await retryBusy(() => fs.promises.rename(temp, target));
  } catch (err) {
    await fs.promises.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  if (!options.skipDirSync) await fsyncDir(dir);
}

/** Writes internal state durably, leaving an existing file alone (content-addressed blobs). */
export async function writeIfAbsent(target: string, data: Uint8Array): Promise<boolean> {
  try {
    await fs.promises.access(target);
    return false;
  } catch {
    await atomicReplace(target, data);
    return true;
  }
}

/** Opens a file for reading without following a final symbolic link and without blocking on a FIFO. */
export async function openNoFollow(file: string): Promise<fs.promises.FileHandle> {
  return fs.promises.open(file, fs.constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
}

/** Reads at most `max + 1` bytes, so a file that grew past the limit is noticed without reading it all. */
export async function readCapped(fh: fs.promises.FileHandle, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(Math.min(max + 1, 1 << 20));
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, max + 1 - total), null);
    if (bytesRead === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
    total += bytesRead;
    if (total > max) break;
  }
  return Buffer.concat(chunks, total);
}

/** Where an open file really is, on platforms that can tell (Linux /proc); undefined elsewhere. */
export async function pathOfOpenFile(fh: fs.promises.FileHandle): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    return await fs.promises.readlink(`/proc/self/fd/${fh.fd}`);
  } catch {
    return undefined;
  }
}
