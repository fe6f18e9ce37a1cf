import fs from 'node:fs';
import path from 'node:path';
import type { Database, SqlJsStatic, SqlValue } from 'sql.js';
import { FileLock, removeOrphanTemps } from '../file-lock';
import { LOG_HEADER_BYTES, encodeLogHeader, encodeRecord, newLogId, parseLogHeader, type LoggedStatement } from './oplog';
import {
  CorruptLedger, CorruptLog, ForeignLog, GEN_OFFSET, GEN_VALID_OFFSET, HEADER_BYTES, asideName, asideStamp, freshDatabase,
  isRecoverable, nextGen, openSnapshotBytes, readAll, renameReplacing, sameFile, scanLogTail, unlinkQuiet, unusableLedger, writeAll,
  BackgroundSyncs, moveAside,
} from './sqljs-files';
import { loadSqlJs } from './sqljs';
import { SqlStatements } from './sqljs-statements';
import type { LedgerStats, LedgerWarning, Mutation, SharedSqlJsFileOptions } from './sqljs-options';
import type { Clock } from './types';

export type { LedgerStats, LedgerWarning, Mutation, SharedSqlJsFileOptions } from './sqljs-options';

/**
 * The database under the sql.js ledger, shared by every process on the machine: a sql.js snapshot at
 * $SWITCHBOARD_HOME/ledger.sqlite plus an append-only operation log beside it (`ledger.sqlite.log`, format in
 * oplog.ts). It knows nothing of quotas: the ledger (sqljs-ledger.ts) runs its statements through read/mutate.
 *
 * sql.js keeps the database in memory. Each change: take the cross-process lock, catch up (reload the snapshot
 * only if another process replaced it — a generation number in the SQLite header's change counter — then
 * replay the log records past our offset), run the change in a transaction while recording the SQL it runs,
 * append that as one self-checking record (fdatasync'ed when the change must be durable), release. A process
 * catches up with others by reading only the log bytes past its offset; a stat tells whether there are any.
 *
 * Compaction (log over `compactLogBytes`, and on open/close): the lock holder writes a new snapshot (temp file,
 * fdatasync, rename, directory fsync) whose meta names a fresh log id and the id of the log it folded in, then
 * removes that log. The next change starts the new log. Crash points:
 * - before the rename: the old snapshot and log stand; the temp file is removed by the next breaker of our lock.
 * - after the rename, before the log is removed: the log's header carries the folded-in id (meta prev_log_id),
 *   so every process ignores it (replaying it again would count twice) and the next lock holder removes it.
 * - a reader that holds an offset into a log that was folded in: the log is gone or another inode and the
 *   snapshot's generation changed, so it reloads the snapshot.
 * - a reader killed mid-catch-up: readers write nothing.
 * A torn last record (writer killed mid-append) is ignored by everyone and truncated by the next lock holder;
 * a damaged record with data after it is set aside with a warning, keeping the records before it.
 *
 * Reads take no lock: they catch up and use the in-memory copy.
 */

/** How long open() and close() wait for the lock to fold the log in before leaving it for someone else. */
const FOLD_LOCK_WAIT_MS = 250;
/** The most a new log preallocates (zeros written with its first record; see append). */
const LOG_PREALLOC_MAX_BYTES = 256 * 1024;
/**
 * How long the lock stays ours after a change, for our next one (FileLock leaseMs): a router's reserve and
 * settle around a fast provider, or a burst of calls, then take it once. Another process that waits gets it
 * at our next change's end, or when the lease runs out.
 */
const LOCK_LEASE_MS = 20;
/** Temp names only need to be unique within this process (the pid is in the name). */
let tempCounter = 0;

