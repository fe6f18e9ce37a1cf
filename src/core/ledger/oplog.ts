import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import type { SqlValue } from 'sql.js';

/**
 * The ledger's operation log (`ledger.sqlite.log`): the changes made since the snapshot (`ledger.sqlite`) was
 * written, as the SQL statements each change ran, so any process can replay them on its copy of the snapshot.
 * Statements rather than operations: replay then needs no options (thresholds, row caps) and gives every
 * process the same database whatever its configuration.
 *
 * File: a header naming the log (`switchboard-ledger-log v1 <32 hex>\n`, the id the snapshot expects), then
 * records. Record: payload length (u32 BE), its bitwise complement (so a damaged length is told from a long
 * one), CRC-32 of the payload, payload = UTF-8 JSON `[[sql, params], …]`.
 */

export const LOG_MAGIC = 'switchboard-ledger-log v1 ';
export const LOG_HEADER_BYTES = LOG_MAGIC.length + 32 + 1;
export const RECORD_HEADER_BYTES = 12;
/** Far above any real record (a settle is ~2 KB): a larger length is damage, not a record. */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;

export type LoggedStatement = [sql: string, params: SqlValue[]];

export interface ScannedRecord {
  /** Absolute file offsets of the record's first byte and of the byte after it. */
  offset: number;
  end: number;
  statements: LoggedStatement[];
}

/**
 * Why a scan stopped before the end of the bytes:
 * - torn: the last record is incomplete (its writer was killed, or the machine stopped before it reached the
 *   disk). Never acknowledged to anyone, so it is ignored, and the next lock holder truncates it.
 * - damaged: a bad record with more data after it. Not a crash artifact: the file was damaged.
 * - free: zeros from a record boundary to the end of the bytes. The end of the records: room the log's writer
 *   set aside for the next ones (see preallocation in sqljs-store.ts), or a file that grew before a crash
 *   while its data never reached the disk. Either way nothing was written there; the next writer writes over it.
 */
export type ScanStop =
  | { kind: 'end' }
  | { kind: 'free'; at: number }
  | { kind: 'torn'; at: number; reason: string }
  | { kind: 'damaged'; at: number; reason: string };

export function newLogId(): string {
  return randomBytes(16).toString('hex');
}

export function encodeLogHeader(id: string): Buffer {
  if (!/^[0-9a-f]{32}$/.test(id)) throw new Error(`bad ledger log id ${id}`);
  return Buffer.from(`${LOG_MAGIC}${id}\n`, 'latin1');
}

/** The log id, or undefined when the bytes are not a log header. */
export function parseLogHeader(bytes: Buffer): string | undefined {
  if (bytes.length < LOG_HEADER_BYTES) return undefined;
  const text = bytes.toString('latin1', 0, LOG_HEADER_BYTES);
  const m = /^switchboard-ledger-log v1 ([0-9a-f]{32})\n$/.exec(text);
  return m?.[1];
}

/** Each statement's SQL as JSON text: the same few statements make every record, and escaping them is most of the work. */
const sqlJson = new Map<string, string>();
const MAX_CACHED_SQL = 256;

function jsonOfSql(sql: string): string {
  let json = sqlJson.get(sql);
  if (json === undefined) {
    json = JSON.stringify(sql);
    if (sqlJson.size < MAX_CACHED_SQL) sqlJson.set(sql, json);
  }
  return json;
}

export function encodeRecord(statements: LoggedStatement[]): Buffer {
  // Exactly JSON.stringify(statements), put together from the cached SQL and each statement's parameters.
  let json = '[';
  for (let i = 0; i < statements.length; i++) {
    const statement = statements[i]!;
    // The replacer costs more than the rest of the encoding; only values JSON cannot hold need it.
    const params = plainJsonParams(statement) ? JSON.stringify(statement[1]) : JSON.stringify(statement[1], encodeValue);
    json += `${i ? ',' : ''}[${jsonOfSql(statement[0])},${params}]`;
  }
  json += ']';
  const length = Buffer.byteLength(json, 'utf8');
  if (length > MAX_RECORD_BYTES) throw new Error(`ledger log record too large (${length} bytes)`);
  // The payload is encoded straight into the record, behind its header.
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + length);
  out.write(json, RECORD_HEADER_BYTES, 'utf8');
  out.writeUInt32BE(length, 0);
  out.writeUInt32BE(~length >>> 0, 4);
  out.writeUInt32BE(crc32(out.subarray(RECORD_HEADER_BYTES)), 8);
  return out;
}

