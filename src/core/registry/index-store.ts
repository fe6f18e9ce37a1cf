/**
 * The local registry index: `$SWITCHBOARD_HOME/registry.sqlite`, a sql.js database with an FTS4 table (this
 * sql.js build has FTS3/FTS4 with the unicode61 tokenizer, not FTS5 — probed when this was written, and checked
 * again at run time by the CREATE below). It makes search ranked, offline and fast, and keeps serving when a
 * registry is down.
 *
 * Sync is incremental per registry (`updated_since` = the newest `updatedAt` seen) and fetches outside the
 * lock; applying the pages takes the cross-process FileLock, re-reads the file (another process may have synced
 * meanwhile), upserts (an older copy never replaces a newer one) and replaces the file atomically. Readers never
 * take the lock: they see the old or the new file, never a mix.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Database, SqlValue } from 'sql.js';
import { FileLock } from '../file-lock';
import { atomicReplace } from '../files/durable';
import { loadSqlJs } from '../ledger/sqljs';
import { RegistryClient, type ClientOptions } from './client';
import { emptyCounts, transportKind, type RegistryEntry, type ServerStatus } from './schema';

const SCHEMA_VERSION = 3;

export interface SearchOptions {
  text?: string;
  types?: string[];
  transports?: string[];
  statuses?: ServerStatus[];
  limit?: number;
}

export interface SearchHit {
  name: string;
  title?: string;
  description: string;
  version?: string;
  status: ServerStatus;
  statusMessage?: string;
  types: string[];
  transports: string[];
  registry: string;
  score: number;
}

interface EntrySummary {
  id: number;
  name: string;
  status: string;
  winner: boolean;
  /** ' npm oci ' — padded so a filter is one includes(). */
  types: string;
  transports: string;
}

export interface RegistryState {
  url: string;
  syncedAt?: number;
  error?: string;
  entries: number;
}

export interface SyncReport {
  registries: Array<{ url: string; fetched: number; applied: number; full: boolean; dropped: number; droppedParts: number; reasons: string[]; error?: string }>;
  total: number;
}

export class RegistryIndex {
  private db: Database;
  private loadedStamp: string;
  private summaryCache: { byId: Map<number, EntrySummary>; byName: EntrySummary[] } | undefined;

  private constructor(readonly file: string, db: Database, stamp: string) {
    this.db = db;
    this.loadedStamp = stamp;
  }

  static fileIn(home: string): string {
    return path.join(home, 'registry.sqlite');
  }

  /** Opens the index (an empty one when the file is missing or unreadable: it is a cache). */
  static async open(file: string): Promise<RegistryIndex> {
    const { db, stamp } = await loadDb(file);
    return new RegistryIndex(file, db, stamp);
  }

  /** Re-reads the file when another process replaced it. */
  async refresh(): Promise<void> {
    if (stampOf(this.file) === this.loadedStamp) return;
    const { db, stamp } = await loadDb(this.file);
    this.db.close();
    this.db = db;
    this.loadedStamp = stamp;
    this.summaryCache = undefined;
  }

  close(): void {
    this.db.close();
  }

  private summaries(): { byId: Map<number, EntrySummary>; byName: EntrySummary[] } {
    if (!this.summaryCache) {
      const byName = rows(this.db, `SELECT id, name, status, winner, types, transports FROM entries ORDER BY name`).map((r) => ({
        id: Number(r[0]), name: String(r[1]), status: String(r[2]), winner: r[3] === 1, types: String(r[4]), transports: String(r[5]),
      }));
      this.summaryCache = { byId: new Map(byName.map((m) => [m.id, m])), byName };
    }
    return this.summaryCache;
  }

  registries(): RegistryState[] {
    return rows(this.db, `SELECT r.url, r.synced_at, r.error, (SELECT COUNT(*) FROM entries e WHERE e.registry = r.url) FROM registries r ORDER BY r.rank`).map((r) => ({
      url: String(r[0]),
      syncedAt: r[1] === null ? undefined : Number(r[1]),
      error: r[2] === null ? undefined : String(r[2]),
      entries: Number(r[3]),
    }));
  }

