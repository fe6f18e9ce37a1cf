/**
 * The write journal, `.switchboard/journal/<id>.json`: an operation is written here (durably) before the
 * workspace file is touched, and removed once it is complete, so a crash in between can be finished or rolled
 * back at the next start (`WorkspaceFiles.recover`). A completed entry is moved into the store as the backup
 * record; a failed one is removed. Neither is synced on the write path: an entry left over by a power cut after
 * its operation completed is recognised as complete (by the file's content, or by the operation's audit line
 * when the file was edited since).
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
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
  }

  /**
   * Durable when it returns; the workspace file is touched only after that. Written in place rather than by
   * temp-and-rename, so its content and its folder entry are synced together (one disk wait, not two): a crash
   * before then leaves at worst an empty or cut-off entry, which `pending` knows to be harmless.
   */
  async begin(entry: JournalEntry): Promise<void> {
    await createDurable(path.join(this.dir, `${entry.id}.json`), Buffer.from(JSON.stringify(entry)));
  }

  /**
   * `begin` in two halves: the entry is written now (a killed process leaves it for recovery) and made durable
   * by `finish`, so the caller can create its other files before any sync starts (see prepareReplace).
   */
  async prepare(entry: JournalEntry, spare?: Spare): Promise<PreparedWrite> {
    return createUnsynced(path.join(this.dir, `${entry.id}.json`), Buffer.from(JSON.stringify(entry)), 0o600, spare);
  }

  fileOf(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  /** Not synced: see the note at the top. */
  end(id: string): void {
    fs.rmSync(path.join(this.dir, `${id}.json`), { force: true });
  }

  /** Pending entries, oldest first. */
  async pending(): Promise<JournalEntry[]> {
    const names = (await fs.promises.readdir(this.dir).catch(() => [] as string[])).sort();
    const out: JournalEntry[] = [];
    for (const n of names) {
      const file = path.join(this.dir, n);
      if (n.endsWith(TEMP_SUFFIX)) {
        // Crash while writing the entry itself: the workspace file was not touched yet.
        await fs.promises.rm(file, { force: true });
        continue;
      }
      if (!n.endsWith('.json')) continue;
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
