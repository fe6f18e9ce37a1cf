/**
 * Backup store under `.switchboard/backups`:
 *   blobs/<sha256>                 content, addressed by its hash (stored once however often it is backed up)
 *   records/<key(path)>/<id>.json  one record per operation: the file's state before and after it
 * A record whose `before.exists` is false says "the file did not exist": restoring it deletes the file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { atomicReplace, createDurable, createUnsynced, fdatasyncFd, fsyncDir, INLINE_READ_BYTES, sha256, TEMP_SUFFIX, type PreparedWrite, type Spare } from './durable';

export type Actor = 'claude-code' | 'extension' | 'cli';
export const ACTORS: readonly Actor[] = ['claude-code', 'extension', 'cli'];

export interface FileState {
  exists: boolean;
  sha256?: string;
  bytes?: number;
  /** Permission bits. */
  mode?: number;
  /** Whether the content is in the blob store (false when the policy has `backup: false`). */
  stored?: boolean;
}

export interface BackupRecord {
  id: string;
  /** Workspace-relative, '/'-separated. */
  path: string;
  /** ISO time of the operation. */
  time: string;
  actor: Actor;
  op: 'write' | 'delete' | 'restore';
  reason?: string;
  before: FileState;
  after: FileState;
  provider?: string;
  model?: string;
  costUsd?: number;
  /** For restores: the backup that was restored. */
  restoredFrom?: string;
}

/** What list_backups shows: the content each backup can bring back. */
export interface BackupInfo {
  id: string;
  path: string;
  time: string;
  actor: Actor;
  op: BackupRecord['op'];
  /** The file did not exist before this operation (restoring deletes it). */
  existed: boolean;
  /** Size of the backed-up content (0 when it did not exist). */
  bytes: number;
  sha256?: string;
  restorable: boolean;
  reason?: string;
  provider?: string;
}

let lastMicros = 0;
/** Random per process, then counted: ids of two processes in the same microsecond differ as with fresh random digits. */
let idSuffix = crypto.randomBytes(2).readUInt16BE(0);

/** Sortable, short, unique: base-36 microseconds (monotonic in this process) and 4 hex digits (see idSuffix). */
export function newBackupId(): string {
  const micros = Math.max(Math.floor((performance.timeOrigin + performance.now()) * 1000), lastMicros + 1);
  lastMicros = micros;
  idSuffix = (idSuffix + 1) & 0xffff;
  return `${micros.toString(36).padStart(11, '0')}-${idSuffix.toString(16).padStart(4, '0')}`;
}

export function idTime(id: string): number {
  return parseInt(id.split('-')[0]!, 36) / 1000;
}

export class BackupStore {
  readonly blobs: string;
  readonly records: string;
  /**
   * Blobs this process has synced itself, as hash, inode, size and times (`syncKey`): backing the same content
   * up again needs neither a read nor a sync (a replaced or modified blob no longer matches and is checked and
   * synced again). Bounded: forgetting one costs one read and one sync.
   */
  private readonly synced = new Set<string>();

  constructor(stateDir: string) {
    this.blobs = path.join(stateDir, 'backups', 'blobs');
    this.records = path.join(stateDir, 'backups', 'records');
  }

  async init(): Promise<void> {
    await fs.promises.mkdir(this.blobs, { recursive: true });
    await fs.promises.mkdir(this.records, { recursive: true });
  }

  blobPath(hash: string): string {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error('not a sha256');
    return path.join(this.blobs, hash);
  }

