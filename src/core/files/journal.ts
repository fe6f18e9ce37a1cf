/**
 * The write journal, `.switchboard/tmp/<id>.json` (`.switchboard/journal/` where the temp folder cannot be used,
 * see `writeIn`): an operation is written here (durably) before the workspace file is touched, and removed
 * once it is complete, so a crash in between can be finished or rolled back at the next start
 * (`WorkspaceFiles.recover`). A completed entry is moved into the store as the backup record; a failed one is
 * removed. Neither is synced on the write path: an entry left over by a power cut after its operation completed
 * is recognised as complete (by the file's content, or by the operation's audit line when the file was edited
 * since).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BackupRecord } from './backups';
import { createDurable, createUnsynced, TEMP_SUFFIX, type PreparedWrite, type Spare } from './durable';

export interface JournalEntry {
  /** Same id as the backup record. */
  id: string;
  /** replace: rename `temp` over the target; unlink: remove the target. */
  kind: 'replace' | 'unlink';
  /** Canonical target, relative to the workspace (may start with '../' for an allowed folder outside it). */
  target: string;
  /** Temp file name (replace only), in the target's folder or, with `tempInState`, in `.switchboard/tmp`. */
  temp?: string;
  tempInState?: boolean;
  record: BackupRecord;
}

export class Journal {
  /** Where new entries are written: `dir`, or the temp folder once `writeIn` names it. */
  private entriesDir: string;

  constructor(readonly dir: string) {
    this.entriesDir = dir;
  }

  async init(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
  }

  /**
   * New entries go to `folder` (`.switchboard/tmp`, checked to be a plain folder of the state folder): a write
   * whose temp file is there too then makes both names durable with one folder sync instead of two. Entries
   * already in `dir` are still found by `pending`.
   */
  writeIn(folder: string): void {
    this.entriesDir = folder;
  }

  /** The folder new entries are written in. */
  get folder(): string {
    return this.entriesDir;
  }

  /**
   * Durable when it returns; the workspace file is touched only after that. Written in place rather than by
   * temp-and-rename, so its content and its folder entry are synced together (one disk wait, not two): a crash
   * before then leaves at worst an empty or cut-off entry, which `pending` knows to be harmless.
   */
  async begin(entry: JournalEntry): Promise<void> {
    await createDurable(path.join(this.entriesDir, `${entry.id}.json`), Buffer.from(JSON.stringify(entry)));
  }

  /**
   * `begin` in two halves: the entry is written now (a killed process leaves it for recovery) and made durable
   * by `finish`, so the caller can create its other files before any sync starts (see prepareReplace).
   * `syncFolder: false`: the caller syncs the entry's folder itself (`folder`, alongside its temp file's name).
   */
  async prepare(entry: JournalEntry, spare?: Spare, options: { syncFolder?: boolean } = {}): Promise<PreparedWrite> {
    return createUnsynced(path.join(this.entriesDir, `${entry.id}.json`), Buffer.from(JSON.stringify(entry)), 0o600, spare, options);
  }

  /** The entry's file: where new entries go, or `dir` for one found there. */
  fileOf(id: string): string {
    const file = path.join(this.entriesDir, `${id}.json`);
    if (this.entriesDir === this.dir || fs.existsSync(file)) return file;
    return path.join(this.dir, `${id}.json`);
  }

  /** Not synced: see the note at the top. */
  end(id: string): void {
    for (const dir of this.folders()) fs.rmSync(path.join(dir, `${id}.json`), { force: true });
  }

  /** Pending entries of both folders, oldest first. */
  async pending(): Promise<JournalEntry[]> {
    const out: JournalEntry[] = [];
    for (const dir of this.folders()) out.push(...(await this.pendingIn(dir)));
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private folders(): string[] {
    return this.entriesDir === this.dir ? [this.dir] : [this.dir, this.entriesDir];
  }

  private async pendingIn(dir: string): Promise<JournalEntry[]> {
    const names = (await fs.promises.readdir(dir).catch(() => [] as string[])).sort();
    const out: JournalEntry[] = [];
    for (const n of names) {
      const file = path.join(dir, n);
      if (n.endsWith(TEMP_SUFFIX) && dir === this.dir) {
        // Crash while writing the entry itself: the workspace file was not touched yet. (In the temp folder such
        // names are write temps, which recovery may still need; the temp folder's sweep removes them after it.)
        await fs.promises.rm(file, { force: true });
        continue;
      }
      // Only `<id>.json`: spares and temp files share the temp folder.
      if (!n.endsWith('.json') || n.startsWith('.')) continue;
      let entry: JournalEntry | undefined;
      try {
        entry = JSON.parse(await fs.promises.readFile(file, 'utf8')) as JournalEntry;
        if (!entry || typeof entry.id !== 'string' || !entry.record) throw new Error('not an entry');
      } catch {
        // Cut off by a crash while it was being written (see begin): nothing else had been touched yet.
        await fs.promises.rm(file, { force: true });
        continue;
      }
      out.push(entry);
    }
    return out;
  }
}
