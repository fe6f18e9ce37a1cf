/**
 * Crash safety: a real child process writes a 3 MB file through WorkspaceFiles and is killed with SIGKILL at a
 * random point, 100 times. After each kill the target is exactly the old or the new content; the next start
 * (WorkspaceFiles.open → recover) leaves no temp file, no journal entry and no lock, and the backups are
 * intact: every blob matches its hash, and the newest backup of the file describes what is on disk.
 *
 * The child is bundled once with esbuild (a plain `node child.cjs` starts in ~50 ms instead of ~400 ms under
 * tsx), so 100 kills fit in a few seconds; it is the same source as the rest of the suite.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WorkspaceFiles } from '../../../src/core/files';
import { sha256 } from '../../../src/core/files/durable';
import { bundleFixture, orphans, removeDir, tempDir } from './helpers';

const KILLS = 100;
const WORKERS = 2;
const SIZE = 3 * 1024 * 1024;

interface Run {
  exit: 'killed' | 'finished';
  ms: number;
}

function runChild(bundle: string, ws: string, target: string, contentFile: string, killAfterMs: number | undefined): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ws, target, contentFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let readyAt = 0;
    let stderr = '';
    const hang = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      if (!readyAt && d.toString().includes('ready')) {
        readyAt = performance.now();
        if (killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(hang);
      if (signal === 'SIGKILL') resolve({ exit: 'killed', ms: performance.now() - readyAt });
      else if (code === 0) resolve({ exit: 'finished', ms: performance.now() - readyAt });
      else reject(new Error(`child failed (${code}): ${stderr}`));
    });
  });
}

function bigContent(seed: string): Buffer {
  // Distinct, incompressible-ish content so a torn mix of old and new cannot match either.
  const out = Buffer.alloc(SIZE);
  let block = crypto.createHash('sha256').update(seed).digest();
  for (let off = 0; off < SIZE; off += block.length) {
    block.copy(out, off);
    block = crypto.createHash('sha256').update(block).digest();
  }
  return out;
}

describe('files: crash safety (SIGKILL during a large write, 100 times)', function () {
  // A hang guard, not a speed goal: 100 child processes writing 3 MB each on a machine shared with other suites.
  this.timeout(900_000);
  let dir: string;
  let bundle: string;
  before(async () => {
    dir = tempDir('sb-crash-');
    bundle = await bundleFixture('crash-writer', dir);
  });
  after(() => removeDir(dir));

  it('leaves the old or the new content, intact backups and no orphan after every kill', async () => {
    const contents = [bigContent('A'), bigContent('B')];
    const hashes = contents.map(sha256);
    const stats = { killedOld: 0, killedNew: 0, finished: 0, outcomes: {} as Record<string, number> };

    async function worker(w: number, kills: number): Promise<void> {
      const ws = path.join(dir, `ws${w}`);
      fs.mkdirSync(ws);
      const files = contents.map((c, i) => {
        const f = path.join(dir, `content-${w}-${i}.bin`);
        fs.writeFileSync(f, c);
        return f;
      });
      const target = 'data/big.json';
      fs.mkdirSync(path.join(ws, 'data'));
      fs.writeFileSync(path.join(ws, target), contents[0]!);
      let current = 0;

      // Two uninterrupted runs tell how long a write takes here, so kills spread over the whole of it.
      const first = await runChild(bundle, ws, target, files[1]!, undefined);
      const second = await runChild(bundle, ws, target, files[0]!, undefined);
      assert.equal(first.exit, 'finished');
      assert.equal(second.exit, 'finished');
      current = 0;
      const span = Math.max(5, Math.min(first.ms, second.ms));

      for (let i = 0; i < kills; i++) {
        const next = 1 - current;
        const run = await runChild(bundle, ws, target, files[next]!, Math.random() * span);
        const onDisk = sha256(fs.readFileSync(path.join(ws, target)));
        assert.ok(onDisk === hashes[current] || onDisk === hashes[next], `kill ${i}: the target is neither the old nor the new content`);
        if (run.exit === 'finished') stats.finished++;
        else if (onDisk === hashes[current]) stats.killedOld++;
        else stats.killedNew++;

        // The next start: recovery, then the invariants.
        const files2 = await WorkspaceFiles.open(ws, { actor: 'extension' });
        const after = sha256(fs.readFileSync(path.join(ws, target)));
        assert.ok(after === hashes[current] || after === hashes[next], `kill ${i}: recovery left a torn file`);
        assert.deepEqual(orphans(ws), [], `kill ${i}: orphans after recovery`);
        assert.equal(fs.existsSync(path.join(ws, '.switchboard/write.lock')), false, `kill ${i}: stale lock left`);
        const backups = await files2.listBackups({ path: target });
        assert.ok(backups.length > 0);
        // The newest backup is the write that produced what is on disk: its "before" is the other content.
        assert.equal(backups[0]!.sha256, after === hashes[0] ? hashes[1] : hashes[0], `kill ${i}: newest backup does not match the disk`);
        const blobDir = path.join(ws, '.switchboard/backups/blobs');
        for (const name of fs.readdirSync(blobDir)) assert.equal(sha256(fs.readFileSync(path.join(blobDir, name))), name, `kill ${i}: damaged blob`);
        for (const b of backups) if (b.existed) assert.ok(fs.existsSync(path.join(blobDir, b.sha256!)), `kill ${i}: backup ${b.id} lost its content`);
        const recovered = await fs.promises.readFile(path.join(ws, '.switchboard/audit.jsonl'), 'utf8');
        for (const m of recovered.matchAll(/"op":"recover".*?"message":"(\w+)"/g)) stats.outcomes[m[1]!] = (stats.outcomes[m[1]!] ?? 0) + 1;
        fs.writeFileSync(path.join(ws, '.switchboard/audit.jsonl'), '');
        current = after === hashes[0] ? 0 : 1;
      }
    }

    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w, KILLS / WORKERS)));
    // The kills must really land in the middle of writes, or this test proves nothing.
    const journalled = Object.values(stats.outcomes).reduce((a, b) => a + b, 0);
    assert.ok(stats.killedOld > 0 && stats.killedNew > 0, JSON.stringify(stats));
    assert.ok(journalled > 0, `no kill interrupted a journalled write: ${JSON.stringify(stats)}`);
    if (process.env.SB_CRASH_STATS) process.stderr.write(`crash stats: ${JSON.stringify(stats)}\n`);
  });
});
