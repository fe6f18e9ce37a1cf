/**
 * `.switchboard/tmp`: where a write's new content is prepared while its journal entry, written here too, is being
 * synced (named by nothing in the workspace until the rename; one folder sync makes both names durable), and
 * where spares wait (see durable.ts makeSpare). Used only when it is a plain folder of the workspace's state;
 * otherwise temp files go beside their targets and journal entries to `.switchboard/journal`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { makeSpare, SPARE_PREFIX, TEMP_SUFFIX, type Spare } from './durable';

export class TempFolder {
  readonly dir: string;
  /** Its device, when it is usable (a plain folder of the state folder). */
  private dev: number | undefined;
  /** Made after a write answered, for the next one. */
  private readonly spares: { journal?: Spare; temp?: Spare; blob?: Spare } = {};

  constructor(private readonly stateDir: string) {
    this.dir = path.join(stateDir, 'tmp');
  }

  init(): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      const st = fs.lstatSync(this.dir);
      // A link or a swapped folder (a hostile repository can ship one) would send new content elsewhere.
      if (st.isDirectory() && fs.realpathSync.native(this.dir) === path.join(fs.realpathSync.native(this.stateDir), 'tmp')) this.dev = st.dev;
    } catch {
      this.dev = undefined;
    }
  }

  /** A plain folder of the state folder, checked by `init`: temp files, spares and journal entries can go here. */
  get usable(): boolean {
    return this.dev !== undefined;
  }

  /** Whether a temp file for `target` can be made here (same file system: rename works across the folders). */
  serves(target: string): boolean {
    if (this.dev === undefined) return false;
    try {
      return fs.statSync(path.dirname(target)).dev === this.dev;
    } catch {
      return false;
    }
  }

  /** The spare of that kind (and mode, when given), if one was made; each is handed out once. */
  takeSpare(kind: 'journal' | 'temp' | 'blob', mode?: number): Spare | undefined {
    const spare = this.spares[kind];
    if (!spare || (mode !== undefined && spare.mode !== mode)) return undefined;
    this.spares[kind] = undefined;
    return spare;
  }

  /**
   * After an answer: the files the next write would otherwise create on its caller's path. `blobMode`: the mode
   * of the backup blob the write made, likely that of the next one too (a spare of another mode is not used).
   */
  makeSpares(blobMode?: number): void {
    if (this.dev === undefined) return;
    this.spares.journal ??= makeSpare(this.dir, 0o600);
    this.spares.temp ??= makeSpare(this.dir, 0o666);
    if (this.spares.blob && blobMode !== undefined && this.spares.blob.mode !== blobMode) this.dropSpare('blob');
    if (blobMode !== undefined) this.spares.blob ??= makeSpare(this.dir, blobMode);
  }

  private dropSpare(kind: 'blob'): void {
    const spare = this.spares[kind];
    this.spares[kind] = undefined;
    if (spare) fs.rmSync(spare.file, { force: true });
  }

  /**
   * Removes temp files (a write cut short before its journal entry was durable) and spares (this process's
   * too: they are made again after the next write). Returns how many temp files there were.
   */
  async sweep(): Promise<number> {
    if (this.dev === undefined) return 0;
    this.spares.journal = undefined;
    this.spares.temp = undefined;
    this.spares.blob = undefined;
    let n = 0;
    for (const name of await fs.promises.readdir(this.dir).catch(() => [] as string[])) {
      const temp = name.endsWith(TEMP_SUFFIX);
      if (!temp && !name.startsWith(SPARE_PREFIX)) continue;
      await fs.promises.rm(path.join(this.dir, name), { force: true });
      if (temp) n++;
    }
    return n;
  }
}
