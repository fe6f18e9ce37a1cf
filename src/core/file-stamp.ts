import fs from 'node:fs';

/**
 * What a cache of a parsed file compares to know the file did not change, without reading it: device, inode,
 * size, and modification and change times. The change time (ctime) moves on every write, rename or chmod and,
 * unlike mtime, cannot be set back by a program (utimes sets it to now), so `touch -d` tricks are seen too.
 *
 * Timestamps have a granularity (a kernel tick, a few ms; seconds on some file systems), so two same-size
 * writes inside one tick leave the same stamp. As git does for its index ("racy clean"), a stamp taken when the
 * file had changed within RACY_MS of the moment it was read is not trusted: the file is read again next time.
 */
export const RACY_MS = 2_000;

export interface FileStamp {
  readonly key: string;
  /** The file changed so recently that its stamp cannot prove a later same-size edit did not happen. */
  readonly racy: boolean;
}

export function stampOf(stat: fs.Stats, readAtMs: number = Date.now()): FileStamp {
  const key = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  const changedAt = Math.max(stat.mtimeMs, stat.ctimeMs);
  return { key, racy: changedAt >= readAtMs - RACY_MS };
}

/** True when `stamp` (an earlier stampOf) still proves the file is unchanged. */
export function sameStamp(stamp: FileStamp | undefined, stat: fs.Stats): boolean {
  return !!stamp && !stamp.racy && stamp.key === `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

/** Stamps of several files (a missing file has the stamp "missing"), for caches built from more than one. */
export function stampFiles(files: readonly string[], readAtMs: number = Date.now()): FileStamp {
  let racy = false;
  const keys = files.map((f) => {
    try {
      const s = stampOf(fs.statSync(f), readAtMs);
      racy ||= s.racy;
      return s.key;
    } catch (err) {
      return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
    }
  });
  return { key: keys.join('|'), racy };
}
