/**
 * The report index, `<workspace>/.switchboard/report-index`: what a DelegationLog had summed (per day and
 * provider), the newest rows (enough for any first page), and how much of the audit log that covers, so the
 * first report in a new process reads only the lines appended since.
 *
 * The folder is inside the workspace, so a cloned repository can ship a forged index. Two checks make that
 * harmless: the file starts with an HMAC-SHA256 of its body under a per-user key kept in $SWITCHBOARD_HOME
 * (only this user's Switchboard can have written it — a plain hash would be recomputed by the forger), and the
 * body names the SHA-256 of the covered bytes of the log, which the reader recomputes (so a log truncated,
 * rewritten, rotated or trimmed since no longer matches). Any doubt means a full parse, never an error.
 *
 * Format: `<hmac hex>\n<body JSON>`. Written to a temp file and renamed, so readers see a whole index or the
 * previous one; not fsynced — an index lost or torn by a crash fails its HMAC and costs one full parse.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { openNoFollow, O_NOFOLLOW, tempNameFor } from '../files/durable';
import { loadBuckets, storeBuckets, type DayBuckets } from './aggregate';
import { rowFromIndex, type DelegationRow } from './delegation-row';

export const INDEX_VERSION = 1;
export const INDEX_FILE = 'report-index';
export const KEY_FILE = 'report-index.key';
/** The real index holds a few hundred rows (≈ 200 KB); anything far larger is not ours. */
export const MAX_INDEX_BYTES = 4 * 1024 * 1024;

export interface IndexState {
  /** Bytes of the log covered: parsed lines, plus a too-long line being skipped when `skipping`. */
  offset: number;
  skipping: boolean;
  /** SHA-256 (hex) of the log's first `offset` bytes. */
  sha256: string;
  /** Delegations in those bytes. */
  count: number;
  buckets: DayBuckets;
  /** The newest rows, oldest first, seqs consecutive up to count - 1. */
  rows: DelegationRow[];
}

export function indexFileFor(auditFile: string): string {
  return path.join(path.dirname(auditFile), INDEX_FILE);
}

const keys = new Map<string, Buffer>();

/**
 * The per-user key (32 random bytes, hex, owner-only), created on first use unless `create` is false. Two
 * processes creating it at once both end up with the same key: it is linked into place only if absent.
 */
export function indexKey(home: string, create: boolean): Buffer | undefined {
  const file = path.join(home, KEY_FILE);
  const known = keys.get(file);
  if (known) return known;
  let key = readKey(file);
  if (!key && create) {
    try {
      fs.mkdirSync(home, { recursive: true, mode: 0o700 });
      const temp = path.join(home, tempNameFor(file, crypto.randomBytes(6).toString('hex')));
      fs.writeFileSync(temp, crypto.randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
      try {
        fs.linkSync(temp, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        fs.rmSync(temp, { force: true });
      }
      key = readKey(file);
    } catch {
      return undefined; // no writable home: reports still work, with a full parse per process
    }
  }
  if (key) keys.set(file, key);
  return key;
}

function readKey(file: string): Buffer | undefined {
  const text = readSmallFile(file, 64)?.toString('latin1');
  return text && /^[0-9a-f]{64}$/.test(text) ? Buffer.from(text, 'hex') : undefined;
}

/** A regular file (never through a final symbolic link, never a FIFO) of at most `max` bytes, else undefined. */
function readSmallFile(file: string, max: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openNoFollow(file);
  } catch {
    return undefined;
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile() || stat.size > max) return undefined;
    const buf = Buffer.allocUnsafe(stat.size);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, got);
      if (n <= 0) return undefined;
      got += n;
    }
    return buf;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

function mac(key: Buffer, body: Buffer | string): Buffer {
  return crypto.createHmac('sha256', key).update(body).digest();
}

/** The index's claims, once its HMAC and every field check out; undefined otherwise. Says nothing yet about the log. */
export function loadIndex(file: string, key: Buffer): IndexState | undefined {
  const data = readSmallFile(file, MAX_INDEX_BYTES);
  if (!data) return undefined;
  const newline = data.indexOf(10);
  if (newline !== 64) return undefined;
  const claimed = Buffer.from(data.toString('latin1', 0, 64), 'hex');
  const body = data.subarray(65);
  if (claimed.length !== 32 || !crypto.timingSafeEqual(claimed, mac(key, body))) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  return checkState(value);
}

function checkState(value: unknown): IndexState | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (v.v !== INDEX_VERSION || !Number.isSafeInteger(v.offset) || (v.offset as number) < 0 || typeof v.skipping !== 'boolean') return undefined;
  if (typeof v.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.sha256) || !Number.isSafeInteger(v.count) || (v.count as number) < 0 || !Array.isArray(v.rows)) return undefined;
  const count = v.count as number;
  const buckets = loadBuckets(v.buckets);
  if (!buckets) return undefined;
  let rowsInBuckets = 0;
  for (const providers of buckets.values()) for (const sums of providers.values()) rowsInBuckets += sums.rows;
  if (rowsInBuckets !== count || v.rows.length > count) return undefined;
  const rows: DelegationRow[] = [];
  const firstSeq = count - v.rows.length;
  for (const [i, raw] of v.rows.entries()) {
    const row = rowFromIndex(raw);
    if (!row || row.seq !== firstSeq + i) return undefined;
    rows.push(row);
  }
  return { offset: v.offset as number, skipping: v.skipping, sha256: v.sha256, count, buckets, rows };
}

/** Writes the index atomically; best effort (a read-only workspace just means full parses). */
export function saveIndex(file: string, key: Buffer, state: IndexState): boolean {
  const body = JSON.stringify({ v: INDEX_VERSION, offset: state.offset, skipping: state.skipping, sha256: state.sha256, count: state.count, buckets: storeBuckets(state.buckets), rows: state.rows });
  // A log with countless providers or days (a hostile one) would give an index no reader accepts: not written.
  if (Buffer.byteLength(body) > MAX_INDEX_BYTES - 100) return false;
  const temp = path.join(path.dirname(file), tempNameFor(file, crypto.randomBytes(6).toString('hex')));
  try {
    // O_EXCL|O_NOFOLLOW: never write through something planted at the temp name; rename replaces a planted link itself.
    const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW, 0o600);
    try {
      fs.writeFileSync(fd, `${mac(key, body).toString('hex')}\n${body}`);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
    return true;
  } catch {
    fs.rmSync(temp, { force: true });
    return false;
  }
}
