/**
 * The audit log, `<workspace>/.switchboard/audit.jsonl`: one JSON line per read, write, delete, restore,
 * recovery and delegation.
 *
 * Appends are safe with several processes: the file is opened O_APPEND, each line goes out in ONE write(2) and
 * is kept under 4 KiB (PIPE_BUF on Linux), so lines never interleave; each append is fsynced, except a read's
 * (see AppendAuditOptions.durable). Every record passes through `redactDeep` before it is written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { workspaceStateDir } from '../paths';
import { redactDeep } from '../redact';
import { fdatasyncFd } from './durable';
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

export interface AppendAuditOptions {
  /**
   * fdatasync the line before returning (default true). Reads pass false: a read changes nothing, so a read's
   * line lost to a power cut is acceptable, and its fsync was most of a read's cost. Writes, restores,
   * recoveries and delegations stay durable.
   */
  durable?: boolean;
  /** The audit file, when the caller already knows it (skips making sure the state folder exists). */
  file?: string;
}

/** Appends one record, durably unless told otherwise. Long text fields are shortened so the line stays atomic. */
export async function appendAudit(workspace: string, record: AuditRecord, options: AppendAuditOptions = {}): Promise<void> {
  const sync = writeAuditLine(workspace, record, options);
  await (options.durable !== false ? sync() : sync.skip());
}

/** A line written (readers see it) whose sync is still to come: call exactly one of the two. */
export interface PendingAuditSync {
  (): Promise<void>;
  skip(): Promise<void>;
}

/**
 * Writes one record now and returns its sync for later, so a caller can answer first and make the line durable
 * alongside its other syncs (WorkspaceFiles.commit).
 */
export function writeAuditLine(workspace: string, record: AuditRecord, options: Pick<AppendAuditOptions, 'file'> & { line?: string } = {}): PendingAuditSync {
  flushAuditSoon();
  // `line`: the record formatted ahead of time (formatAuditLineOrUndefined), while the caller waited for a disk.
  const line = options.line ?? formatAuditLine(record);
  const file = options.file ?? auditFile(workspace);
  const open = openAudit(file);
  try {
    // A few small system calls on one file, done inline: cheaper than thread-pool round trips, and a line is
    // written as one unit with nothing else of this process in between.
    const fresh = open.fresh ?? startsFresh(open.fd);
    const text = fresh ? line : '\n' + line;
    const written = fs.writeSync(open.fd, text);
    open.done(written, written === Buffer.byteLength(text));
  } catch (err) {
    open.release();
    throw err;
  }
  const sync = async (): Promise<void> => {
    try {
      // fdatasync: the appended bytes and the new length, without an extra inode-times flush.
      await fdatasyncFd(open.fd);
    } finally {
      open.release();
    }
  };
  sync.skip = async (): Promise<void> => open.release();
  return sync;
}

/** Lines given to appendAuditSoon and not written yet. */
let soon: Array<{ record: AuditRecord; file: string }> = [];

/**
 * Appends a line that needs no sync (a read's) just after the caller has answered: formatting and writing it
 * were a tenth of a read's time. Order is kept: every other append, and readAudit, write these first. A line
 * that cannot be written is lost, as a power cut could lose it.
 */
export function appendAuditSoon(workspace: string, record: AuditRecord, options: Pick<AppendAuditOptions, 'file'> = {}): void {
  if (soon.length === 0) setImmediate(flushAuditSoon);
  soon.push({ record: { time: new Date().toISOString(), ...record }, file: options.file ?? auditFile(workspace) });
  // Reads in a loop that never yields to the event loop: written in batches rather than held without bound.
  if (soon.length >= 256) flushAuditSoon();
}

/** Writes the lines appendAuditSoon holds. */
export function flushAuditSoon(): void {
  if (soon.length === 0) return;
  const batch = soon;
  soon = [];
  for (const { record, file } of batch) {
    try {
      void writeAuditLine('', record, { file }).skip();
    } catch {
      // see appendAuditSoon
    }
  }
}

/** A line torn by a power cut or a full disk would swallow the next one: false when the file ends mid-line. */
function startsFresh(fd: number): boolean {
  const { size } = fs.fstatSync(fd);
  if (size === 0) return true;
  const last = Buffer.alloc(1);
  fs.readSync(fd, last, 0, 1, size - 1);
  return last[0] === 10;
}

