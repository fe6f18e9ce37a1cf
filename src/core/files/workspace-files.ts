/**
 * WorkspaceFiles — the only way Switchboard reads or writes a workspace file.
 *
 *   const files = await WorkspaceFiles.open(workspace, { actor: 'claude-code' }); // loads .mcp/policy.yaml,
 *                                                               // finishes/rolls back crashed writes, prunes
 *   files.check(path, 'read' | 'write')          → CheckedPath   the path policy alone (throws PathDenied)
 *   await files.read(path, { actor })            → { path, text, bytes, sha256 }
 *   await files.write(path, content, { actor, reason?, provider?, model?, costUsd? })
 *                                                → { path, backupId, bytes, sha256, previousSha256?, created }
 *   await files.delete(path, { actor, reason? }) → same shape, deleted: true
 *   await files.idle()                           → the bookkeeping writes leave for after their answer is done
 *   await files.listBackups({ path?, limit? })   → BackupInfo[] newest first (size, time, actor …)
 *   await files.restore(backupId, { actor, force? }) → RestoreResult (compare-and-swap; see below)
 *   await files.recover()                        → RecoverReport (run by open)
 *   await files.prune()                          → PruneReport   (run by open; retention from the policy)
 *
 * Every path goes through `checkPath` (path-guard.ts). Every write, delete and restore: takes the workspace
 * lock, backs the old state up (content-addressed; "did not exist" is a state), journals the operation, writes
 * a temp file beside the target, fsyncs, renames it over the target and fsyncs the folder, appends the audit
 * line, then moves the journal entry into the store as the backup record (`commit` says which of these disk
 * waits overlap, and why that is safe). Every read, write, delete, restore, recovery — and every denial —
 * appends an audit line; all are durable except those of reads.
 * Errors are UserErrors (PathDenied for policy refusals) with plain messages: no absolute path outside the
 * workspace, no key.
 *
 * Restore is a compare-and-swap: the file must still be what Switchboard last wrote to it, else it refuses with
 * code 'restore_conflict'; `force` restores anyway, after backing the current content up like any write (the
 * restore itself can be undone with the backup id it returns).
 */
import fs from 'node:fs';
import path from 'node:path';
import { decodeText } from '../config/structured-file';
import type { Diagnostic } from '../diagnostics';
import { UserError, isUserError } from '../errors';
import { workspaceStateDir } from '../paths';
import { redact } from '../redact';
import { appendAudit, appendAuditSoon, auditFile, auditOf, formatAuditLineOrUndefined, readAudit, relativeOrUndefined, writeAuditLine, type AuditOp, type AuditRecord } from './audit';
import { ACTORS, BackupStore, idTime, newBackupId, toInfo, type Actor, type BackupInfo, type BackupRecord, type FileState, type PruneReport } from './backups';
import { fsyncDir, openNoFollow, pathOfOpenFile, prepareReplace, readCapped, retryBusy, sha256, tempNameFor, type PreparedWrite } from './durable';
import { Journal, type JournalEntry } from './journal';
import { WorkspaceLock, lockFileFor } from './lock';
import { checkPath, createPathContext, PathDenied, type CheckedPath, type PathContext, type PathPurpose } from './path-guard';
import { loadPolicy, type FilePolicy } from './policy';
import { afterThisTurn, allOrFirstError, matches, noop, sameState, settled, settledValue, stateOf } from './settle';
import { TempFolder } from './temp-folder';

export interface OpenOptions {
  /** Who runs recovery at open (recorded in the audit log). Default 'extension'. */
  actor?: Actor;
  /** Use this policy instead of loading `.mcp/policy.yaml`. */
  policy?: FilePolicy;
  /** Run recover() and prune() at open (default true). */
  maintenance?: boolean;
  /** Volume rules, for tests of case-insensitive volumes on a case-sensitive disk. */
  volume?: Partial<Pick<PathContext, 'caseInsensitive' | 'normalizationInsensitive' | 'windowsNames'>>;
  /** Test seam: runs after a path passed the policy and before the file is opened (check-then-use races). */
  afterCheck?: (checked: CheckedPath, op: AuditOp) => void | Promise<void>;
}

export interface ActorOptions {
  actor: Actor;
}

export interface WriteOptions extends ActorOptions {
  /** Why (shown in backups and audit): the task or tool call. */
  reason?: string;
  provider?: string;
  model?: string;
  costUsd?: number;
}

