/**
 * The delegations recorded in a workspace's audit log (`.switchboard/audit.jsonl`), read incrementally: each
 * reader remembers how far it has parsed and, on the next refresh, reads only the bytes appended since. A year of
 * history is parsed once per process; every later report costs the new lines only.
 *
 * The log lives in the workspace, so its content is untrusted: every field is type-checked and bounded, a line
 * that is too long or not JSON is skipped, and a file that shrank or was replaced is parsed again from the start.
 */
import fs from 'node:fs';

export interface DelegationRow {
  /** Position among the log's delegations, oldest 0: stable while the log only grows (cursors use it). */
  seq: number;
  time: string;
  task: string;
  provider?: string;
  model?: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** What the premium baseline would have cost; records written before it was logged count it as the cost. */
  baselineUsd: number;
  outcome: 'ok' | 'denied' | 'error';
  verification?: string;
  path?: string;
  backupId?: string;
  callId?: string;
  message?: string;
}

/** Longer lines are not ours (appendAudit keeps lines under 4 KiB): skipped unparsed. */
const MAX_LINE_BYTES = 16 * 1024;
const CHUNK_BYTES = 4 * 1024 * 1024;
const MAX_TEXT = 512;
const DELEGATE_MARK = '"op":"delegate"';
const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export class DelegationLog {
  private rows: DelegationRow[] = [];
  private offset = 0;
  private identity = '';

  constructor(readonly file: string) {}

  /** Reads what was appended since the last call; returns every delegation so far, oldest first. */
  refresh(): readonly DelegationRow[] {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      this.reset();
      return this.rows;
    }
    try {
      const stat = fs.fstatSync(fd);
      const identity = `${stat.dev}:${stat.ino}`;
      if (identity !== this.identity || stat.size < this.offset) {
        this.reset();
        this.identity = identity;
      }
      this.readFrom(fd, stat.size);
    } finally {
      fs.closeSync(fd);
    }
    return this.rows;
  }

  private reset(): void {
    this.rows = [];
    this.offset = 0;
    this.identity = '';
  }

  /** Parses whole lines between the remembered offset and `size`; a trailing partial line waits for next time. */
  private readFrom(fd: number, size: number): void {
    let carry: Buffer = Buffer.alloc(0);
    let position = this.offset;
    while (position < size) {
      const want = Math.min(CHUNK_BYTES, size - position);
      const chunk = Buffer.allocUnsafe(want);
      const got = fs.readSync(fd, chunk, 0, want, position);
      if (got <= 0) break;
      position += got;
      const data = carry.length ? Buffer.concat([carry, chunk.subarray(0, got)]) : chunk.subarray(0, got);
      const lastNewline = data.lastIndexOf(10);
      // Decoded once per chunk, up to a newline byte: never splits a UTF-8 character.
      if (lastNewline >= 0) this.parseLines(data.toString('utf8', 0, lastNewline));
      const rest = data.subarray(lastNewline + 1);
      // An endless line is dropped rather than buffered: it cannot be one of ours.
      carry = rest.length > MAX_LINE_BYTES ? Buffer.alloc(0) : Buffer.from(rest);
    }
    // Only complete lines count as read; the unfinished tail is read again once its newline arrives.
    this.offset = position - carry.length;
  }

  private parseLines(text: string): void {
    for (const line of text.split('\n')) {
      if (line.length > MAX_LINE_BYTES || !line.includes(DELEGATE_MARK)) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        continue;
      }
      const row = toRow(value, this.rows.length);
      if (row) this.rows.push(row);
    }
  }
}

function toRow(value: unknown, seq: number): DelegationRow | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const r = value as Record<string, unknown>;
  if (r.op !== 'delegate') return undefined;
  const time = isoTime(r.time);
  if (!time) return undefined;
  const costUsd = amount(r.cost_usd);
  const baseline = amount(r.baseline_usd, -1);
  const row: DelegationRow = {
    seq,
    time,
    task: text(r.task) ?? '',
    inputTokens: Math.round(amount(r.input_tokens)),
    outputTokens: Math.round(amount(r.output_tokens)),
    costUsd,
    baselineUsd: baseline < 0 ? costUsd : baseline,
    outcome: r.outcome === 'denied' || r.outcome === 'error' ? r.outcome : 'ok',
  };
  // Optional fields only when present, so rows stay small and `undefined` never reaches JSON.
  const provider = text(r.provider);
  if (provider !== undefined) row.provider = provider;
  const model = text(r.model);
  if (model !== undefined) row.model = model;
  const verification = text(r.verification);
  if (verification !== undefined) row.verification = verification;
  const file = text(r.path);
  if (file !== undefined) row.path = file;
  const backupId = text(r.backup_id);
  if (backupId !== undefined) row.backupId = backupId;
  const callId = text(r.call_id);
  if (callId !== undefined) row.callId = callId;
  const message = text(r.message);
  if (message !== undefined) row.message = message;
  return row;
}

/** appendAudit writes toISOString() times; anything else parseable is normalised, the rest rejected. */
function isoTime(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length > 40) return undefined;
  if (CANONICAL_TIME.test(v)) return v;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v.slice(0, MAX_TEXT) : undefined;
}

/** A finite, non-negative number below a sane ceiling, else `fallback`. */
function amount(v: unknown, fallback = 0): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1e12 ? v : fallback;
}

/** One reader per audit file per process, so repeated reports parse only what was appended. */
const readers = new Map<string, DelegationLog>();

export function delegationLog(file: string): DelegationLog {
  let log = readers.get(file);
  if (!log) {
    log = new DelegationLog(file);
    readers.set(file, log);
  }
  return log;
}