  /**
   * Durable when it resolves, in one disk wait: the blob is created at its own name and its content and folder
   * entry are synced together (temp-and-rename would be two waits in a row). A crash before both are done can
   * leave a cut-off blob under its name; nothing refers to it then (the operation it backed up never changed
   * its file, see WorkspaceFiles.commit), and it is never taken as stored: a blob already present is used only
   * when its content matches its hash, and replaced otherwise.
   *
   * `mode`: the backed-up file's permission bits; others get no more than they had on the file (a 0600 file's
   * backup is 0600); the owner can always read it. A blob shared with a more private file is tightened.
   */
  async putBlob(data: Uint8Array, hash = sha256(data), mode?: number): Promise<string> {
    const file = this.blobPath(hash);
    const blobMode = mode === undefined ? undefined : (mode & 0o066) | 0o600;
    const replace = () => atomicReplace(file, data, blobMode === undefined ? {} : { mode: blobMode });
    if (fs.existsSync(file)) {
      if (await this.getBlob(hash)) tightenTo(file, blobMode);
      else await replace();
      return hash;
    }
    try {
      await createDurable(file, data, blobMode ?? 0o666);
    } catch (err) {
      // Created meanwhile (another process under a lock we do not share, e.g. a restore in the editor): check it.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (await this.getBlob(hash)) tightenTo(file, blobMode);
      else await replace();
    }
    return hash;
  }

  /**
   * putBlob in two halves: a new blob is created and written now and synced by `finish` (see prepareReplace);
   * a blob already stored intact costs a read and a sync, or a stat when this process synced it itself.
   */
  async prepareBlob(data: Uint8Array, hash = sha256(data), mode?: number, spareOf?: (mode: number) => Spare | undefined): Promise<PreparedWrite> {
    const file = this.blobPath(hash);
    const blobMode = mode === undefined ? undefined : (mode & 0o066) | 0o600;
    const nothing: PreparedWrite = { finish: async () => undefined, abandon: async () => undefined };
    const stored = (found?: fs.Stats): PreparedWrite => {
      // Synced by this process, and the very file it synced, unchanged since: its content is on the disk, whole.
      if (found && this.syncedUnchanged(hash, found)) {
        tightenTo(file, blobMode, found.mode);
        return nothing;
      }
      const st = this.verifiedSmallBlob(file, hash);
      if (st) {
        tightenTo(file, blobMode);
        // Synced again alongside the other files: the writer that created it may have been killed before its
        // own sync, and a backup this write relies on must be on the disk before the target changes.
        return { finish: () => syncFile(file).then(() => this.markSynced(hash, st)), abandon: nothing.abandon };
      }
      // Missing, damaged, or too large to check inline: the full path (rare).
      return { finish: () => this.putBlob(data, hash, mode).then(() => undefined), abandon: nothing.abandon };
    };
    const found = fs.lstatSync(file, { throwIfNoEntry: false });
    if (found) return stored(found);
    let created: PreparedWrite;
    try {
      created = await createUnsynced(file, data, blobMode ?? 0o666, spareOf?.(blobMode ?? 0o666));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return stored();
    }
    return {
      abandon: created.abandon,
      finish: async () => {
        await created.finish();
        const st = fs.statSync(file, { throwIfNoEntry: false });
        if (st) this.markSynced(hash, st);
      },
    };
  }

  /**
   * The blob at `file` is one this process synced (after writing it whole, or after reading it back whole and
   * matching its hash) and it has not changed since: same inode, size, modification and change times. Nothing
   * writes into a stored blob in place (a new or repaired blob is a new inode), so that proves its content
   * without reading it. A blob left cut off by a crash is never in the set: a new process starts with it empty.
   */
  private syncedUnchanged(hash: string, st: fs.Stats): boolean {
    return st.isFile() && this.synced.has(syncKey(hash, st));
  }

  private markSynced(hash: string, st: fs.Stats): void {
    if (this.synced.size >= 10_000) this.synced.clear();
    this.synced.add(syncKey(hash, st));
  }

  /** A small stored blob read inline and checked against its address (a thread-pool read would queue behind syncs). */
  private verifiedSmallBlob(file: string, hash: string): fs.Stats | undefined {
    try {
      const st = fs.statSync(file);
      if (!st.isFile() || st.size > INLINE_READ_BYTES) return undefined;
      return sha256(fs.readFileSync(file)) === hash ? st : undefined;
    } catch {
      return undefined;
    }
  }