/** Parses the records in `bytes`, which hold the file from absolute offset `base` to its end. */
export function scanRecords(bytes: Buffer, base: number): { records: ScannedRecord[]; stop: ScanStop } {
  const records: ScannedRecord[] = [];
  let p = 0;
  // Torn: only zeros (free space) or nothing after the bytes this record could have written; damaged otherwise.
  const bad = (why: string, torn: boolean): { records: ScannedRecord[]; stop: ScanStop } => ({
    records,
    stop: torn ? { kind: 'torn', at: base + p, reason: why } : { kind: 'damaged', at: base + p, reason: why },
  });
  while (p < bytes.length) {
    // A record's length starts with zero bytes too, but never four of them (lengths are > 0).
    if (bytes[p] === 0 && allZero(bytes, p)) return { records, stop: { kind: 'free', at: base + p } };
    const left = bytes.length - p;
    if (left < RECORD_HEADER_BYTES) return bad('incomplete record header', true);
    const len = bytes.readUInt32BE(p);
    if ((~len >>> 0) !== bytes.readUInt32BE(p + 4) || len === 0 || len > MAX_RECORD_BYTES) return bad('bad record length', allZero(bytes, p + RECORD_HEADER_BYTES));
    const end = p + RECORD_HEADER_BYTES + len;
    if (end > bytes.length) return bad(`incomplete record (${left} of ${end - p} bytes)`, true);
    const payload = bytes.subarray(p + RECORD_HEADER_BYTES, end);
    // A last record with a bad checksum: its pages did not all reach the disk before a crash, or its writer was
    // killed while writing it into the log's free space.
    if (crc32(payload) !== bytes.readUInt32BE(p + 8)) return bad('checksum mismatch', allZero(bytes, end));
    let statements: LoggedStatement[];
    try {
      statements = JSON.parse(payload.toString('utf8'), decodeValue) as LoggedStatement[];
      if (!Array.isArray(statements) || !statements.every((s) => Array.isArray(s) && typeof s[0] === 'string' && Array.isArray(s[1]))) throw new Error('not a statement list');
    } catch (err) {
      return bad(`unreadable record: ${(err as Error).message}`, false);
    }
    records.push({ offset: base + p, end: base + end, statements });
    p = end;
  }
  return { records, stop: { kind: 'end' } };
}

/** True when no parameter needs encodeValue (so JSON.stringify with or without it gives the same text). */
function plainJsonParams([, params]: LoggedStatement): boolean {
  for (const v of params) {
    if (typeof v === 'number' ? !Number.isFinite(v) : v instanceof Uint8Array) return false;
  }
  return true;
}

/** JSON has no Infinity/NaN: tag them so a replay binds exactly what the original change bound. */
function encodeValue(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return { $n: String(value) };
  if (value instanceof Uint8Array) throw new Error('ledger log cannot hold blobs');
  return value;
}

function decodeValue(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const n = (value as { $n?: unknown }).$n;
    if (typeof n === 'string') return Number(n);
  }
  return value;
}

const ZEROS = Buffer.alloc(4096);

/** True when bytes[from…] are all zero (compared a page at a time: free space in a log is tens of KB). */
function allZero(bytes: Buffer, from: number): boolean {
  for (let i = from; i < bytes.length; i += ZEROS.length) {
    const n = Math.min(ZEROS.length, bytes.length - i);
    if (!bytes.subarray(i, i + n).equals(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n))) return false;
  }
  return true;
}

let table: Uint32Array | undefined;

const nativeCrc32 = (zlib as unknown as { crc32?: (d: Buffer) => number }).crc32;

/** zlib's CRC-32 (Node ≥ 20.15), else the same polynomial by table. */
export function crc32(data: Buffer): number {
  return nativeCrc32 ? nativeCrc32(data) >>> 0 : crc32ByTable(data);
}

export function crc32ByTable(data: Buffer): number {
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const byte of data) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