export interface ReadResult {
  path: string;
  text: string;
  bytes: number;
  sha256: string;
}

export interface WriteResult {
  path: string;
  /** The backup holding the state before this operation (restore it to undo). */
  backupId: string;
  bytes: number;
  /** Hash of the content now on disk (absent after a delete). */
  sha256?: string;
  previousSha256?: string;
  /** The file did not exist before. */
  created: boolean;
  deleted: boolean;
}

export interface RestoreResult extends WriteResult {
  restoredFrom: string;
  /** The file had been edited since Switchboard wrote it and force was used. */
  forced: boolean;
  /** Nothing to do: the file already was in the backed-up state. */
  unchanged: boolean;
}

export type RecoverOutcome = 'completed' | 'rolled_forward' | 'rolled_back' | 'abandoned';

export interface RecoverReport {
  entries: Array<{ id: string; path: string; outcome: RecoverOutcome }>;
  sweptTemps: number;
}

interface Existing {
  data: Buffer;
  stat: fs.Stats;
  sha256: string;
  /** Kept open (readExisting's `keepOpen`): the rename or unlink then only drops a name; freeing the old file (its
   * blocks, on some file systems a discard sent to the disk) waits for `closeKept`, after the answer. */
  fd?: number;
}

function closeKept(existing: Existing | undefined): void {
  if (existing?.fd === undefined) return;
  const fd = existing.fd;
  existing.fd = undefined;
  fs.closeSync(fd);
}

/** closeKept in the thread pool, where freeing the file (up to half a millisecond here) does not hold up the event loop. */
function closeKeptInPool(existing: Existing | undefined): Promise<void> {
  const fd = existing?.fd;
  if (fd === undefined) return Promise.resolve();
  existing!.fd = undefined;
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}

export class WorkspaceFiles {
  readonly workspace: string;
  readonly stateDir: string;
  readonly policy: FilePolicy;
  readonly policyDiagnostics: Diagnostic[];
  private readonly ctx: PathContext;
  private readonly auditFile: string;
  private readonly store: BackupStore;
  private readonly journal: Journal;
  private readonly lock: WorkspaceLock;
  /** `.switchboard/tmp`: where a write's new content is prepared while its journal entry is being synced. */
  private readonly temps: TempFolder;

  private constructor(ctx: PathContext, diagnostics: Diagnostic[], private readonly options: OpenOptions) {
    this.ctx = ctx;
    this.workspace = ctx.workspace;
    this.policy = ctx.policy;
    this.policyDiagnostics = diagnostics;
    this.stateDir = workspaceStateDir(ctx.workspace);
    this.auditFile = auditFile(ctx.workspace);
    this.store = new BackupStore(this.stateDir);
    this.journal = new Journal(path.join(this.stateDir, 'journal'));
    this.lock = new WorkspaceLock(lockFileFor(this.stateDir));
    this.temps = new TempFolder(this.stateDir);
  }

  static async open(workspace: string, options: OpenOptions = {}): Promise<WorkspaceFiles> {
    let ws: string;
    try {
      ws = fs.realpathSync.native(workspace);
      if (!fs.statSync(ws).isDirectory()) throw new Error('not a folder');
    } catch {
      throw new UserError('The workspace folder does not exist or is not a folder', 'workspace_missing');
    }
    const loaded = options.policy ? { policy: options.policy, diagnostics: [] } : loadPolicy(ws);
    workspaceStateDir(ws);
    const files = new WorkspaceFiles(createPathContext(ws, loaded.policy, options.volume), loaded.diagnostics, options);
    await files.store.init();
    await files.journal.init();
    files.temps.init();
    if (files.temps.usable) files.journal.writeIn(files.temps.dir);
    if (options.maintenance !== false) {
      await files.recover();
      await files.prune();
    }
    return files;
  }

  /** The path policy alone. Throws PathDenied (or UserError 'not_found' when reading a missing file). */
  check(input: string, purpose: PathPurpose): CheckedPath {
    return checkPath(this.ctx, input, purpose);
  }

  async read(input: string, opts: ActorOptions): Promise<ReadResult> {
    assertActor(opts.actor);
    return this.audited('read', input, opts, async () => {
      const c = this.check(input, 'read');
      await this.options.afterCheck?.(c, 'read');
      const existing = await this.readExisting(c);
      const text = decodeText(existing.data);
      if (text === undefined) throw new UserError(`"${c.rel}" is a binary file; only text files can be read`, 'binary_file');
      const result = { path: c.rel, text, bytes: existing.data.length, sha256: existing.sha256 };
      return { result, audit: { path: c.rel, bytes: result.bytes, sha256: result.sha256 } };
    });
  }