export class SharedSqlJsFile {
  readonly file: string;
  private readonly sql: SqlJsStatic;
  private readonly clock: Clock;
  private readonly lock: FileLock;
  private readonly onWarning: (warning: LedgerWarning) => void;
  private readonly compactLogBytes: number;
  private readonly onSnapshotWritten: () => void;
  private readonly logFile: string;
  /** The in-memory copy and its statements. */
  private db: SqlStatements | undefined;
  /** Generation and inode of the snapshot `db` mirrors; gen null = there was no file. */
  private diskGen: number | null = null;
  private diskIno = 0;
  private diskSize = 0;
  /** The snapshot's stat when we last checked its generation. */
  private diskStat: fs.Stats | undefined;
  /** Open on the log (inode logFdIno) across operations: appends and catch-up need no open/close. */
  private logFd: number | undefined;
  private logFdIno = 0;
  /** At our last look, past logOffset was a torn record (not free space): the next lock holder truncates it. */
  private tornTail = false;
  /** The log the loaded snapshot continues with, and the one it already contains (meta log_id, prev_log_id). */
  private logId: string | null = null;
  private prevLogId: string | null = null;
  /** Inode of the log we have applied records from (0: none yet) and how many of its bytes. */
  private logIno = 0;
  private logOffset = 0;
  private readonly backgroundSyncs = new BackgroundSyncs();
  private readonly counters: Omit<LedgerStats, 'logOffset' | 'lockAcquisitions'> = {
    snapshotLoads: 0, recordsApplied: 0, recordsAppended: 0, snapshotsWritten: 0, tornTailsTruncated: 0, recordsSynced: 0, recordsSyncedInBackground: 0,
  };
  private dirFd: number | undefined;
  private checkedIntegrity = false;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** The lock's holdings count when `db` last matched the files (see upToDate). */
  private matchedInHolding = -1;

  private constructor(sql: SqlJsStatic, options: SharedSqlJsFileOptions) {
    this.sql = sql;
    this.file = path.resolve(options.file);
    this.clock = options.clock;
    this.lock = new FileLock(this.file, { leaseMs: LOCK_LEASE_MS, ...options.lock, reuseLockFile: true });
    this.onWarning = options.onWarning ?? (() => undefined);
    this.compactLogBytes = options.compactLogBytes ?? 64 * 1024;
    this.onSnapshotWritten = options.onSnapshotWritten ?? (() => undefined);
    this.logFile = `${this.file}.log`;
  }

  /** Opens (or starts) the file; an unreadable one is set aside and reported through onWarning. */
  static async open(options: SharedSqlJsFileOptions): Promise<SharedSqlJsFile> {
    const store = new SharedSqlJsFile(await loadSqlJs(), options);
    try {
      fs.mkdirSync(path.dirname(store.file), { recursive: true });
      // A process killed between writing a temp and renaming or linking it left the temp: one readdir clears them.
      removeOrphanTemps(store.file);
      await store.read(() => undefined);
      // A process that died without close() left its log: fold it in now, so later starters need not replay it.
      await store.foldLog();
    } catch (err) {
      throw unusableLedger(err, store.file);
    }
    return store;
  }

  stats(): LedgerStats {
    return { ...this.counters, lockAcquisitions: this.lock.holdings, logOffset: this.logOffset };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // At rest the ledger is then one plain SQLite file, readable by any tool.
    await this.foldLog();
    if (this.closed) return;
    this.closed = true;
    // A change queued before close finishes first (later ones find the ledger closed and take no lock).
    await this.queue;
    this.lock.dispose();
    this.dropDb();
    if (this.dirFd !== undefined) {
      fs.closeSync(this.dirFd);
      this.dirFd = undefined;
    }
  }

  /** Rows changed by the last statement run now. */
  changes(): number {
    return this.db!.changes();
  }

  /** Changes whenever the copy changes other than by deferred statements (see SqlStatements). */
  get epoch(): number {
    return this.db?.epoch ?? -1;
  }

  /** Runs fn on an up-to-date copy without the lock (snapshots are replaced whole; log records self-check). */
  async read<T>(fn: (now: number) => T): Promise<T> {
    this.assertOpen();
    try {
      if (!this.upToDate()) this.refresh(false);
    } catch (err) {
      this.dropIfBroken();
      if (!isRecoverable(err)) throw err;
      // Setting a file aside needs the lock: another process may be doing the same.
      await this.mutate(() => ({ result: undefined, changed: false }));
    }
    try {
      return fn(this.clock());
    } finally {
      this.dropIfBroken();
    }
  }

