/**
 * File safety costs: a durable write with backup, journal and audit (WorkspaceFiles.write) next to a plain
 * fs.promises.writeFile of the same 20 KB in the same run; reads likewise. `fsync_write` (writeFile then fsync)
 * is the cheapest write that survives a power cut, for scale. `durable_write_backup_already_stored` is the same
 * durable write when the old content's blob exists (no blob to write). A durable write answers once the change is
 * durable and visible; its bookkeeping (audit and folder syncs, the record's move) runs after the answer:
 * `durable_write_until_idle` is the time until that is done too (WorkspaceFiles.idle), waited for outside the
 * other timings so it does not overlap them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkspaceFiles } from '../../src/core/files';
import { ratio, summary, time } from './stats';

const BYTES = 20 * 1024;
const WRITES = 200;
const READS = 500;

function content(i: number): Buffer {
  // Different content every time, so every write stores a new backup blob (the realistic, costlier case).
  const b = Buffer.alloc(BYTES, 'export const x = 1;\n');
  b.write(`// ${i}\n`, 0);
  return b;
}

export async function run(): Promise<object> {
  const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-files-')));
  try {
    const files = await WorkspaceFiles.open(ws, { actor: 'cli' });
    fs.mkdirSync(path.join(ws, 'src'));
    const plainFile = path.join(ws, 'src', 'plain.ts');
    const syncedFile = path.join(ws, 'src', 'synced.ts');

    // Interleaved in one loop so both see the same disk and machine load.
    const durable: number[] = [];
    const durableIdle: number[] = [];
    const plain: number[] = [];
    const synced: number[] = [];
    for (let i = 0; i < WRITES + 10; i++) {
      const data = content(i);
      let t = performance.now();
      await files.write('src/durable.ts', data, { actor: 'cli', reason: 'bench' });
      const d = performance.now() - t;
      await files.idle();
      const di = performance.now() - t;
      t = performance.now();
      await fs.promises.writeFile(plainFile, data);
      const p = performance.now() - t;
      t = performance.now();
      const fh = await fs.promises.open(syncedFile, 'w');
      await fh.writeFile(data);
      await fh.sync();
      await fh.close();
      const s = performance.now() - t;
      if (i >= 10) {
        durable.push(d);
        durableIdle.push(di);
        plain.push(p);
        synced.push(s);
      }
    }
    // Two contents in turn: the old content's blob is always stored already (content-addressed), as when a
    // file is regenerated to a state it had before; the backup then costs no blob write.
    const known = [content(-1), content(-2)];
    const durableKnown: number[] = [];
    for (let i = 0; i < WRITES + 10; i++) {
      const t = performance.now();
      await files.write('src/known.ts', known[i % 2]!, { actor: 'cli', reason: 'bench' });
      if (i >= 10) durableKnown.push(performance.now() - t);
      await files.idle();
    }
    const readGuarded = await time(READS, () => files.read('src/durable.ts', { actor: 'cli' }));
    const readPlain = await time(READS, () => fs.promises.readFile(plainFile, 'utf8'));

    const dw = summary(durable);
    const pw = summary(plain);
    const sw = summary(synced);
    const rg = summary(readGuarded);
    const rp = summary(readPlain);
    return {
      bytes: BYTES,
      durable_write_with_backup: dw,
      durable_write_until_idle: summary(durableIdle),
      plain_writeFile: pw,
      fsync_write: sw,
      write_ratio_p50: ratio(dw.p50_ms, pw.p50_ms),
      write_ratio_p99: ratio(dw.p99_ms, pw.p99_ms),
      write_ratio_vs_fsync_p50: ratio(dw.p50_ms, sw.p50_ms),
      durable_write_backup_already_stored: summary(durableKnown),
      guarded_read: rg,
      plain_readFile: rp,
      read_ratio_p50: ratio(rg.p50_ms, rp.p50_ms),
      read_ratio_p99: ratio(rg.p99_ms, rp.p99_ms),
    };
  } finally {
    fs.rmSync(ws, { recursive: true, force: true });
  }
}
