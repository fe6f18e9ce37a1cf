import fs from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import type { Database, SqlJsStatic } from 'sql.js';
import { UserError } from '../errors';
import { RECORD_HEADER_BYTES, scanRecords, type ScanStop, type ScannedRecord } from './oplog';
import { SCHEMA_V1, SCHEMA_VERSION, migrationsFrom } from './schema';

/** Low-level file helpers of the sql.js ledger's shared snapshot + log (sqljs-store.ts). */

export const HEADER_BYTES = 100;
/** SQLite header fields we keep our generation in: file change counter and version-valid-for (kept equal). */
export const GEN_OFFSET = 24;
export const GEN_VALID_OFFSET = 92;

export class CorruptLedger extends Error {}

/** A log record that cannot be read or replayed, with data after it: the log file was damaged. */
export class CorruptLog extends Error {
  constructor(readonly at: number, reason: string) {
    super(`damaged at byte ${at}: ${reason}`);
  }
}

/** A log that continues neither the snapshot nor the one before it (its snapshot was set aside or deleted). */
export class ForeignLog extends Error {}

export function isRecoverable(err: unknown): boolean {
  return err instanceof CorruptLedger || err instanceof CorruptLog || err instanceof ForeignLog || isSqliteCorruption(err);
}

export function asideStamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

export function asideName(wanted: string): string {
  return fs.existsSync(wanted) ? `${wanted}-${randomBytes(3).toString('hex')}` : wanted;
}

export function sameFile(a: fs.Stats, b: fs.Stats | undefined): boolean {
  return b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

export function readAll(fd: number, from: number, to: number): Buffer {
  const bytes = Buffer.alloc(Math.max(0, to - from));
  let off = 0;
  while (off < bytes.length) {
    const got = fs.readSync(fd, bytes, off, bytes.length - off, from + off);
    if (got === 0) break;
    off += got;
  }
  return bytes.subarray(0, off);
}

export function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let off = 0;
  while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off, position + off);
}

export function unlinkQuiet(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}


export function nextGen(gen: number | null): number {
  // A new file starts at a random generation so a reader holding an older file's copy cannot match it by chance.
  const next = gen === null ? randomInt(1, 2 ** 31) : (gen + 1) >>> 0;
  return next === 0 ? 1 : next;
}

/** Cheap checks on the raw bytes that catch the usual damage (empty, foreign, cut short) before SQLite sees it. */
export function headerProblem(bytes: Buffer): string | undefined {
  if (bytes.length === 0) return 'the file is empty (0 bytes)';
  if (bytes.length < HEADER_BYTES || bytes.toString('latin1', 0, 16) !== 'SQLite format 3\0') return 'not a SQLite database';
  const rawPageSize = bytes.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65_536 : rawPageSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return 'damaged header (page size)';
  if (bytes.length % pageSize !== 0) return `truncated (${bytes.length} bytes is not a whole number of ${pageSize}-byte pages)`;
  // The in-header page count is trustworthy only when version-valid-for matches the change counter.
  if (bytes.readUInt32BE(GEN_OFFSET) === bytes.readUInt32BE(GEN_VALID_OFFSET)) {
    const expected = bytes.readUInt32BE(28) * pageSize;
    if (expected > bytes.length) return `truncated (${bytes.length} of ${expected} bytes)`;
  }
  return undefined;
}

export function isSqliteCorruption(err: unknown): boolean {
  return err instanceof Error && /malformed|not a database|corrupt|SQLITE_CORRUPT|SQLITE_NOTADB/i.test(err.message);
}