  /** The blob's bytes, verified against its address; undefined when missing or damaged. */
  async getBlob(hash: string): Promise<Buffer | undefined> {
    try {
      const data = await fs.promises.readFile(this.blobPath(hash));
      return sha256(data) === hash ? data : undefined;
    } catch {
      return undefined;
    }
  }

  dirFor(rel: string): string {
    return path.join(this.records, crypto.createHash('sha256').update(rel).digest('hex').slice(0, 24));
  }

  fileOf(record: Pick<BackupRecord, 'id' | 'path'>): string {
    return path.join(this.dirFor(record.path), `${record.id}.json`);
  }

  /** Removes the record of an operation that did not happen (found beside its journal entry after a crash). */
  async remove(record: Pick<BackupRecord, 'id' | 'path'>): Promise<void> {
    try {
      fs.unlinkSync(this.fileOf(record));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await fsyncDir(this.dirFor(record.path));
  }

  has(record: Pick<BackupRecord, 'id' | 'path'>): boolean {
    return fs.existsSync(this.fileOf(record));
  }

  /**
   * Moves a completed journal entry into place as the record. `sync: false` where the operation's audit line is
   * already durable, so recovery can tell the entry completed if the rename is lost (see WorkspaceFiles.commit).
   */
  async adopt(journalFile: string, record: Pick<BackupRecord, 'id' | 'path'>, options: { sync?: boolean } = {}): Promise<void> {
    const dir = this.dirFor(record.path);
    // Inline: metadata only. A folder made just now must be durable in its parent too.
    const created = fs.mkdirSync(dir, { recursive: true }) !== undefined;
    fs.renameSync(journalFile, this.fileOf(record));
    if (options.sync !== false) await Promise.all([fsyncDir(dir), created ? fsyncDir(this.records) : undefined]);
  }

  /** Records of one file, newest first. */
  async recordsFor(rel: string): Promise<BackupRecord[]> {
    return this.readDir(this.dirFor(rel));
  }

  /** Every record, newest first. */
  async allRecords(): Promise<BackupRecord[]> {
    const dirs = await fs.promises.readdir(this.records).catch(() => [] as string[]);
    const all: BackupRecord[] = [];
    for (const d of dirs) all.push(...(await this.readDir(path.join(this.records, d))));
    return all.sort((a, b) => (a.id < b.id ? 1 : -1));
  }

  /** A record by id or by a unique prefix of at least 6 characters. */
  async find(idOrPrefix: string): Promise<BackupRecord | { ambiguous: number } | undefined> {
    const all = await this.allRecords();
    const exact = all.find((r) => r.id === idOrPrefix);
    if (exact) return exact;
    if (idOrPrefix.length < 6) return undefined;
    const hits = all.filter((r) => r.id.startsWith(idOrPrefix));
    if (hits.length > 1) return { ambiguous: hits.length };
    return hits[0];
  }

  private async readDir(dir: string): Promise<BackupRecord[]> {
    const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
    const out: BackupRecord[] = [];
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      try {
        // A record is usually its journal entry, moved here once the operation completed (record inside).
        const parsed = JSON.parse(await fs.promises.readFile(path.join(dir, n), 'utf8')) as BackupRecord & { record?: BackupRecord };
        out.push(parsed.record ?? parsed);
      } catch {
        // A damaged record is skipped rather than hiding every other backup.
      }
    }
    return out.sort((a, b) => (a.id < b.id ? 1 : -1));
  }

  /** Temp files left by a crash inside the store. */
  async sweepTemps(): Promise<number> {
    let n = 0;
    const dirs = [this.blobs, ...(await fs.promises.readdir(this.records).catch(() => [] as string[])).map((d) => path.join(this.records, d))];
    for (const dir of dirs) {
      for (const name of await fs.promises.readdir(dir).catch(() => [] as string[])) {
        if (name.endsWith(TEMP_SUFFIX)) {
          await fs.promises.rm(path.join(dir, name), { force: true });
          n++;
        }
      }
    }
    return n;
  }