/**
 * The audit file of the last append stays open (one per process: a session writes to one workspace), so an
 * append costs a stat of the name and a write instead of open, fstat, read and close. The stat proves the name
 * still leads to the open file (a deleted or replaced log is opened afresh), and when the file's size is where
 * our last line ended, the file ends with that line's newline and needs no look at its last byte.
 */
interface OpenAudit {
  fd: number;
  /** Known to end with a newline (undefined: look). */
  fresh: boolean | undefined;
  /** After the write: bytes written, and whether that was the whole line (the file then ends with its newline). */
  done(written: number, whole: boolean): void;
  release(): void;
}

let kept: { file: string; fd: number; dev: number; ino: number; end: number; busy: number } | undefined;

function openAudit(file: string): OpenAudit {
  if (process.platform === 'win32') {
    // An open file there cannot be deleted or renamed by others: open and close per line, as always.
    const fd = fs.openSync(file, 'a+', 0o600);
    return { fd, fresh: undefined, done: () => undefined, release: () => fs.closeSync(fd) };
  }
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!kept || kept.file !== file || !st || st.dev !== kept.dev || st.ino !== kept.ino) {
    const fd = fs.openSync(file, 'a+', 0o600);
    const own = fs.fstatSync(fd);
    dropKept();
    kept = { file, fd, dev: own.dev, ino: own.ino, end: -1, busy: 0 };
    return use(kept, own.size);
  }
  return use(kept, st.size);
}

function use(entry: NonNullable<typeof kept>, size: number): OpenAudit {
  entry.busy++;
  let released = false;
  return {
    fd: entry.fd,
    fresh: size === 0 || size === entry.end ? true : undefined,
    // Where our line ends if nobody appended between the stat and the write; if someone did, the next size
    // differs and the last byte is looked at, as without this shortcut.
    done: (written, whole) => {
      entry.end = whole ? size + written : -1;
    },
    release: () => {
      if (released) return;
      released = true;
      entry.busy--;
      // Replaced while a sync was running: close it now that nothing uses it.
      if (entry !== kept && entry.busy === 0) fs.closeSync(entry.fd);
    },
  };
}

function dropKept(): void {
  if (kept && kept.busy === 0) fs.closeSync(kept.fd);
  kept = undefined;
}

/** formatAuditLine, or undefined where it fails (writeAuditLine then formats it again and reports the failure). */
export function formatAuditLineOrUndefined(record: AuditRecord): string | undefined {
  try {
    return formatAuditLine(record);
  } catch {
    return undefined;
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
  /** Stop at the first record older than this ISO time (lines are appended in time order, give or take). */
  notBefore?: string;
}

/** The most recent records, newest first. Reads the file backwards, so a long log costs only what is shown. */
export async function readAudit(workspace: string, options: ReadAuditOptions = {}): Promise<AuditRecord[]> {
  flushAuditSoon();
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
        if (rec && options.notBefore && typeof rec.time === 'string' && rec.time < options.notBefore) {
          position = 0;
          break;
        }
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

/** A path a caller gave, as an audit line may show it: relative inputs only, control characters masked. */
export function relativeOrUndefined(input: string): string | undefined {
  if (typeof input !== 'string' || !input || /^([/\\~]|[a-z][a-z0-9+.-]*:)/i.test(input)) return undefined;
  // eslint-disable-next-line no-control-regex
  return input.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 300);
}

/** The fields of a write's, delete's or restore's audit line (WorkspaceFiles' result and the caller's options). */
export function auditOf(
  r: { path: string; bytes: number; sha256?: string; previousSha256?: string; backupId: string },
  opts: { actor: string; provider?: string; model?: string; costUsd?: number; reason?: string },
): Partial<AuditRecord> {
  return {
    path: r.path,
    bytes: r.bytes,
    ...(r.sha256 ? { sha256: r.sha256 } : {}),
    ...(r.previousSha256 ? { sha256_before: r.previousSha256 } : {}),
    backup_id: r.backupId,
    ...(opts.provider ? { provider: opts.provider } : {}),
    ...(opts.model ? { model: opts.model } : {}),
    ...(opts.costUsd !== undefined ? { cost_usd: opts.costUsd } : {}),
    ...(opts.reason ? { reason: opts.reason } : {}),
  };
}
