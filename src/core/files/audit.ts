/**
 * The audit log, `<workspace>/.switchboard/audit.jsonl`: one JSON line per read, write, delete, restore,
 * recovery and delegation.
 *
 * Appends are safe with several processes: the file is opened O_APPEND, each line goes out in ONE write(2) and
 * is kept under 4 KiB (PIPE_BUF on Linux), so lines never interleave; each append is fsynced. Every record
 * passes through `redactDeep` before it is written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { workspaceStateDir } from '../paths';
import { redactDeep } from '../redact';
import type { Actor } from './backups';

export type AuditOp = 'read' | 'write' | 'delete' | 'restore' | 'recover' | 'delegate';

export interface AuditRecord {
  /** ISO time; filled in when left out. */
  time?: string;
  actor: Actor;
  op: AuditOp;
  /** Workspace-relative, '/'-separated. */
  path?: string;
  bytes?: number;
  /** Content hash after the operation (or of what was read). */
  sha256?: string;
  /** Content hash before a write, delete or restore. */
  sha256_before?: string;
  backup_id?: string;
  provider?: string;
  model?: string;
  cost_usd?: number;
  /** 'denied' for policy refusals, 'error' for failures. */
  outcome?: 'ok' | 'denied' | 'error';
  /** The policy rule behind a denial. */
  rule?: string;
  message?: string;
  /** Anything else a caller wants kept (delegation task, tokens …). */
  [extra: string]: unknown;
}

/** Stays below PIPE_BUF (4096 on Linux) so one write(2) is one atomic line on every common system. */
export const MAX_AUDIT_LINE_BYTES = 4000;

export function auditFile(workspace: string): string {
  return path.join(workspaceStateDir(workspace), 'audit.jsonl');
}

/** Appends one record, durably. Long text fields are shortened so the line stays atomic. */
export async function appendAudit(workspace: string, record: AuditRecord): Promise<void> {
  let line = formatAuditLine(record);
  const fh = await fs.promises.open(auditFile(workspace), 'a+', 0o600);
  try {
    // A line torn by a power cut or a full disk would swallow this one: start on a fresh line then.
    const { size } = await fh.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] !== 10) line = '\n' + line;
    }
    await fh.write(line);
    // fdatasync: the appended bytes and the new length, without an extra inode-times flush.
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

export function formatAuditLine(record: AuditRecord): string {
  const full: AuditRecord = redactDeep({ time: new Date().toISOString(), ...record });
  let line = JSON.stringify(full) + '\n';
  if (Buffer.byteLength(line) <= MAX_AUDIT_LINE_BYTES) return line;
  // Shorten the longest strings first; hashes, ids and numbers are short and are what matters.
  const shortened: Record<string, unknown> = { ...full, truncated: true };
  for (let limit = 1000; limit >= 16 && Buffer.byteLength(line) > MAX_AUDIT_LINE_BYTES; limit = Math.floor(limit / 2)) {
    for (const [k, v] of Object.entries(shortened)) {
      if (typeof v === 'string' && v.length > limit) shortened[k] = v.slice(0, limit) + '…';
      else if (v && typeof v === 'object') {
        const json = JSON.stringify(v);
        if (json.length > limit) shortened[k] = json.slice(0, limit) + '…';
      }
    }
    line = JSON.stringify(shortened) + '\n';
  }
  if (Buffer.byteLength(line) > MAX_AUDIT_LINE_BYTES) {
    const { time, actor, op, path: p, outcome } = full;
    line = JSON.stringify({ time, actor, op, path: typeof p === 'string' ? p.slice(0, 512) : undefined, outcome, truncated: true }) + '\n';
  }
  return line;
}

export interface ReadAuditOptions {
  /** At most this many records (default 50). */
  limit?: number;
  /** Only these operations. */
  ops?: AuditOp[];
}

/** The most recent records, newest first. Reads the file backwards, so a long log costs only what is shown. */
export async function readAudit(workspace: string, options: ReadAuditOptions = {}): Promise<AuditRecord[]> {
  const limit = options.limit ?? 50;
  const file = path.join(workspace, '.switchboard', 'audit.jsonl');
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch {
    return [];
  }
  const out: AuditRecord[] = [];
  try {
    let position = (await fh.stat()).size;
    let carry = Buffer.alloc(0);
    const chunk = 64 * 1024;
    while (position > 0 && out.length < limit) {
      const size = Math.min(chunk, position);
      position -= size;
      const buf = Buffer.alloc(size);
      await fh.read(buf, 0, size, position);
      let data = Buffer.concat([buf, carry]);
      // Everything before the first newline may be the tail of an earlier line: keep it for the next round.
      if (position > 0) {
        const first = data.indexOf(10);
        if (first < 0) {
          carry = data;
          continue;
        }
        carry = data.subarray(0, first);
        data = data.subarray(first + 1);
      } else {
        carry = Buffer.alloc(0);
      }
      const lines = data.toString('utf8').split('\n').filter((l) => l.trim());
      for (let i = lines.length - 1; i >= 0 && out.length < limit; i--) {
        const rec = parseLine(lines[i]!);
        if (rec && (!options.ops || options.ops.includes(rec.op))) out.push(rec);
      }
    }
  } finally {
    await fh.close();
  }
  return out;
}

function parseLine(line: string): AuditRecord | undefined {
  try {
    const v = JSON.parse(line) as AuditRecord;
    return v && typeof v === 'object' && typeof v.op === 'string' ? v : undefined;
  } catch {
    return undefined; // a line torn by a crash (no fsync yet) is skipped
  }
}