  /**
   * Applies retention: per file, records beyond `count` or older than `days` go, except the newest one.
   * Then blobs no record (nor `keep`) refers to are removed. Run under the workspace lock.
   */
  async prune(retention: BackupRetentionLike, keep: Iterable<string> = [], now = Date.now()): Promise<PruneReport> {
    const report: PruneReport = { removedRecords: 0, removedBlobs: 0, keptRecords: 0 };
    const referenced = new Set<string>(keep);
    for (const d of await fs.promises.readdir(this.records).catch(() => [] as string[])) {
      const { kept, removed } = this.pruneDir(path.join(this.records, d), retention, now);
      report.removedRecords += removed;
      report.keptRecords += kept.length;
      for (const r of await this.readDir(path.join(this.records, d))) for (const s of [r.before, r.after]) if (s.sha256) referenced.add(s.sha256);
    }
    for (const name of await fs.promises.readdir(this.blobs).catch(() => [] as string[])) {
      if (/^[0-9a-f]{64}$/.test(name) && !referenced.has(name)) {
        await fs.promises.rm(path.join(this.blobs, name), { force: true });
        report.removedBlobs++;
      }
    }
    return report;
  }

  /** Retention for one file's records (blobs are collected by `prune`). */
  async pruneFile(rel: string, retention: BackupRetentionLike, now = Date.now()): Promise<number> {
    return this.pruneDir(this.dirFor(rel), retention, now).removed;
  }

  // Decided on ids alone (they encode the time), so the per-write retention pass reads no record. It runs on
  // every write, so its few metadata calls (a listing of ~20 names, an unlink) are made inline rather than
  // queued behind the fsyncs that may fill the thread pool.
  private pruneDir(dir: string, retention: BackupRetentionLike, now: number): { kept: string[]; removed: number } {
    const cutoff = now - retention.days * 86_400_000;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      names = [];
    }
    const ids = names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)).sort().reverse();
    const kept: string[] = [];
    let removed = 0;
    for (const [i, id] of ids.entries()) {
      // i === 0 is the newest backup of the file: never removed.
      if (i > 0 && (i >= retention.count || idTime(id) < cutoff)) {
        fs.rmSync(path.join(dir, `${id}.json`), { force: true });
        removed++;
      } else {
        kept.push(id);
      }
    }
    if (kept.length === 0) {
      try {
        fs.rmdirSync(dir);
      } catch {
        // not empty after all (another name) or already gone
      }
    }
    return { kept, removed };
  }
}

export interface BackupRetentionLike {
  count: number;
  days: number;
}

export interface PruneReport {
  removedRecords: number;
  removedBlobs: number;
  keptRecords: number;
}

export function toInfo(r: BackupRecord): BackupInfo {
  return {
    id: r.id,
    path: r.path,
    time: r.time,
    actor: r.actor,
    op: r.op,
    existed: r.before.exists,
    bytes: r.before.bytes ?? 0,
    sha256: r.before.sha256,
    restorable: !r.before.exists || r.before.stored !== false,
    reason: r.reason,
    provider: r.provider,
  };
}

function syncKey(hash: string, st: fs.Stats): string {
  return `${hash}:${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

async function syncFile(file: string): Promise<void> {
  const fd = fs.openSync(file, fs.constants.O_RDONLY);
  try {
    await fdatasyncFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Never more readable than the file it now also backs up (the same bytes may come from a 0600 file). */
function tightenTo(file: string, mode: number | undefined, knownMode?: number): void {
  if (mode === undefined) return;
  const current = (knownMode ?? fs.lstatSync(file).mode) & 0o7777;
  if ((current & ~mode) !== 0) fs.chmodSync(file, current & mode);
}
