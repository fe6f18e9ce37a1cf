/**
 * The write journal, `.switchboard/journal/<id>.json`: an operation is written here (durably) before the
 * workspace file is touched, and removed once it is complete, so a crash in between can be finished or rolled
 * back at the next start (`WorkspaceFiles.recover`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BackupRecord } from './backups';
import { atomicReplace, TEMP_SUFFIX } from './durable';

export interface JournalEntry {
  /** Same id as the backup record. */
  id: string;
  /** replace: rename `temp` over the target; unlink: remove the target. */
  kind: 'replace' | 'unlink';
  /** Canonical target, relative to the workspace (may start with '../' for an allowed folder outside it). */
  target: string;
  /** Temp file name in the target's folder (replace only). */
  temp?: string;
  record: BackupRecord;
}

export class Journal {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
  }

  async begin(entry: JournalEntry): Promise<void> {
    await atomicReplace(path.join(this.dir, `${entry.id}.json`), Buffer.from(JSON.stringify(entry)));
  }

  fileOf(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  /** The entry's removal need not be durable: a leftover entry whose work is complete is recognised as such. */
  async end(id: string): Promise<void> {
    await fs.promises.rm(path.join(this.dir, `${id}.json`), { force: true });
  }

  /** Pending entries, oldest first, and the number of unreadable ones removed. */
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
      try {
        out.push(JSON.parse(await fs.promises.readFile(file, 'utf8')) as JournalEntry);
      } catch {
        // Entries are written by rename, so a torn one cannot happen; an unreadable one is set aside.
        await fs.promises.rename(file, file + '.unreadable').catch(() => undefined);
      }
    }
    return out;
  }
}
