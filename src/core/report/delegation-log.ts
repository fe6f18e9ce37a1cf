/**
 * The delegations recorded in a workspace's audit log (`.switchboard/audit.jsonl`), read incrementally: each
 * reader remembers how far it has parsed and, on the next refresh, reads only the bytes appended since. What it
 * has summed is kept in the report index (report-index.ts), so a new process reads only the lines appended since
 * the last report instead of a year of history; pages older than the index's rows parse the whole log once.
 *
 * The log lives in the workspace, so its content is untrusted: every field is type-checked and bounded, a line
 * that is too long or not JSON is skipped, and a file that shrank, was replaced or rewritten is parsed again from
 * the start. Parsing never depends on where reads start or end, so an index plus the tail gives exactly what a
 * full parse gives.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { addRow, type DayBuckets } from './aggregate';
import { rowFromAudit, type DelegationRow } from './delegation-row';
import { indexFileFor, indexKey, loadIndex, saveIndex } from './report-index';
import { MAX_PAGE, parseSince, reportFrom, type ReportOptions, type UsageReport } from './report';

export type { DelegationRow } from './delegation-row';

/** Longer lines are not ours (appendAudit keeps lines under 4 KiB): skipped unparsed. */
const MAX_LINE_CHARS = 16 * 1024;
/** A UTF-8 line of at most MAX_LINE_CHARS UTF-16 units has at most 3 bytes per unit; beyond this it is skipped. */
const MAX_CARRY_BYTES = 3 * MAX_LINE_CHARS + 4;
const CHUNK_BYTES = 4 * 1024 * 1024;
/** The last covered bytes, re-read on each refresh: an in-place rewrite of the log is noticed. */
const SAMPLE_BYTES = 4096;
const DELEGATE_MARK = '"op":"delegate"';
/** Rows read at a time, backwards, when a page is older than the rows held. */
const OLDER_ROWS = 1000;
/** Reads backwards are smaller: each read's lines are all parsed, and a page needs a few hundred rows. */
const BACKWARD_CHUNK_BYTES = 256 * 1024;
/** Rows the index keeps: any first page, and the one after it that tells whether there are more. */
const INDEX_ROWS = MAX_PAGE + 1;
const EMPTY = Buffer.alloc(0);

export interface DelegationLogOptions {
  /**
   * $SWITCHBOARD_HOME, where the key that signs the report index lives. Without it no index is read or written
   * (every new reader parses the whole log).
   */
  home?: string;
  /** Write the index once this many bytes were parsed past what it covers (default 64 KiB). */
  indexAfterBytes?: number;
  /** Bytes per read (default 4 MiB); tests make it small so lines straddle reads. */
  chunkBytes?: number;
}

export class DelegationLog {
  private offset = 0;
  /** Inside a line too long to be ours: everything up to the next newline is skipped. */
  private skipping = false;
  private identity = '';
  private count = 0;
  private buckets: DayBuckets = new Map();
  /** The newest rows, oldest first (every row after a full parse; the index's rows and the tail after a load). */
  private rows: DelegationRow[] = [];
  /** SHA-256 of the covered bytes so far, kept running so the index can name it without re-reading. */
  private hash = crypto.createHash('sha256');
  private sample: Buffer = EMPTY;
  private triedIndex = false;
  /** The offset the index on disk covers, as far as this reader knows. */
  private indexedOffset = 0;
  private adopted = 0;
  private readonly indexFile: string;
  private readonly indexAfterBytes: number;
  private readonly chunkBytes: number;
  /** Where the line of the oldest row held starts, once known (reading backwards finds it). */
  private heldStart: number | undefined;

  constructor(readonly file: string, private readonly options: DelegationLogOptions = {}) {
    this.indexFile = indexFileFor(file);
    this.indexAfterBytes = options.indexAfterBytes ?? 64 * 1024;
    this.chunkBytes = Math.max(1, options.chunkBytes ?? CHUNK_BYTES);
  }

