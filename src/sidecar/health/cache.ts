/**
 * `$SWITCHBOARD_HOME/health-cache.json`: the last check of each server, keyed by id + definition hash, so a
 * listing within 5 minutes does not start every server again. Shared by every process; written by atomic rename
 * (a concurrent writer may drop the other's newest entry, which only costs one extra check).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ServerHealth } from './types';

export const HEALTH_CACHE_FILE = 'health-cache.json';
export const DEFAULT_CACHE_TTL_MS = 5 * 60_000;
/** Entries older than this are dropped whenever the file is written (the file is shared by every workspace). */
const KEEP_MS = 24 * 60 * 60_000;

interface CacheEntry {
  checkedAtMs: number;
  result: ServerHealth;
}

interface CacheFile {
  version: 1;
  entries: Record<string, CacheEntry>;
}

export class HealthCache {
  readonly file: string;

  constructor(switchboardHome: string) {
    this.file = path.join(switchboardHome, HEALTH_CACHE_FILE);
  }

  static key(id: string, definitionHash: string): string {
    return `${id}#${definitionHash}`;
  }

  /** A result checked less than `ttlMs` ago (a clock that went backwards is a miss). */
  fresh(key: string, now: number, ttlMs: number): { result: ServerHealth; checkedAtMs: number } | undefined {
    const entry = this.read().entries[key];
    if (!entry) return undefined;
    const age = now - entry.checkedAtMs;
    return age >= 0 && age < ttlMs ? entry : undefined;
  }

  /** The last result for this exact key whatever its age (for "status when known"). */
  last(key: string): ServerHealth | undefined {
    return this.read().entries[key]?.result;
  }

  store(results: Array<{ key: string; result: ServerHealth }>, now: number): void {
    if (!results.length) return;
    const data = this.read();
    for (const { key, result } of results) {
      data.entries[key] = { checkedAtMs: now, result };
    }
    for (const [k, e] of Object.entries(data.entries)) if (now - e.checkedAtMs > KEEP_MS) delete data.entries[k];
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(data, null, 1) + '\n', { mode: 0o600 });
    fs.renameSync(temp, this.file);
  }

  private read(): CacheFile {
    try {
      const v = JSON.parse(fs.readFileSync(this.file, 'utf8')) as CacheFile;
      if (v && v.version === 1 && v.entries && typeof v.entries === 'object') return v;
    } catch {
      // missing or damaged: start over (it is only a cache)
    }
    return { version: 1, entries: {} };
  }
}
