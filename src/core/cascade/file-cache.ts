import fs from 'node:fs';

interface Entry<R> {
  mtimeMs: number;
  size: number;
  result: R;
}

/**
 * Parse results keyed by path and validated by mtime + size, so a reload re-parses only files that changed.
 * Parsing is the expensive part of a load; a stat is cheap.
 */
export class FileCache<R> {
  private readonly entries = new Map<string, Entry<R>>();

  /** The parse result for `file`, re-parsed only if it changed; undefined when the file does not exist. */
  get(file: string, parse: (file: string, stat: fs.Stats) => R): R | undefined {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      this.entries.delete(file);
      return undefined;
    }
    const hit = this.entries.get(file);
    if (hit && hit.mtimeMs === stat.mtimeMs && hit.size === stat.size) return hit.result;
    const result = parse(file, stat);
    this.entries.set(file, { mtimeMs: stat.mtimeMs, size: stat.size, result });
    return result;
  }

  /** Forgets one file so the next get() parses it again even if mtime and size did not change. */
  forget(file: string): void {
    this.entries.delete(file);
  }

  /** Drops entries for files no longer listed. */
  retainOnly(files: Iterable<string>): void {
    const keep = new Set(files);
    for (const key of this.entries.keys()) if (!keep.has(key)) this.entries.delete(key);
  }
}