  /** Reads what was appended since the last call (or, the first time, what the index does not cover). */
  refresh(): void {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      this.reset();
      return;
    }
    try {
      const stat = fs.fstatSync(fd);
      const identity = `${stat.dev}:${stat.ino}`;
      if (identity !== this.identity || stat.size < this.offset || !this.sampleStillThere(fd)) {
        this.reset();
        this.identity = identity;
      }
      if (this.offset === 0 && !this.triedIndex) {
        this.triedIndex = true;
        this.loadIndex(fd, stat.size);
      }
      const before = this.offset;
      this.readFrom(fd, stat.size);
      if (this.offset > before && this.offset - this.indexedOffset >= this.indexAfterBytes) this.saveIndex();
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Bytes of the log the current state took from the report index instead of parsing them (0: none). */
  get bytesFromIndex(): number {
    return this.adopted;
  }

  /**
   * The report. A page older than the rows held reads older rows backwards from the oldest held, as many as it
   * needs; a mid-day `since` (or a log that changed meanwhile) parses the whole log once.
   */
  report(options: ReportOptions = {}): UsageReport {
    this.refresh();
    for (;;) {
      const report = reportFrom(this.source(), options);
      if (report) return report;
      // Sums per day cannot be split by the hour: a report from mid-day needs that day's rows, wherever they are.
      const midDay = options.since !== undefined && !parseSince(options.since).endsWith('T00:00:00.000Z');
      if (midDay || !this.readOlder()) {
        this.parseAll();
        return reportFrom(this.source(), options)!;
      }
    }
  }

  /** Every delegation, oldest first. */
  allRows(): readonly DelegationRow[] {
    this.refresh();
    if (this.rows.length !== this.count) this.parseAll();
    return this.rows;
  }

  private source() {
    return { buckets: this.buckets, rows: this.rows, count: this.count };
  }

  private parseAll(): void {
    this.reset();
    this.refresh();
  }

  private reset(): void {
    this.offset = 0;
    this.skipping = false;
    this.identity = '';
    this.count = 0;
    this.buckets = new Map();
    this.rows = [];
    this.hash = crypto.createHash('sha256');
    this.sample = EMPTY;
    this.adopted = 0;
    this.heldStart = undefined;
  }

  /**
   * Reads the log backwards from the oldest row held and puts up to OLDER_ROWS older delegations in front.
   * The same line rules as forwards (a line is what lies between newlines; the unfinished last one is not read),
   * so the rows and seqs are the ones a full parse gives. False when the log is not the one the rows came from.
   */
  private readOlder(): boolean {
    if (this.rows.length === this.count || this.rows.length === 0) return false;
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return false;
    }
    try {
      const stat = fs.fstatSync(fd);
      if (`${stat.dev}:${stat.ino}` !== this.identity || stat.size < this.offset || !this.sampleStillThere(fd)) return false;
      const older = new BackwardLines(fd, this.heldStart ?? this.offset, this.heldStart === undefined, Math.min(this.chunkBytes, BACKWARD_CHUNK_BYTES));
      // Until the oldest held row's line is known, the held rows are found again first and passed over.
      let passOver = this.heldStart === undefined ? this.rows.length : 0;
      let seq = this.rows[0]!.seq - 1;
      const found: DelegationRow[] = [];
      let exhausted = false;
      while (found.length < OLDER_ROWS) {
        const batch = older.next();
        if (!batch) {
          exhausted = true;
          break;
        }
        for (const text of batch) {
          const value = parseDelegationLine(text);
          if (value === undefined) continue;
          if (passOver > 0) {
            if (rowFromAudit(value, 0)) passOver--;
            continue;
          }
          const row = rowFromAudit(value, seq);
          if (!row) continue;
          if (seq < 0) return false;
          found.push(row);
          seq--;
        }
      }
      if (passOver > 0 || (exhausted && seq !== -1)) return false;
      this.rows = found.reverse().concat(this.rows);
      this.heldStart = older.start;
      return true;
    } catch {
      return false; // a read came up short: the file changed under us
    } finally {
      fs.closeSync(fd);
    }
  }

  private sampleStillThere(fd: number): boolean {
    if (this.sample.length === 0) return true;
    const now = Buffer.allocUnsafe(this.sample.length);
    const got = fs.readSync(fd, now, 0, now.length, this.offset - now.length);
    return got === now.length && now.equals(this.sample);
  }

  /**
   * Adopts the index when its HMAC is good and the log's first `offset` bytes still hash to what it names; the
   * hash is computed by reading those bytes (a tenth of what parsing them costs) and is kept for the tail.
   */
  private loadIndex(fd: number, size: number): void {
    if (this.options.home === undefined) return;
    const key = indexKey(this.options.home, false);
    const index = key && loadIndex(this.indexFile, key);
    if (!index || index.offset > size || index.offset === 0) return;
    const hash = crypto.createHash('sha256');
    let sample: Buffer = EMPTY;
    const chunk = Buffer.allocUnsafe(Math.min(this.chunkBytes, index.offset));
    for (let position = 0; position < index.offset; ) {
      const got = fs.readSync(fd, chunk, 0, Math.min(chunk.length, index.offset - position), position);
      if (got <= 0) return;
      hash.update(chunk.subarray(0, got));
      sample = lastBytes(sample, chunk.subarray(0, got));
      position += got;
    }
    if (hash.copy().digest('hex') !== index.sha256) return;
    this.offset = index.offset;
    this.skipping = index.skipping;
    this.count = index.count;
    this.buckets = index.buckets;
    this.rows = index.rows;
    this.hash = hash;
    this.sample = sample;
    this.indexedOffset = index.offset;
    this.adopted = index.offset;
  }

  private saveIndex(): void {
    const key = this.options.home === undefined ? undefined : indexKey(this.options.home, true);
    if (!key) return;
    const state = { offset: this.offset, skipping: this.skipping, sha256: this.hash.copy().digest('hex'), count: this.count, buckets: this.buckets, rows: this.rows.slice(-INDEX_ROWS) };
    if (saveIndex(this.indexFile, key, state)) this.indexedOffset = this.offset;
  }