export function renameReplacing(from: string, to: string): void {
  // Windows refuses to replace a file another process has open for a moment; retry briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      fs.renameSync(from, to);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (process.platform !== 'win32' || attempt >= 20 || !['EPERM', 'EACCES', 'EBUSY'].includes(code ?? '')) {
        fs.rmSync(from, { force: true });
        throw err;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/** Opens snapshot bytes, refusing damage (CorruptLedger) and a newer schema (UserError); starts an empty file's schema. */
export function openSnapshotBytes(sql: SqlJsStatic, bytes: Buffer, file: string, checkIntegrity: boolean): Database {
  const problem = headerProblem(bytes);
  if (problem) throw new CorruptLedger(problem);
  let db: Database | undefined;
  try {
    db = new sql.Database(bytes);
    const version = Number(db.exec('PRAGMA user_version')[0]?.values[0]?.[0] ?? 0);
    if (version > SCHEMA_VERSION) {
      throw new UserError(
        `The quota ledger ${file} was written by a newer Switchboard (schema ${version}, this one knows ${SCHEMA_VERSION}); update Switchboard.`,
        'ledger_newer',
      );
    }
    const tables = Number(db.exec("SELECT count(*) FROM sqlite_master WHERE type = 'table'")[0]?.values[0]?.[0] ?? 0);
    if (version === 0) {
      if (tables > 0) throw new CorruptLedger('not a Switchboard ledger (no schema version)');
      db.exec(SCHEMA_V1);
    }
    // Every process brings its copy up to date on load, so replayed statements always meet the current schema.
    if (version < SCHEMA_VERSION) db.exec(migrationsFrom(Math.max(1, version)));
    if (checkIntegrity) {
      // Once per process: a full check costs about as much as reading the file, too much for every reload.
      const check = String(db.exec('PRAGMA quick_check')[0]?.values[0]?.[0] ?? '');
      if (check !== 'ok') throw new CorruptLedger(`integrity check failed: ${check}`);
    }
    return db;
  } catch (err) {
    db?.close();
    if (isSqliteCorruption(err)) throw new CorruptLedger(`SQLite: ${(err as Error).message}`);
    throw err;
  }
}

export function freshDatabase(sql: SqlJsStatic): Database {
  const db = new sql.Database();
  // Small pages: the ledger is tens of small tables and indexes, each taking at least one page, and every
  // process reads the whole file after each compaction.
  db.exec(`PRAGMA page_size = 1024; ${SCHEMA_V1} ${migrationsFrom(1)}`);
  return db;
}

/** A file-system error opening the ledger (a folder where the file goes, no permission …) as one plain line. */
export function unusableLedger(err: unknown, file: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  const where = (err as NodeJS.ErrnoException)?.path ?? file;
  const why: Record<string, string> = {
    EISDIR: 'is a folder, not a file; move it away and try again',
    ENOTDIR: 'has a file where a folder should be in its path',
    EEXIST: 'is a file where a folder is needed; move it away and try again',
    EACCES: 'cannot be read or written (permission denied)',
    EPERM: 'cannot be read or written (operation not permitted)',
    EROFS: 'is on a read-only file system',
  };
  if (!code || !why[code]) return err;
  return new UserError(`cannot open the usage ledger: ${where} ${why[code]}`, 'ledger_unusable');
}

/** How much of the log a catch-up reads at a time: new records are a few KB, the free space after them tens of KB. */
const TAIL_CHUNK_BYTES = 16 * 1024;
const recordHead = Buffer.alloc(RECORD_HEADER_BYTES);
const NOTHING_NEW: { records: ScannedRecord[]; stop: ScanStop } = Object.freeze({ records: [], stop: { kind: 'end' } });

/**
 * The log's records from byte `from` (a record boundary) up to `size`, read a chunk at a time so that the free
 * space after them (preallocated zeros) is not read whole. One read of a record header answers the usual
 * question, "anything new?". A bad record at a chunk's end is judged on the whole rest of the file, as if the
 * file had been read in one piece.
 */
export function scanLogTail(fd: number, from: number, size: number, chunkBytes = TAIL_CHUNK_BYTES): { records: ScannedRecord[]; stop: ScanStop } {
  const n = fs.readSync(fd, recordHead, 0, Math.min(RECORD_HEADER_BYTES, size - from), from);
  if (n === 0) return NOTHING_NEW;
  if (recordHead.readUInt32BE(0) === 0 && recordHead.readUInt32BE(4) === 0 && recordHead.readUInt32BE(8) === 0 && n === RECORD_HEADER_BYTES) {
    return { records: [], stop: { kind: 'free', at: from } };
  }
  const records: ScannedRecord[] = [];
  for (let pos = from; ;) {
    const bytes = readAll(fd, pos, Math.min(size, pos + Math.max(chunkBytes, RECORD_HEADER_BYTES)));
    const scan = scanRecords(bytes, pos);
    records.push(...scan.records);
    const readToEnd = pos + bytes.length >= size || bytes.length === 0;
    // Zeros cut by the chunk's end may be a record's length (its high bytes are zero): free space only when a
    // whole record header's worth of them is seen, which no record starts with.
    if (scan.stop.kind === 'free' && !readToEnd && scan.stop.at + RECORD_HEADER_BYTES > pos + bytes.length) {
      pos = scan.stop.at;
      continue;
    }
    if (readToEnd || scan.stop.kind === 'free' || scan.stop.kind === 'damaged') return { records, stop: scan.stop };
    if (scan.stop.kind === 'end') {
      pos += bytes.length;
      continue;
    }
    const rest = scanRecords(readAll(fd, scan.stop.at, size), scan.stop.at);
    records.push(...rest.records);
    return { records, stop: rest.stop };
  }
}

/** Renames `file` to a free name like `target`; undefined when there was no file. */
export function moveAside(file: string, target: string): string | undefined {
  const aside = asideName(target);
  try {
    fs.renameSync(file, aside);
    return aside;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return undefined;
  }
}

/**
 * fdatasync on the thread pool, so the caller's next wait (a provider call) overlaps the disk's. An fd stays
 * open until its syncs finish: closed meanwhile, its number could be reused and a sync reach another file.
 */
export class BackgroundSyncs {
  private readonly inFlight = new Map<number, number>();
  private readonly closeAfter = new Set<number>();

  /** Resolves true once everything written to fd so far is on disk, false when the sync failed. */
  sync(fd: number): Promise<boolean> {
    this.inFlight.set(fd, (this.inFlight.get(fd) ?? 0) + 1);
    return new Promise((resolve) => {
      fs.fdatasync(fd, (err) => {
        const left = this.inFlight.get(fd)! - 1;
        if (left > 0) {
          this.inFlight.set(fd, left);
        } else {
          this.inFlight.delete(fd);
          if (this.closeAfter.delete(fd)) fs.close(fd, () => undefined);
        }
        resolve(err === null);
      });
    });
  }

  /** Closes fd now, or when its syncs finish. */
  close(fd: number): void {
    if (this.inFlight.has(fd)) this.closeAfter.add(fd);
    else fs.closeSync(fd);
  }
}