  /** A copy that lost deferred changes (SqlStatements.broken) is dropped: the next look reloads the files. */
  private dropIfBroken(): void {
    if (this.db?.broken) this.dropDb();
  }

  /** Changes from this instance run one at a time (the file lock is per instance, not re-entrant). */
  mutate<T>(fn: (now: number) => Mutation<T>): Promise<T> {
    const run = this.queue.then(() => this.mutateLocked(fn));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async mutateLocked<T>(fn: (now: number) => Mutation<T>): Promise<T> {
    this.assertOpen();
    await this.lock.acquire();
    try {
      return this.applyRecovering(() => this.apply(fn));
    } finally {
      this.dropIfBroken();
      this.lock.releaseOrLease();
    }
  }

  /**
   * True when `db` surely matches the files without a look at them: the lock has been ours (held or leased)
   * since they last matched, so no other process can have changed them.
   */
  private upToDate(): boolean {
    return this.db !== undefined && this.lock.ownsLock && this.lock.holdings === this.matchedInHolding;
  }

  /** Under the lock: runs step, setting damaged or orphaned files aside (with a warning) and trying again. */
  private applyRecovering<T>(step: () => T): T {
    for (let attempt = 0; ; attempt++) {
      try {
        return step();
      } catch (err) {
        if (!isRecoverable(err) || attempt >= 3) throw err;
        if (err instanceof CorruptLog) this.setAsideLog(err);
        else if (err instanceof ForeignLog) this.setAsideOrphanLog(err.message);
        else this.setAside(err instanceof CorruptLedger ? err.message : `SQLite: ${(err as Error).message}`);
      }
    }
  }

  private apply<T>(fn: (now: number) => Mutation<T>): T {
    if (!this.upToDate()) this.refresh(true);
    // Under the lock, our copy and the files now match, and our own writes keep them so.
    this.matchedInHolding = this.lock.holdings;
    const db = this.db!;
    db.beginChange();
    let out: Mutation<T>;
    let statements: LoggedStatement[];
    try {
      out = fn(this.clock());
      statements = db.endChange(out.changed);
    } catch (err) {
      db.abortChange();
      throw err;
    }
    if (!out.changed) return out.result;
    try {
      // No snapshot yet (or one written before the log existed): the change goes into a first snapshot.
      if (this.diskGen === null || this.logId === null) {
        this.writeSnapshot();
        out.onSynced?.(Promise.resolve(true));
      } else {
        this.append(statements, out.durable ?? false, out.onSynced);
      }
    } catch (err) {
      // Memory is now ahead of the files: forget it so the next operation starts from what is on disk.
      this.dropDb();
      throw err;
    }
    if (this.logOffset >= Math.max(this.compactLogBytes, this.diskSize)) this.compactQuietly();
    return out.result;
  }

  /**
   * Open and close: fold a leftover log into the snapshot. Best effort — when the lock is busy, whoever holds
   * it keeps the log going, and a failure leaves a log that is as good as a snapshot.
   */
  private async foldLog(): Promise<void> {
    if (this.closed || !fs.existsSync(this.logFile)) return;
    const run = this.queue.then(async () => {
      if (this.closed || !(await this.lock.acquireWithin(FOLD_LOCK_WAIT_MS))) return;
      try {
        this.applyRecovering(() => {
          this.refresh(true);
          if (fs.existsSync(this.logFile)) this.writeSnapshot();
        });
      } catch {
        this.dropDb();
      } finally {
        this.lock.release();
      }
    });
    this.queue = run.catch(() => undefined);
    await this.queue;
  }

  private compactQuietly(): void {
    try {
      this.writeSnapshot();
    } catch {
      // The log still holds everything: the next change tries again. Memory may have the new log id: reload.
      this.dropDb();
    }
  }

  /**
   * Makes `db` mirror the files: the snapshot (reloaded only when its generation or inode changed), then the
   * log records past our offset. The lock holder (`holder`) also clears away a log a crashed compaction left.
   */
  private refresh(holder: boolean): void {
    for (let attempt = 0; ; attempt++) {
      this.refreshSnapshot();
      const outcome = this.catchUp(holder);
      if (outcome === 'done') return;
      // The log and our copy disagree. Usually a compaction replaced both between our two looks: reload the
      // snapshot from scratch and look again; still disagreeing after that, the log belongs to no snapshot.
      if (attempt >= 2) throw new ForeignLog(`its log ${path.basename(this.logFile)} continues neither the snapshot nor the one before it`);
      this.dropDb();
    }
  }

  /** Reads the snapshot file when its generation or inode changed since we loaded it. */
  private refreshSnapshot(): void {
    // The usual case costs one stat: same inode, size and times as when we last looked.
    const seen = fs.statSync(this.file, { throwIfNoEntry: false });
    if (seen && this.db && this.diskGen !== null && sameFile(seen, this.diskStat)) return;
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (!this.db || this.diskGen !== null) this.useDb(freshDatabase(this.sql), null, 0);
      return;
    }
    try {
      const st = fs.fstatSync(fd);
      const header = Buffer.alloc(HEADER_BYTES);
      const n = st.size >= HEADER_BYTES ? fs.readSync(fd, header, 0, HEADER_BYTES, 0) : 0;
      const gen = n === HEADER_BYTES ? header.readUInt32BE(GEN_OFFSET) : -1;
      // Times alone changed (a rename updates ctime, a touch mtime): the generation says whether content did.
      if (this.db && gen === this.diskGen && st.ino === this.diskIno) {
        this.diskStat = st;
        return;
      }
      const bytes = readAll(fd, 0, st.size);
      this.useDb(this.openBytes(bytes), gen, st.ino);
      this.diskSize = bytes.length;
      this.diskStat = st;
      this.counters.snapshotLoads++;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Applies the log records past our offset. 'stale' when the log is not the one our copy continues. */
  private catchUp(holder: boolean): 'done' | 'stale' {
    const st = fs.statSync(this.logFile, { throwIfNoEntry: false });
    this.tornTail = false;
    if (!st) {
      this.closeLogFd();
      // No log: nothing to add, unless we applied records from one that was folded in since (reload).
      return this.logIno === 0 ? 'done' : 'stale';
    }
    if (this.logIno !== 0) {
      if (st.ino !== this.logIno || st.size < this.logOffset) return 'stale';
      if (st.size === this.logOffset) return 'done'; // a log without free space (an older version's): one stat says
    }
    const fd = this.logHandle(st.ino);
    if (fd === undefined) return 'stale'; // replaced between the stat and the open
    if (this.logIno === 0) {
      // A log we have not read yet: its header says which snapshot it continues.
      const id = parseLogHeader(readAll(fd, 0, Math.min(st.size, LOG_HEADER_BYTES)));
      if (id === undefined) {
        if (st.size >= LOG_HEADER_BYTES) throw new CorruptLog(0, 'not a ledger log (bad header)');
        // Shorter than a header: its creator is writing it (header and first record go in one write), or died
        // doing so before anything was acknowledged.
        if (holder) this.removeLog();
        return 'done';
      }
      if (id === this.prevLogId) {
        // A compaction folded this log in and died before removing it: never replay it (it would count twice).
        if (holder) this.removeLog();
        return 'done';
      }
      if (id !== this.logId) return 'stale';
      this.logIno = st.ino;
      this.logOffset = LOG_HEADER_BYTES;
    }
    // Usually one read of a record header: free space (zeros) there means nothing new.
    const { records, stop } = scanLogTail(fd, this.logOffset, st.size);
    for (const record of records) {
      this.replay(record.statements, record.offset);
      this.logOffset = record.end;
    }
    // A torn tail is left where it is: the next append by a lock holder truncates it.
    this.tornTail = stop.kind === 'torn';
    if (stop.kind === 'damaged') throw new CorruptLog(stop.at, stop.reason);
    return 'done';
  }

  /** The open log, if the file at its path is still inode `ino`. */
  private logHandle(ino: number): number | undefined {
    if (this.logFd !== undefined && this.logFdIno === ino) return this.logFd;
    this.closeLogFd();
    let fd: number;
    try {
      fd = fs.openSync(this.logFile, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (fs.fstatSync(fd).ino !== ino) {
      fs.closeSync(fd);
      return undefined;
    }
    this.logFd = fd;
    this.logFdIno = ino;
    return fd;
  }

  private closeLogFd(): void {
    if (this.logFd === undefined) return;
    try {
      this.backgroundSyncs.close(this.logFd);
    } catch {
      // already closed: nothing to release
    }
    this.logFd = undefined;
    this.logFdIno = 0;
  }

  private removeLog(): void {
    this.closeLogFd();
    unlinkQuiet(this.logFile);
  }

  private replay(statements: LoggedStatement[], offset: number): void {
    // Our own deferred statements come first in the log; their failure is this copy's, not the record's.
    this.db!.flushDeferred();
    try {
      this.db!.replay(statements);
    } catch (err) {
      // Good checksum but the statements do not apply: this copy and the log's writer disagree.
      throw new CorruptLog(offset, `record does not replay: ${(err as Error).message}`);
    }
    this.counters.recordsApplied++;
  }

  /**
   * Appends one change to the log. Durable changes are fdatasync'ed before they return ('background': while
   * the caller goes on — a reservation, during its provider call). Skipping it for the others is safe: an
   * unsynced record survives the death of its process (it is in the page cache) and is lost only with the
   * machine. Then a lost settlement leaves its synced reservation, charged at its expiry (the call still
   * counts, at its estimate); a lost release, cooldown, circuit step or reconcile costs a little quota or a
   * 429 more. A record that reached the disk only in part fails its length or checksum and, being last, is
   * dropped as a torn tail. Records written after the last fdatasync are the only ones a crash can damage,
   * since fdatasync flushes every earlier write too.
   *
   * A new log gets free space after its first record (zeros, up to about where it will be folded in). Records
   * then overwrite blocks the file has, so its size and block map stay put and fdatasync need not wait for a
   * journal commit (on ext4 that commit, carrying every lock file linked and unlinked since the last, cost more
   * than the data). Readers find the records' end by the zeros (scanLogTail); an older version reads the free
   * space as a torn tail and, as lock holder, truncates it: both read the same records.
   */
  private append(statements: LoggedStatement[], durable: boolean | 'background', onSynced?: (synced: Promise<boolean>) => void): void {
    const record = encodeRecord(statements);
    this.assertLockHeld();
    if (this.logIno === 0) {
      // First change since the snapshot: create the log, header, record and free space in one write.
      const used = Buffer.concat([encodeLogHeader(this.logId!), record]);
      const bytes = Buffer.concat([used, Buffer.alloc(Math.max(0, this.logPreallocBytes() - used.length))]);
      this.closeLogFd();
      const fd = fs.openSync(this.logFile, 'wx+');
      let ino: number;
      try {
        writeAll(fd, bytes, 0);
        if (durable === true) this.syncNow(fd);
        ino = fs.fstatSync(fd).ino;
      } catch (err) {
        fs.closeSync(fd);
        unlinkQuiet(this.logFile);
        throw err;
      }
      this.logFd = fd;
      this.logFdIno = ino;
      // Always: a durable record appended to this log later is only as durable as the log's name.
      this.syncDir();
      this.logIno = ino;
      this.logOffset = used.length;
    } else {
      const fd = this.logHandle(this.logIno);
      if (fd === undefined) throw new Error('the quota ledger log was replaced while this process held the lock');
      if (this.tornTail) {
        // A torn record left by a writer that was killed: never acknowledged, so it goes (with the free space).
        fs.ftruncateSync(fd, this.logOffset);
        this.tornTail = false;
        this.counters.tornTailsTruncated++;
      }
      try {
        writeAll(fd, record, this.logOffset);
        if (durable === true) this.syncNow(fd);
      } catch (err) {
        // Take back what may have been written, so no process counts a change its caller was told failed.
        try {
          fs.ftruncateSync(fd, this.logOffset);
        } catch {
          // the next lock holder truncates it as a torn tail, or reads a whole record the caller may retry
        }
        throw err;
      }
      this.logOffset += record.length;
    }
    // Either way the record is in the open log (logFd).
    if (durable === 'background') onSynced?.(this.syncInBackground(this.logFd!));
    this.counters.recordsAppended++;
  }

  private syncNow(fd: number): void {
    fs.fdatasyncSync(fd);
    this.counters.recordsSynced++;
  }

  private syncInBackground(fd: number): Promise<boolean> {
    this.counters.recordsSyncedInBackground++;
    return this.backgroundSyncs.sync(fd);
  }

  /** A new log's size with its free space: where it will be folded in (see apply), plus room for the last record. */
  private logPreallocBytes(): number {
    const foldAt = Math.max(this.compactLogBytes, this.diskSize) + 8 * 1024;
    return Math.min(LOG_PREALLOC_MAX_BYTES, Math.ceil(foldAt / 4096) * 4096);
  }

  /**
   * Writes `db` as the new snapshot and removes the log it folds in (see the crash points at the top).
   * Always durable: once the log is removed, the snapshot is the only copy of its records.
   */
  private writeSnapshot(): void {
    const live = this.db!;
    live.flushDeferred();
    const db = live.db;
    const nextLogId = newLogId();
    const prevLogId = this.logId ?? '';
    db.run("INSERT OR REPLACE INTO meta VALUES ('log_id', ?)", [nextLogId]);
    db.run("INSERT OR REPLACE INTO meta VALUES ('prev_log_id', ?)", [prevLogId]);
    db.run("INSERT INTO meta VALUES ('compactions', '1') ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1");
    const bytes = db.export();
    const gen = nextGen(this.diskGen);
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.writeUInt32BE(gen, GEN_OFFSET);
    view.writeUInt32BE(gen, GEN_VALID_OFFSET);
    if (this.diskGen === null) removeOrphanTemps(this.file); // first write by us: clear leftovers of dead writers
    const tmp = `${this.file}.tmp-${process.pid}-${(++tempCounter).toString(16)}`;
    const fd = fs.openSync(tmp, 'wx');
    let ino: number;
    try {
      writeAll(fd, view, 0);
      fs.fdatasyncSync(fd);
      ino = fs.fstatSync(fd).ino;
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    try {
      this.assertLockHeld();
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    renameReplacing(tmp, this.file);
    // Before the log goes: a power cut must not bring back the old snapshot without the log.
    this.syncDir();
    this.diskGen = gen;
    this.diskIno = ino;
    this.diskSize = view.length;
    this.logId = nextLogId;
    this.prevLogId = prevLogId || null;
    this.logIno = 0;
    this.logOffset = 0;
    this.diskStat = undefined;
    this.counters.snapshotsWritten++;
    this.onSnapshotWritten();
    // If this removal fails or is lost (crash, power cut), the log's header names prev_log_id: everyone ignores
    // it and the next lock holder removes it. The change itself is safe in the snapshot already.
    try {
      this.removeLog();
    } catch {
      // e.g. EPERM on Windows while another process reads it
    }
  }

  private assertLockHeld(): void {
    // We stalled past the stale limit and another process took over: writing now could lose its update.
    if (!this.lock.heldSurely()) throw new Error('the quota ledger lock was taken over while this process was stalled; the change was not written');
  }

  private openBytes(bytes: Buffer): Database {
    const db = openSnapshotBytes(this.sql, bytes, this.file, !this.checkedIntegrity);
    this.checkedIntegrity = true;
    return db;
  }

  private useDb(db: Database, gen: number | null, ino: number): void {
    this.dropDb();
    // The copy's rollback journal only needs to serve this process (the files are the log and the snapshot).
    // No other connection ever opens the copy, so exclusive locking is safe; it spares SQLite re-reading its
    // file's header to detect other writers before every statement, which cost more than the statements did.
    // Durability is the log's business, not this copy's: no syncs of the in-memory file either.
    db.exec('PRAGMA journal_mode = MEMORY; PRAGMA locking_mode = EXCLUSIVE; PRAGMA synchronous = OFF');
    this.db = new SqlStatements(db);
    this.diskGen = gen;
    this.diskIno = ino;
    const meta = new Map((db.exec("SELECT key, value FROM meta WHERE key IN ('log_id', 'prev_log_id')")[0]?.values ?? []).map((r) => [String(r[0]), String(r[1])]));
    // A snapshot from before the log has no log_id: its first change writes a snapshot that starts one.
    this.logId = meta.get('log_id') || null;
    this.prevLogId = meta.get('prev_log_id') || null;
  }

  private dropDb(): void {
    this.db?.close();
    this.db = undefined;
    this.diskGen = null;
    this.diskIno = 0;
    this.logId = null;
    this.prevLogId = null;
    this.logIno = 0;
    this.logOffset = 0;
    this.tornTail = false;
    this.diskStat = undefined;
    this.closeLogFd();
  }

  /** Under the lock: move the unreadable snapshot out of the way (kept for inspection) and start afresh. */
  private setAside(reason: string): void {
    const stamp = asideStamp();
    const target = `${this.file}.corrupt-${stamp}`;
    const aside = moveAside(this.file, target) ?? asideName(target);
    // Its log only makes sense on top of it: keep it beside it, out of the new ledger's way.
    const logAside = this.moveLogAside(`${this.logFile}.orphan-${stamp}`);
    this.useDb(freshDatabase(this.sql), null, 0);
    this.onWarning({
      code: 'ledger_corrupt',
      file: this.file,
      setAsideAs: aside,
      message:
        `The quota ledger ${this.file} could not be read (${reason}). It was set aside as ${path.basename(aside)}` +
        (logAside ? ` (its operation log as ${path.basename(logAside)})` : '') +
        ' and a new, empty ledger was started: quota used before now is not counted, so free-tier limits may be overrun until the windows reset.',
    });
  }

  /**
   * Under the lock, after the records before the damage were applied: keep a copy of the damaged log, write
   * them into a new snapshot (which removes the log) and say what was lost.
   */
  private setAsideLog(err: CorruptLog): void {
    if (!this.db) this.refreshSnapshot();
    const aside = asideName(`${this.logFile}.corrupt-${asideStamp()}`);
    try {
      fs.copyFileSync(this.logFile, aside);
    } catch (copyErr) {
      if ((copyErr as NodeJS.ErrnoException).code !== 'ENOENT') throw copyErr;
    }
    const kept = this.logOffset;
    this.writeSnapshot();
    this.onWarning({
      code: 'ledger_corrupt',
      file: this.logFile,
      setAsideAs: aside,
      message:
        `The quota ledger's operation log ${this.logFile} is ${err.message}. A copy was set aside as ${path.basename(aside)}; ` +
        `the changes before byte ${kept} were kept and those after it are not counted, so quota used in the last few calls may be missing.`,
    });
  }

  private setAsideOrphanLog(reason: string): void {
    const aside = this.moveLogAside(`${this.logFile}.orphan-${asideStamp()}`);
    this.dropDb();
    if (!aside) return;
    this.onWarning({
      code: 'ledger_corrupt',
      file: this.logFile,
      setAsideAs: aside,
      message:
        `The quota ledger ${this.file} does not match ${reason.replace(/^its /, 'the ')}: the snapshot was replaced or deleted by hand. ` +
        `The log was set aside as ${path.basename(aside)}; its changes are not counted.`,
    });
  }

  private moveLogAside(target: string): string | undefined {
    this.closeLogFd();
    return moveAside(this.logFile, target);
  }

  private syncDir(): void {
    if (process.platform === 'win32') return; // directories cannot be fsynced there; NTFS journals the rename
    this.dirFd ??= fs.openSync(path.dirname(this.file), 'r');
    fs.fsyncSync(this.dirFd);
  }

  /** Runs a changing statement now, recording it for the log. */
  run(sql: string, params: SqlValue[]): void {
    this.db!.run(sql, params);
  }

  /** Records a changing statement for the log, to run on the copy later (SqlStatements.defer). */
  defer(sql: string, params: SqlValue[]): void {
    this.db!.defer(sql, params);
  }

  all(sql: string, params: SqlValue[]): Array<Record<string, SqlValue>> {
    return this.db!.all(sql, params);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('ledger is closed');
  }
}