  /** Parses whole lines between the covered offset and `size`; a trailing partial line waits for next time. */
  private readFrom(fd: number, size: number): void {
    let carry: Buffer = EMPTY;
    let position = this.offset;
    while (position < size) {
      const want = Math.min(this.chunkBytes, size - position);
      const chunk = Buffer.allocUnsafe(want);
      const got = fs.readSync(fd, chunk, 0, want, position);
      if (got <= 0) break;
      position += got;
      const data = carry.length ? Buffer.concat([carry, chunk.subarray(0, got)]) : chunk.subarray(0, got);
      let start = 0;
      if (this.skipping) {
        const newline = data.indexOf(10);
        if (newline < 0) {
          this.cover(data);
          carry = EMPTY;
          continue;
        }
        start = newline + 1;
        this.skipping = false;
      }
      const lastNewline = data.lastIndexOf(10);
      // Decoded once per chunk, up to a newline byte: never splits a UTF-8 character.
      if (lastNewline >= start) this.parseLines(data.toString('utf8', start, lastNewline));
      const restStart = Math.max(start, lastNewline + 1);
      if (data.length - restStart > MAX_CARRY_BYTES) {
        // An endless line is skipped rather than buffered: it cannot be one of ours.
        this.skipping = true;
        this.cover(data);
        carry = EMPTY;
      } else {
        this.cover(data.subarray(0, restStart));
        carry = Buffer.from(data.subarray(restStart));
      }
    }
  }

  /** Counts `bytes` (the next ones of the log) as read. */
  private cover(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.hash.update(bytes);
    this.offset += bytes.length;
    this.sample = lastBytes(this.sample, bytes);
  }

  private parseLines(text: string): void {
    for (const line of text.split('\n')) {
      const value = parseDelegationLine(line);
      if (value === undefined) continue;
      const row = rowFromAudit(value, this.count);
      if (!row) continue;
      this.count++;
      this.rows.push(row);
      addRow(this.buckets, row);
    }
  }
}

/** The line's JSON when it may be a delegation: short enough, marked, parseable. */
function parseDelegationLine(line: string): unknown {
  if (line.length > MAX_LINE_CHARS || !line.includes(DELEGATE_MARK)) return undefined;
  try {
    return JSON.parse(line) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * The finished lines before byte `end` of a log, newest first, a read at a time. `start` is where the oldest line
 * returned so far begins. A line longer than any the forward reader would parse is passed over unread.
 */
class BackwardLines {
  /** The end of a line whose beginning is in an earlier read. */
  private pending: Buffer = EMPTY;
  /** The line being passed over is too long to matter: its beginning is dropped too. */
  private tooLong = false;
  private position: number;
  start: number;

  /** `unfinished`: the bytes after the last newline before `end` are a line not finished (or being skipped). */
  constructor(private readonly fd: number, end: number, private unfinished: boolean, private readonly chunkBytes: number) {
    this.position = end;
    this.start = end;
  }

  /** The next read's finished lines, newest first; undefined at the start of the log. */
  next(): string[] | undefined {
    while (this.position > 0) {
      const size = Math.min(this.chunkBytes, this.position);
      const buf = Buffer.allocUnsafe(size);
      const got = fs.readSync(this.fd, buf, 0, size, this.position - size);
      if (got !== size) throw new Error('short read');
      this.position -= size;
      let data = this.pending.length ? Buffer.concat([buf, this.pending]) : buf;
      this.pending = EMPTY;
      if (this.unfinished || this.tooLong) {
        // Drop the end (unfinished line) or the beginning (too-long line) part after the last newline.
        const last = data.lastIndexOf(10);
        if (last < 0) continue;
        data = data.subarray(0, last + 1);
        this.unfinished = this.tooLong = false;
      }
      const first = this.position === 0 ? -1 : data.indexOf(10);
      if (this.position > 0 && first < 0) {
        this.keepPending(data);
        continue;
      }
      this.keepPending(data.subarray(0, first + 1));
      this.start = this.position + first + 1;
      const whole = data.subarray(first + 1);
      return whole.length ? whole.toString('utf8', 0, whole.length - 1).split('\n').reverse() : [];
    }
    return undefined;
  }

  private keepPending(bytes: Buffer): void {
    if (bytes.length > MAX_CARRY_BYTES) {
      this.tooLong = true;
      this.pending = EMPTY;
    } else this.pending = Buffer.from(bytes);
  }
}

function lastBytes(previous: Buffer, next: Buffer): Buffer {
  if (next.length >= SAMPLE_BYTES) return Buffer.from(next.subarray(next.length - SAMPLE_BYTES));
  return Buffer.concat([previous, next]).subarray(-SAMPLE_BYTES);
}

/** One reader per audit file per process, so repeated reports parse only what was appended. */
const readers = new Map<string, DelegationLog>();

export function delegationLog(file: string, options: DelegationLogOptions = {}): DelegationLog {
  let log = readers.get(file);
  if (!log) {
    log = new DelegationLog(file, options);
    readers.set(file, log);
  }
  return log;
}