  /** Ranked search: every word must match; name and title hits outrank identifier hits, which outrank description hits. */
  search(options: SearchOptions): SearchHit[] {
    const limit = Math.max(1, Math.min(options.limit ?? 20, 200));
    const words = tokenize(options.text ?? '');
    const statuses: string[] = options.statuses?.length ? options.statuses : ['active', 'deprecated'];
    let ranked: Array<{ id: number; score: number }>;
    // Filters run in JS over a small per-entry summary kept in memory: the FTS query alone drives the search.
    const meta = this.summaries();
    const wantStatus = new Set<string>(statuses);
    const types = options.types?.map((t) => ` ${t.toLowerCase()} `);
    const transports = options.transports?.map((t) => ` ${t.toLowerCase()} `);
    const keep = (m: EntrySummary | undefined): m is EntrySummary =>
      m !== undefined && m.winner && wantStatus.has(m.status) && (!types || types.some((t) => m.types.includes(t))) && (!transports || transports.some((t) => m.transports.includes(t)));
    if (words.length === 0) {
      ranked = [];
      for (const m of meta.byName) {
        if (ranked.length >= limit) break;
        if (keep(m) && m.status !== 'deprecated') ranked.push({ id: m.id, score: 0 });
      }
      for (const m of meta.byName) {
        if (ranked.length >= limit) break;
        if (keep(m) && m.status === 'deprecated') ranked.push({ id: m.id, score: 0 });
      }
    } else {
      const match = words.map((w) => `${w}*`).join(' ');
      const scored: Array<{ id: number; score: number; deprecated: boolean; name: string }> = [];
      for (const r of rows(this.db, `SELECT rowid, matchinfo(entries_fts, 'y') FROM entries_fts WHERE entries_fts MATCH ?`, [match])) {
        const m = meta.byId.get(Number(r[0]));
        if (keep(m)) scored.push({ id: m.id, score: scoreOf(r[1] as Uint8Array, words, m.name), deprecated: m.status === 'deprecated', name: m.name });
      }
      scored.sort((a, b) => b.score - a.score || Number(a.deprecated) - Number(b.deprecated) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      ranked = scored.slice(0, limit);
    }
    return ranked.map(({ id, score }) => {
      const r = rows(this.db, `SELECT json, status, types, transports, registry, status_message FROM entries WHERE id = ?`, [id])[0]!;
      const server = JSON.parse(String(r[0])) as RegistryEntry['server'];
      return {
        name: server.name,
        title: server.title,
        description: server.description,
        version: server.version,
        status: String(r[1]) as ServerStatus,
        statusMessage: r[5] === null ? undefined : String(r[5]),
        types: String(r[2]).trim().split(' ').filter(Boolean),
        transports: String(r[3]).trim().split(' ').filter(Boolean),
        registry: String(r[4]),
        score,
      };
    });
  }

  /** The winning entry for a name (deleted ones too: `show` and `add` explain them). */
  get(name: string): (RegistryEntry & { registry: string }) | undefined {
    const r = rows(this.db, `SELECT json, meta, registry FROM entries WHERE name = ? AND winner = 1`, [name])[0];
    if (!r) return undefined;
    return { server: JSON.parse(String(r[0])) as RegistryEntry['server'], meta: JSON.parse(String(r[1])) as RegistryEntry['meta'], registry: String(r[2]) };
  }

  /**
   * Fetches what changed from each registry and applies it. A registry that fails keeps its cached entries and
   * records the error; the others still sync.
   */
  async sync(urls: string[], options: ClientOptions & { full?: boolean; lockTimeoutMs?: number } = {}): Promise<SyncReport> {
    await this.refresh();
    const marks = new Map(rows(this.db, `SELECT url, watermark FROM registries`).map((r) => [String(r[0]), r[1] === null ? undefined : String(r[1])]));
    const fetched = await Promise.all(
      urls.map(async (url) => {
        const counts = emptyCounts();
        const since = options.full ? undefined : marks.get(url);
        try {
          const entries = await new RegistryClient(url, options).listAll({ version: 'latest', updatedSince: since }, counts);
          return { url, entries, counts, full: since === undefined };
        } catch (err) {
          return { url, entries: [] as RegistryEntry[], counts, full: since === undefined, error: (err as Error).message };
        }
      }),
    );
    const lock = new FileLock(this.file, { acquireTimeoutMs: options.lockTimeoutMs ?? 60_000 });
    await lock.acquire();
    const report: SyncReport = { registries: [], total: 0 };
    try {
      // Another process may have written a newer file while we fetched: apply on top of it.
      const { db } = await loadDb(this.file);
      this.db.close();
      this.db = db;
      this.summaryCache = undefined;
      const now = Date.now();
      db.run('BEGIN');
      db.run(`DELETE FROM entries WHERE registry NOT IN (${urls.map(() => '?').join(',')})`, urls);
      db.run(`DELETE FROM registries WHERE url NOT IN (${urls.map(() => '?').join(',')})`, urls);
      db.run(`DELETE FROM entries_fts WHERE rowid NOT IN (SELECT id FROM entries)`);
      for (const [rank, f] of fetched.entries()) {
        const applied = f.error ? 0 : this.apply(f.url, f.entries);
        const newest = f.entries.reduce<string | undefined>((m, e) => (e.meta.updatedAt && (!m || Date.parse(e.meta.updatedAt) > Date.parse(m)) ? e.meta.updatedAt : m), undefined);
        const old = rows(db, `SELECT watermark FROM registries WHERE url = ?`, [f.url])[0]?.[0] as string | null | undefined;
        const watermark = !old ? newest : newest && Date.parse(newest) > Date.parse(old) ? newest : old;
        db.run(
          `INSERT INTO registries (url, rank, watermark, synced_at, error) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(url) DO UPDATE SET rank = excluded.rank, watermark = CASE WHEN excluded.error IS NULL THEN excluded.watermark ELSE registries.watermark END,
             synced_at = CASE WHEN excluded.error IS NULL THEN excluded.synced_at ELSE registries.synced_at END, error = excluded.error`,
          [f.url, rank, watermark ?? null, f.error ? null : now, f.error ?? null],
        );
        report.registries.push({ url: f.url, fetched: f.entries.length, applied, full: f.full, dropped: f.counts.droppedEntries, droppedParts: f.counts.droppedParts, reasons: f.counts.reasons, error: f.error });
      }
      db.run(`UPDATE entries SET winner = CASE WHEN (SELECT rank FROM registries WHERE url = entries.registry) =
        (SELECT MIN(r.rank) FROM entries e2 JOIN registries r ON r.url = e2.registry WHERE e2.name = entries.name) THEN 1 ELSE 0 END`);
      db.run('COMMIT');
      report.total = Number(rows(db, `SELECT COUNT(*) FROM entries WHERE winner = 1 AND status != 'deleted'`)[0]![0]);
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      await atomicReplace(this.file, db.export(), { mode: 0o600 });
      this.loadedStamp = stampOf(this.file);
    } finally {
      lock.release();
    }
    return report;
  }

  private apply(registry: string, entries: RegistryEntry[]): number {
    const db = this.db;
    let applied = 0;
    const existing = db.prepare(`SELECT id, updated_at FROM entries WHERE registry = ? AND name = ?`);
    const insert = db.prepare(`INSERT INTO entries (registry, name, version, status, status_message, updated_at, types, transports, winner, json, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING id`);
    const update = db.prepare(`UPDATE entries SET version = ?, status = ?, status_message = ?, updated_at = ?, types = ?, transports = ?, json = ?, meta = ? WHERE id = ?`);
    const ftsDelete = db.prepare(`DELETE FROM entries_fts WHERE rowid = ?`);
    const ftsInsert = db.prepare(`INSERT INTO entries_fts (rowid, name, title, idents, description) VALUES (?, ?, ?, ?, ?)`);
    try {
      for (const entry of entries) {
        // A registry that ignores version=latest sends every version: keep the latest only.
        if (entry.meta.isLatest === false) continue;
        const s = entry.server;
        const types = ` ${[...new Set([...s.packages.map((p) => p.registryType.toLowerCase()), ...(s.remotes.length ? ['remote'] : [])])].join(' ')} `;
        const transports = ` ${[...new Set([...s.packages.map((p) => transportKind(p.transport?.type)), ...s.remotes.map((r) => transportKind(r.type))])].join(' ')} `;
        const values: SqlValue[] = [s.version ?? null, entry.meta.status, entry.meta.statusMessage ?? null, entry.meta.updatedAt ?? null, types, transports, JSON.stringify(s), JSON.stringify(entry.meta)];
        existing.bind([registry, s.name]);
        const found = existing.step() ? existing.get() : undefined;
        existing.reset();
        let id: number;
        if (found) {
          const storedAt = found[1] === null ? NaN : Date.parse(String(found[1]));
          const incomingAt = entry.meta.updatedAt ? Date.parse(entry.meta.updatedAt) : NaN;
          if (storedAt > incomingAt) continue; // an older copy (a slower concurrent sync) never wins
          id = Number(found[0]);
          update.run([...values, id]);
          ftsDelete.run([id]);
        } else {
          insert.bind([registry, s.name, ...values]);
          insert.step();
          id = Number(insert.get()[0]);
          insert.reset();
        }
        ftsInsert.run([id, s.name.replace(/[./_-]/g, ' '), s.title ?? '', s.packages.map((p) => p.identifier.replace(/[@/:._-]/g, ' ')).join(' '), s.description]);
        applied++;
      }
    } finally {
      for (const st of [existing, insert, update, ftsDelete, ftsInsert]) st.free();
    }
    return applied;
  }
}

/** Words as the FTS tokenizer sees them, lower-cased: user text never reaches MATCH syntax unescaped. */
export function tokenize(text: string): string[] {
  return [...new Set((text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 16))];
}

// Column order of entries_fts: name, title, idents, description.
const WEIGHTS = [100, 60, 20, 1];

/** matchinfo 'y': per phrase and column, the hits in this row (cheaper than 'x', which also counts every row). */
function scoreOf(info: Uint8Array, words: string[], name: string): number {
  const view = new DataView(info.buffer, info.byteOffset, info.byteLength);
  const columns = WEIGHTS.length;
  let score = 0;
  for (let p = 0; p < words.length; p++) {
    let best = 0;
    for (let c = 0; c < columns; c++) {
      const hits = view.getUint32((p * columns + c) * 4, true);
      if (hits > 0) best = Math.max(best, WEIGHTS[c]!);
    }
    score += best;
  }
  // The server's own short name spelled out in full beats a prefix hit.
  const short = name.slice(name.indexOf('/') + 1).toLowerCase();
  if (words.join('-') === short || words.join('') === short.replace(/[^a-z0-9]/g, '')) score += 500;
  return score;
}

function rows(db: Database, sql: string, params: SqlValue[] = []): SqlValue[][] {
  const st = db.prepare(sql);
  try {
    st.bind(params);
    const out: SqlValue[][] = [];
    while (st.step()) out.push(st.get());
    return out;
  } finally {
    st.free();
  }
}

function stampOf(file: string): string {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  return st ? `${st.ino}:${st.size}:${st.mtimeMs}` : 'missing';
}

async function loadDb(file: string): Promise<{ db: Database; stamp: string }> {
  const SQL = await loadSqlJs();
  const stamp = stampOf(file);
  let db: Database | undefined;
  if (stamp !== 'missing') {
    try {
      db = new SQL.Database(fs.readFileSync(file));
      const version = Number(db.exec('PRAGMA user_version')[0]?.values[0]?.[0] ?? 0);
      if (version !== SCHEMA_VERSION) {
        db.close();
        db = undefined;
      }
    } catch {
      // Corrupt or not a database: it is only a cache, start over.
      db?.close();
      db = undefined;
    }
  }
  if (!db) {
    db = new SQL.Database();
    db.run(`CREATE TABLE registries (url TEXT PRIMARY KEY, rank INTEGER NOT NULL, watermark TEXT, synced_at INTEGER, error TEXT);
      CREATE TABLE entries (id INTEGER PRIMARY KEY, registry TEXT NOT NULL, name TEXT NOT NULL, version TEXT, status TEXT NOT NULL,
        status_message TEXT, updated_at TEXT, types TEXT NOT NULL, transports TEXT NOT NULL, winner INTEGER NOT NULL, json TEXT NOT NULL, meta TEXT NOT NULL,
        UNIQUE (registry, name));
      CREATE INDEX entries_name ON entries (name);
      CREATE VIRTUAL TABLE entries_fts USING fts4(name, title, idents, description, tokenize=unicode61);
      PRAGMA user_version = ${SCHEMA_VERSION};`);
  }
  return { db, stamp };
}