  async write(input: string, content: string | Uint8Array, opts: WriteOptions): Promise<WriteResult> {
    assertActor(opts.actor);
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content);
    return this.audited('write', input, opts, () =>
      this.runLocked(async (defer) => {
        const c = this.check(input, 'write');
        if (data.length > this.policy.maxFileBytes) {
          throw new PathDenied('too_large', `Writing "${c.rel}" is not allowed: the content is ${data.length} bytes, over the max_file_bytes limit of ${this.policy.maxFileBytes}`);
        }
        await this.options.afterCheck?.(c, 'write');
        const old = c.exists ? await this.readExisting(c, true) : undefined;
        const result = await this.commit(c, { kind: 'replace', data, old, op: 'write', opts }, (r) => auditOf(r, opts), defer);
        return { result, audit: APPENDED };
      }),
    );
  }

  async delete(input: string, opts: WriteOptions): Promise<WriteResult> {
    assertActor(opts.actor);
    return this.audited('delete', input, opts, () =>
      this.runLocked(async (defer) => {
        const c = this.check(input, 'write');
        if (!c.exists) throw new UserError(`No file "${c.rel}" in the workspace`, 'not_found');
        await this.options.afterCheck?.(c, 'delete');
        const old = await this.readExisting(c, true);
        const result = await this.commit(c, { kind: 'unlink', old, op: 'delete', opts }, (r) => auditOf(r, opts), defer);
        return { result, audit: APPENDED };
      }),
    );
  }

  /** Backups newest first; of one file when `path` is given. */
  async listBackups(options: { path?: string; limit?: number } = {}): Promise<BackupInfo[]> {
    // The record of a write that has answered may still be on its way into the store.
    await this.idle();
    let records: BackupRecord[];
    if (options.path !== undefined) {
      // The file may be gone (a delete is backed up too), so only the name is checked, for the write purpose.
      const c = this.check(options.path, 'write');
      records = await this.store.recordsFor(c.rel);
    } else {
      records = await this.store.allRecords();
    }
    return records.slice(0, options.limit ?? records.length).map((r) => ({ ...toInfo(r), path: redact(r.path) }));
  }

  async restore(backupId: string, opts: ActorOptions & { force?: boolean }): Promise<RestoreResult> {
    assertActor(opts.actor);
    let shownPath: string | undefined;
    return this.audited('restore', () => shownPath, opts, () =>
      this.runLocked(async (defer): Promise<{ result: RestoreResult; audit: Partial<AuditRecord> | typeof APPENDED }> => {
        const found = typeof backupId === 'string' && backupId ? await this.store.find(backupId.trim()) : undefined;
        if (!found) throw new UserError(`No backup "${String(backupId).slice(0, 40)}"; list them with list_backups`, 'backup_not_found');
        if ('ambiguous' in found) throw new UserError(`"${backupId}" matches ${found.ambiguous} backups; give more of the id`, 'backup_ambiguous');
        const rec = found;
        shownPath = rec.path;
        if (rec.before.exists && rec.before.stored === false) {
          throw new UserError(`Backup ${rec.id} kept no content (backup: false in the policy when it was made); it cannot be restored`, 'backup_not_restorable');
        }
        const c = this.check(path.resolve(this.workspace, rec.path), 'write');
        const current = c.exists ? await this.readExisting(c) : undefined;
        const latest = (await this.store.recordsFor(rec.path))[0] ?? rec;
        const edited = !sameState(current, latest.after);
        if (edited && !opts.force) {
          throw new UserError(
            `"${rec.path}" was changed after Switchboard last wrote it (${latest.time}); restoring would lose those changes. Use force to back up the current content and restore anyway`,
            'restore_conflict',
          );
        }
        const base = { restoredFrom: rec.id, forced: edited };
        if (sameState(current, rec.before)) {
          return { result: { path: rec.path, backupId: latest.id, bytes: current?.data.length ?? 0, sha256: current?.sha256, created: false, deleted: !current, unchanged: true, ...base }, audit: { path: rec.path, outcome: 'ok' as const, unchanged: true, restored_from: rec.id } };
        }
        let result: WriteResult;
        const audit = (r: WriteResult) => ({ ...auditOf(r, opts), restored_from: rec.id, forced: edited });
        if (rec.before.exists) {
          const data = await this.store.getBlob(rec.before.sha256!);
          if (!data) throw new UserError(`Backup ${rec.id} is missing or damaged; it cannot be restored`, 'backup_damaged');
          result = await this.commit(c, { kind: 'replace', data, old: current, op: 'restore', opts: { actor: opts.actor }, restoredFrom: rec.id, mode: rec.before.mode }, audit, defer);
        } else {
          // The file did not exist before that operation: restoring that state deletes it.
          result = await this.commit(c, { kind: 'unlink', old: current!, op: 'restore', opts: { actor: opts.actor }, restoredFrom: rec.id }, audit, defer);
        }
        return { result: { ...result, ...base, unchanged: false }, audit: APPENDED };
      }),
    );
  }

  /** Finishes or rolls back operations a crash interrupted, and sweeps their temp files. */
  async recover(): Promise<RecoverReport> {
    return this.lock.run(async () => {
      const report: RecoverReport = { entries: [], sweptTemps: 0 };
      for (const entry of await this.journal.pending()) {
        const outcome = await this.recoverEntry(entry);
        report.entries.push({ id: entry.id, path: entry.record.path, outcome });
        await appendAudit(this.workspace, { actor: this.options.actor ?? 'extension', op: 'recover', path: entry.record.path, backup_id: entry.id, outcome: 'ok', message: outcome }, { file: this.auditFile });
      }
      report.sweptTemps = (await this.store.sweepTemps()) + (await this.temps.sweep());
      this.lock.sweepDead();
      return report;
    });
  }

  /** Retention from the policy, as of `now` (default: the present); blobs no backup refers to are removed. */
  async prune(options: { now?: number } = {}): Promise<PruneReport> {
    return this.lock.run(async () => {
      const inFlight = (await this.journal.pending()).flatMap((e) => [e.record.before.sha256, e.record.after.sha256]).filter((s): s is string => !!s);
      return this.store.prune(this.policy.backupRetention, inFlight, options.now);
    });
  }

  /** `idle`, then removes this process's kept lock file of the workspace (WorkspaceLock); a later operation makes a new one. */
  async dispose(): Promise<void> {
    await this.idle();
    await this.lock.dispose();
  }

  /**
   * Resolves once the work a write, delete or restore left to do after answering (see `commit`, step 3) is
   * done: its record is in the store, its audit line and folder synced. Never rejects.
   */
  async idle(): Promise<void> {
    await this.finishing;
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /** Work left by operations that have answered; the workspace lock is held until it is done. */
  private finishing: Promise<void> = Promise.resolve();

  /**
   * Runs fn under the workspace lock and answers as soon as fn returns, keeping the lock until the work fn
   * handed to `defer` is done (the next operation waits for it, the caller does not).
   */
  private runLocked<T>(fn: (defer: (rest: Promise<void>) => void) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const held = this.lock.run(async () => {
        const rest: Array<Promise<void>> = [];
        try {
          resolve(await fn((r) => rest.push(r)));
        } catch (err) {
          reject(err);
        } finally {
          // Deferred work never rejects (commit catches it); the lock is released once it is done.
          await Promise.all(rest);
        }
      });
      // The lock itself may fail (workspace_busy) before fn runs.
      held.catch(reject);
      this.finishing = held.then(noop, noop);
    });
  }

  /** Opens without following links and proves the opened file is the one that was checked. */
  private async readExisting(c: CheckedPath, keepOpen = false): Promise<Existing> {
    const changed = () => new PathDenied('changed_during_check', `Using "${c.rel}" was refused: the file changed while it was being checked; try again`);
    let fd: number;
    try {
      fd = openNoFollow(c.abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP' || code === 'ENOENT' || code === 'ENOTDIR' || code === 'EMLINK') throw changed();
      throw err;
    }
    let kept = false;
    try {
      // fstat and /proc answer from memory: inline. Only a large file's content is read in the thread pool.
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new PathDenied('not_regular_file', `Using "${c.rel}" was refused: it is not a regular file`);
      if (c.stat && (st.ino !== c.stat.ino || st.dev !== c.stat.dev)) throw changed();
      if (st.nlink > 1) throw new PathDenied('hard_link', `Using "${c.rel}" was refused: the file has several hard links`);
      const where = pathOfOpenFile(fd);
      if (where === undefined ? c.openedPathMustMatch : where !== c.abs) throw changed();
      const data = await readCapped(fd, this.policy.maxFileBytes, st.size);
      if (data.length > this.policy.maxFileBytes) throw new PathDenied('too_large', `Using "${c.rel}" was refused: it grew over the max_file_bytes limit of ${this.policy.maxFileBytes}`);
      const existing: Existing = { data, stat: st, sha256: sha256(data) };
      if (keepOpen) {
        existing.fd = fd;
        kept = true;
      }
      return existing;
    } finally {
      if (!kept) fs.closeSync(fd);
    }
  }

  /**
   * Backup, journal, change, audit, record. The caller holds the lock.
   *
   * Syncs, and why each is needed (a replace with its temp file in `.switchboard/tmp`, the usual case):
   *  1. one wait the caller sees, all side by side: the journal entry's content (what to finish or undo), the
   *     backup blob and, when new, its folder entry (skipped when this process synced that very blob, unchanged
   *     since: BackupStore.prepareBlob), the new content in the temp file, and the temp folder, which holds the
   *     names of the temp file and of the journal entry (one sync). All files are created and written before the first sync
   *     starts: a file created while a sync is being committed waits for that commit, which had turned these
   *     overlapping waits into consecutive ones. The temp file is named by nothing in the workspace until the
   *     rename, so a power cut before the journal entry is durable leaves at worst a temp file there, which
   *     recovery sweeps. The rename over the target waits for all of them: the backup is durable before the
   *     target changes, the target goes from old to new content in one step (never torn), and from here on
   *     recovery can finish the operation (roll forward) whatever else a power cut loses. A delete likewise
   *     (the unlink is redone). Where the state folder is on another file system than the target (or is not a
   *     plain folder), the temp file goes beside the target instead, created only once the journal entry
   *     naming it is durable (a crash cannot orphan it);
   *  2. the rename (or unlink), then the audit line (`auditFor`) is written: readers see both at once;
   *  3. the audit line and the target's folder are synced side by side (the line tells recovery the operation
   *     completed when the file was edited since; the folder makes the rename durable), then the journal entry
   *     is moved into the store as the record, without a sync of its own: a power cut before that rename
   *     reaches the disk leaves the entry in the journal, and recovery adopts it. Where step 1 made the
   *     operation recoverable, step 3 runs after the caller has its answer (`defer`; the workspace lock is held
   *     until it is done, `idle` waits for it), and the entry leaves the journal only once these syncs
   *     succeeded. Otherwise (temp file beside the target, or folders created for it) the caller waits for it.
   * The replaced file stays open until step 3 (Existing.fd), which starts after the answer is written: freeing it is disk work.
   */
  private async commit(
    c: CheckedPath,
    change: { kind: 'replace' | 'unlink'; data?: Buffer; old: Existing | undefined; op: BackupRecord['op']; opts: WriteOptions; restoredFrom?: string; mode?: number },
    auditFor: (result: WriteResult) => Partial<AuditRecord>,
    defer: (rest: Promise<void>) => void,
  ): Promise<WriteResult> {
    try {
      return await this.commitChange(c, change, auditFor, defer);
    } catch (err) {
      closeKept(change.old);
      throw err;
    }
  }

  /** `commit`, which closes the old file (kept open, see Existing.fd) when this fails. */
  private async commitChange(
    c: CheckedPath,
    change: { kind: 'replace' | 'unlink'; data?: Buffer; old: Existing | undefined; op: BackupRecord['op']; opts: WriteOptions; restoredFrom?: string; mode?: number },
    auditFor: (result: WriteResult) => Partial<AuditRecord>,
    defer: (rest: Promise<void>) => void,
  ): Promise<WriteResult> {
    const { kind, data, old, opts } = change;
    const id = newBackupId();
    const before: FileState = old ? { exists: true, sha256: old.sha256, bytes: old.data.length, mode: old.stat.mode & 0o7777, stored: this.policy.backup } : { exists: false };
    const after: FileState = kind === 'replace' ? { exists: true, sha256: sha256(data!), bytes: data!.length } : { exists: false };
    const record: BackupRecord = {
      id,
      path: c.rel,
      time: new Date(idTime(id)).toISOString(),
      actor: opts.actor,
      op: change.op,
      before,
      after,
      // Free text from callers is redacted before it is stored (records are shown by list_backups).
      ...(opts.reason ? { reason: redact(String(opts.reason).slice(0, 500)) } : {}),
      ...(opts.provider ? { provider: redact(String(opts.provider)) } : {}),
      ...(opts.model ? { model: redact(String(opts.model)) } : {}),
      ...(opts.costUsd !== undefined ? { costUsd: opts.costUsd } : {}),
      ...(change.restoredFrom ? { restoredFrom: change.restoredFrom } : {}),
    };
    const createdFolders = kind === 'replace' ? await this.makeParents(c) : false;
    const tempInState = kind === 'replace' && this.temps.serves(c.abs);
    const entry: JournalEntry = {
      id, kind, target: path.relative(this.workspace, c.abs), record,
      ...(kind === 'replace' ? { temp: tempNameFor(c.abs, id), ...(tempInState ? { tempInState: true } : {}) } : {}),
    };

    // 1. Every file is created and written before any of them is synced, then all are synced side by side (on
    //    ext4 a file created while another's sync is being committed waits for that commit: creating the temp
    //    file after the journal's sync had started made the two waits run one after the other). Settled forms,
    //    so every exit can wait for all of them without leaving a rejection unhandled.
    // prepare() writes the entry before its first wait: from here a killed process leaves it for recovery.
    // Beside a temp file in the same folder, the entry's name is made durable by that folder's sync (below).
    const entryFolderSynced = tempInState && this.journal.folder === this.temps.dir;
    const journalFile = settledValue(this.journal.prepare(entry, this.temps.takeSpare('journal'), { syncFolder: !entryFolderSynced }));
    const blobFile = settledValue(old && this.policy.backup ? this.store.prepareBlob(old.data, old.sha256, old.stat.mode & 0o7777, (mode) => this.temps.takeSpare('blob', mode)) : Promise.resolve(NO_WRITE));
    let journaled: Promise<{ ok: true } | { error: unknown }> = Promise.resolve({ ok: true });
    let blob: Promise<{ ok: true } | { error: unknown }> = Promise.resolve({ ok: true });
    let tempFolder: Promise<{ ok: true } | { error: unknown }> = Promise.resolve({ ok: true });
    const waitFor = async (...steps: Array<Promise<{ ok: true } | { error: unknown }>>) => {
      for (const outcome of await Promise.all(steps)) if ('error' in outcome) throw outcome.error;
    };
    const replaceOptions = {
      mode: old ? before.mode : change.mode,
      tempName: entry.temp,
      beforeRename: async () => {
        await waitFor(journaled, blob, tempFolder);
        this.verifyStill(c, old);
      },
      skipDirSync: true,
    };

    const result: WriteResult = { path: c.rel, backupId: id, bytes: data?.length ?? 0, sha256: after.sha256, previousSha256: before.sha256, created: !old, deleted: kind === 'unlink' };
    const auditRecord: AuditRecord = { actor: opts.actor, op: change.op, outcome: 'ok', ...auditFor(result) };
    let auditLine: string | undefined;
    // The change itself; its folder is synced in step 2.
    try {
      // In .switchboard/tmp the temp file is named by nothing in the workspace: created with the others.
      let tempFile: Promise<{ value: PreparedWrite } | { error: unknown }> | undefined;
      if (tempInState) {
        // Nothing in the workspace changes before the rename, which re-checks the path just before it happens.
        tempFile = settledValue(prepareReplace(c.abs, data!, { ...replaceOptions, tempDir: this.temps.dir, spare: this.temps.takeSpare('temp') }));
      }
      const [j, b, t] = await Promise.all([journalFile, blobFile, tempFile]);
      journaled = settled('error' in j ? Promise.reject(j.error) : j.value.finish());
      blob = settled('error' in b ? Promise.reject(b.error) : b.value.finish());
      // The temp file's name, so recovery finds it if the rename is lost (see step 1), and the entry's beside it.
      if (t && !('error' in t)) tempFolder = settled(fsyncDir(this.temps.dir));
      if (t && 'error' in t) throw t.error;
      if (kind === 'replace') {
        let temp = t?.value;
        if (!temp) {
          // Beside the target, the temp file may only be created once the journal entry naming it is durable.
          await waitFor(journaled);
          this.verifyStill(c, old);
          temp = await prepareReplace(c.abs, data!, replaceOptions);
        }
        const renamed = temp.finish();
        // Formatted while the syncs run (redaction and JSON), written once the rename is done.
        auditLine = formatAuditLineOrUndefined(auditRecord);
        await renamed;
      } else {
        await waitFor(journaled, blob);
        this.verifyStill(c, old);
        await retryBusy(() => fs.unlinkSync(c.abs));
      }
    } catch (err) {
      const journalOutcome = await journaled;
      await blob;
      await tempFolder;
      const t = await journalFile;
      // The rename/unlink is the last step, so the target is normally untouched: forget the operation. If it
      // did happen, the record is true and is kept.
      if (!('error' in journalOutcome) && !('error' in t) && matches(await stateOf(c.abs), after)) await this.store.adopt(this.journal.fileOf(id), record);
      else this.journal.end(id);
      throw err;
    }

    // 2. The change has happened: whatever fails below, the record is true and is kept.
    let syncAudit: (() => Promise<void>) | undefined;
    try {
      // Written inline ahead of the folder's sync (a file grown during a sync waits for it, see step 1).
      syncAudit = writeAuditLine(this.workspace, auditRecord, { file: this.auditFile, line: auditLine });
    } catch (err) {
      await this.store.adopt(this.journal.fileOf(id), record, { sync: false });
      throw err;
    }
    const recoverable = (kind === 'unlink' || tempInState) && !createdFolders;
    // 3. See the note above.
    const finish = async (): Promise<void> => {
      let synced = false;
      try {
        // The old file is freed now (see Existing.fd), beside the syncs.
        const freed = closeKeptInPool(old);
        await allOrFirstError([syncAudit(), fsyncDir(path.dirname(c.abs)), freed]);
        synced = true;
      } finally {
        // Answered already: a failed sync leaves the entry to recovery (it can still roll the operation forward).
        if (synced || !recoverable) await this.store.adopt(this.journal.fileOf(id), record, { sync: false });
      }
      await this.store.pruneFile(c.rel, this.policy.backupRetention);
      if (recoverable) this.temps.makeSpares(old ? (old.stat.mode & 0o066) | 0o600 : undefined);
    };
    // A turn of the event loop first, so the answer (written by promise continuations alone) leaves before it.
    if (recoverable) defer(afterThisTurn().then(finish).catch(() => undefined));
    else await finish();
    return result;
  }

  /** The operation's backup of the previous state can be restored (or there was nothing to keep). */
  private async backupIntact(rec: BackupRecord): Promise<boolean> {
    if (!rec.before.exists || rec.before.stored === false || !rec.before.sha256) return true;
    return (await this.store.getBlob(rec.before.sha256)) !== undefined;
  }

  /** Creates missing folders one at a time, checking each landed where the policy check said it would. True if it made any. */
  private async makeParents(c: CheckedPath): Promise<boolean> {
    const missing: string[] = [];
    for (let dir = path.dirname(c.abs); !fs.existsSync(dir); dir = path.dirname(dir)) missing.unshift(dir);
    for (const dir of missing) {
      try {
        await fs.promises.mkdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (fs.realpathSync.native(dir) !== dir || !fs.lstatSync(dir).isDirectory()) {
        throw new PathDenied('changed_during_check', `Writing "${c.rel}" was refused: a folder in its path changed while it was being created`);
      }
    }
    return missing.length > 0;
  }

  /** Last check before the rename/unlink: the path still resolves to the same place, and the file is the one read. */
  private verifyStill(c: CheckedPath, old: Existing | undefined): void {
    let again: CheckedPath;
    try {
      again = checkPath(this.ctx, c.abs, 'write');
    } catch (err) {
      if (err instanceof PathDenied) throw new PathDenied('changed_during_check', `Writing "${c.rel}" was refused: its path changed during the write (${err.rule})`);
      throw err;
    }
    const sameFile = old ? again.exists && again.stat!.ino === old.stat.ino && again.stat!.dev === old.stat.dev : !again.exists;
    if (again.abs !== c.abs || !sameFile) throw new PathDenied('changed_during_check', `Writing "${c.rel}" was refused: the file changed during the write; try again`);
  }

  private async recoverEntry(entry: JournalEntry): Promise<RecoverOutcome> {
    const rec = entry.record;
    const target = path.resolve(this.workspace, entry.target);
    const temp = entry.temp ? path.join(entry.tempInState ? this.temps.dir : path.dirname(target), path.basename(entry.temp)) : undefined;
    let outcome: RecoverOutcome;
    const current = await stateOf(target);
    // Roll forward only where the path policy still holds (a folder could have been swapped for a link meanwhile).
    const stillAllowed = (() => {
      try {
        checkPath(this.ctx, target, 'write');
        return true;
      } catch {
        return false;
      }
    })();
    if (entry.kind === 'replace') {
      if (matches(current, rec.after)) outcome = 'completed';
      else if (matches(current, rec.before)) {
        const tempState = temp ? await stateOf(temp) : undefined;
        // Forward only with the backup intact: the blob may have been cut off by the same crash.
        if (stillAllowed && tempState && matches(tempState, rec.after) && (await this.backupIntact(rec))) {
          await fs.promises.rename(temp!, target);
          await fsyncDir(path.dirname(target));
          outcome = 'rolled_forward';
        } else outcome = 'rolled_back';
      } else outcome = 'abandoned';
      if (temp) await fs.promises.rm(temp, { force: true });
    } else {
      if (!current.exists) outcome = 'completed';
      else if (stillAllowed && matches(current, rec.before) && (await this.backupIntact(rec))) {
        await fs.promises.unlink(target);
        await fsyncDir(path.dirname(target));
        outcome = 'rolled_forward';
      } else outcome = 'abandoned';
    }
    // Edited since: the operation may have completed before that, its record's move out of the journal lost to a
    // power cut. Its audit line, durable before the move, tells.
    if (outcome === 'abandoned' && (await this.auditedOk(entry))) outcome = 'completed';
    if (outcome === 'completed' || outcome === 'rolled_forward') {
      // A file system that does not rename atomically may show the entry at both places after a crash.
      if (this.store.has(rec)) this.journal.end(entry.id);
      else await this.store.adopt(this.journal.fileOf(entry.id), rec);
    } else {
      await this.store.remove(rec);
      this.journal.end(entry.id);
    }
    return outcome;
  }

  /** Whether the audit log holds the success line of this journalled operation. */
  private async auditedOk(entry: JournalEntry): Promise<boolean> {
    // A minute of slack: lines of several processes are appended in time order only roughly.
    const notBefore = new Date(idTime(entry.id) - 60_000).toISOString();
    const lines = await readAudit(this.workspace, { limit: Number.MAX_SAFE_INTEGER, ops: [entry.record.op], notBefore });
    return lines.some((l) => l.backup_id === entry.id && l.outcome === 'ok');
  }

  /** Appends the line of an operation that succeeded. Durable, except for reads: written just after the answer (see appendAuditSoon). */
  private async appendOk(op: AuditOp, opts: ActorOptions, audit: Partial<AuditRecord>): Promise<void> {
    const record: AuditRecord = { actor: opts.actor, op, outcome: 'ok', ...audit };
    if (op === 'read') appendAuditSoon(this.workspace, record, { file: this.auditFile });
    else await appendAudit(this.workspace, record, { file: this.auditFile });
  }

  /**
   * Runs an operation and appends its audit line, including for denials and failures. An operation that changed
   * a file appends its own line, inside the lock and alongside its record, and returns APPENDED.
   */
  private async audited<T>(op: AuditOp, input: string | (() => string | undefined), opts: ActorOptions, fn: () => Promise<{ result: T; audit: Partial<AuditRecord> | typeof APPENDED }>): Promise<T> {
    try {
      const { result, audit } = await fn();
      if (audit !== APPENDED) await this.appendOk(op, opts, audit);
      // Results are shown to models and people: a key-shaped file name is masked like everywhere else.
      const r = result as { path?: unknown };
      if (typeof r.path === 'string') r.path = redact(r.path);
      return result;
    } catch (err) {
      const shown = typeof input === 'function' ? input() : relativeOrUndefined(input);
      const denied = err instanceof PathDenied;
      if (isUserError(err)) err.message = redact(err.message);
      await appendAudit(
        this.workspace,
        {
          actor: opts.actor,
          op,
          ...(shown ? { path: shown } : {}),
          outcome: denied ? 'denied' : 'error',
          ...(denied ? { rule: err.rule } : {}),
          message: isUserError(err) ? err.message : 'internal error',
        },
        { file: this.auditFile, durable: op !== 'read' },
      ).catch(() => undefined);
      throw err;
    }
  }
}

/** Marks an operation whose audit line was already appended by `commit`. */
const APPENDED = Symbol('audit appended');

const NO_WRITE: PreparedWrite = { finish: async () => undefined, abandon: async () => undefined };

function assertActor(actor: unknown): asserts actor is Actor {
  if (!ACTORS.includes(actor as Actor)) throw new UserError(`Unknown actor "${String(actor).slice(0, 40)}" (expected ${ACTORS.join(', ')})`, 'bad_actor');
}
