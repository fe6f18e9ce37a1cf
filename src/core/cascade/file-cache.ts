import fs from 'node:fs';
import { sameStamp, stampOf, type FileStamp } from '../file-stamp';

interface Entry<R> {
  stamp: FileStamp;
  result: R;
}

/**
 * Parse results keyed by path and validated by the file's stamp (device, inode, size, mtime and ctime; see
 * file-stamp.ts), so a reload re-parses only files that changed, and any change is seen: a same-size edit
 * within one timestamp tick too, since a file stamped while it was that fresh is parsed again next time.
 * Parsing is the expensive part of a load; a stat is cheap.
 */
export class FileCache<R> {
  private readonly entries = new Map<string, Entry<R>>();

  /** The parse result for `file`, re-parsed only if it changed; undefined when the file does not exist. */
  get(file: string, parse: (file: string, stat: fs.Stats) => R): R | undefined {
    // The clock is read before the stat: a change after this moment is either in the stat or makes it racy.
    const readAt = Date.now();
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat) {
      this.entries.delete(file);
      return undefined;
    }
    const hit = this.entries.get(file);
    if (hit && sameStamp(hit.stamp, stat)) return hit.result;
    const result = parse(file, stat);
    this.entries.set(file, { stamp: stampOf(stat, readAt), result });
    return result;
  }

  /** The cached result if `stat` (taken by the caller) still matches the file it was parsed from. */
  fresh(file: string, stat: fs.Stats): R | undefined {
    const hit = this.entries.get(file);
    return hit && sameStamp(hit.stamp, stat) ? hit.result : undefined;
  }

  has(file: string): boolean {
    return this.entries.has(file);
  }

  /** Keeps a result parsed by the caller; `stat` is of the content parsed, taken at or after `readAt`. */
  put(file: string, stat: fs.Stats, readAt: number, result: R): void {
    this.entries.set(file, { stamp: stampOf(stat, readAt), result });
  }

  /** Forgets one file so the next get() parses it again even if its stamp did not change. */
  forget(file: string): void {
    this.entries.delete(file);
  }

  /** Drops entries for files no longer listed. */
  retainOnly(files: Iterable<string>): void {
    const keep = new Set(files);
    for (const key of this.entries.keys()) if (!keep.has(key)) this.entries.delete(key);
  }
}
