/**
 * The write's disk waits overlap (journal entry, backup blob and new content are synced side by side), but the
 * order the guarantees need holds: a real child process is stopped at the rename that replaces the target and
 * reports which syncs had completed by then — the journal entry and its folder, the backup blob (also when its
 * content was already stored, and its folder when it is new), the new content and its folder — and is then
 * killed with SIGKILL. The next start finishes the write or leaves the old content, never a torn file, with the
 * backup intact. A second stop point is just after the write has answered, before the work it leaves for after
 * the answer (audit and folder syncs, moving its record into the store): everything recovery needs to finish
 * the write is synced by then, and the next start does finish it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WorkspaceFiles } from '../../../src/core/files';
import { sha256 } from '../../../src/core/files/durable';
import { bundleFixture, journalEntries, orphans, removeDir, tempDir } from './helpers';

interface Stopped {
  stopped: 'rename' | 'answered';
  synced: string[];
}

/** Runs the child until it reports the stop point, checks the disk then (`check`), and kills it. */
function runUntil(stopAt: Stopped['stopped'], bundle: string, ws: string, target: string, contentFile: string, check: (report: Stopped) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ws, target, contentFile, stopAt], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    let failure: unknown;
    const hang = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"stopped"'));
      if (!line || child.killed) return;
      try {
        check(JSON.parse(line) as Stopped);
      } catch (err) {
        failure = err;
      }
      child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(hang);
      if (failure) reject(failure);
      else if (signal === 'SIGKILL' && out.includes('"stopped"')) resolve();
      else reject(new Error(`child did not stop at ${stopAt} (exit ${code ?? signal}): ${out} ${stderr}`));
    });
  });
}

describe('files: crash point at the rename (syncs overlapped, order kept)', function () {
  // A hang guard: child processes on a machine shared with other suites.
  this.timeout(180_000);
  let dir: string;
  let bundle: string;
  before(async () => {
    dir = tempDir('sb-crash-point-');
    bundle = await bundleFixture('crash-at-rename', dir);
  });
  after(() => removeDir(dir));

  for (const alreadyStored of [false, true]) {
    it(`journal, backup${alreadyStored ? ' (content already stored)' : ' (new blob)'} and new content are synced before the target changes; a kill there loses nothing`, async () => {
      const ws = path.join(dir, alreadyStored ? 'stored' : 'new');
      const target = 'src/app.ts';
      fs.mkdirSync(path.join(ws, 'src'), { recursive: true });
      const oldContent = Buffer.from('export const version = 1;\n');
      const newContent = Buffer.from('export const version = 2;\n');
      fs.writeFileSync(path.join(ws, target), oldContent);
      if (alreadyStored) {
        // Back the old content up once (write the new content, then the old one again): its blob is stored.
        const files = await WorkspaceFiles.open(ws, { actor: 'cli' });
        await files.write(target, newContent, { actor: 'cli' });
        await files.write(target, oldContent, { actor: 'cli' });
      }
      const contentFile = path.join(dir, `content-${alreadyStored}.txt`);
      fs.writeFileSync(contentFile, newContent);
      const oldHash = sha256(oldContent);
      const blob = path.join(ws, '.switchboard/backups/blobs', oldHash);
      const blobExisted = fs.existsSync(blob);
      assert.equal(blobExisted, alreadyStored);

      await runUntil('rename', bundle, ws, target, contentFile, (report) => {
        const rel = report.synced.map((p) => path.relative(ws, p).split(path.sep).join('/'));
        const entries = journalEntries(ws);
        assert.deepEqual(entries.map((e) => path.dirname(e)), ['.switchboard/tmp'], 'one journal entry before the rename, beside the temp file');
        const entry = entries[0]!;
        assert.ok(rel.includes(entry), `journal entry synced before the rename (synced: ${rel.join(', ')})`);
        assert.ok(rel.includes('.switchboard/tmp'), 'the journal entry\'s folder synced before the rename');
        assert.ok(rel.includes(`.switchboard/backups/blobs/${oldHash}`), 'backup blob synced before the rename');
        if (!blobExisted) assert.ok(rel.includes('.switchboard/backups/blobs'), 'new blob\'s folder entry synced before the rename');
        assert.ok(rel.some((p) => p.endsWith('.sb-tmp')), 'new content synced before the rename');
        assert.ok(rel.includes('.switchboard/tmp'), 'the new content\'s folder entry synced before the rename (recovery can roll forward)');
        assert.equal(sha256(fs.readFileSync(blob)), oldHash, 'the backup holds the old content');
        assert.deepEqual(fs.readFileSync(path.join(ws, target)), oldContent, 'the target is untouched until the rename');
      });

      // The next start: the write is finished (everything it needed was synced) or rolled back, never torn.
      const files = await WorkspaceFiles.open(ws, { actor: 'extension' });
      const onDisk = fs.readFileSync(path.join(ws, target));
      assert.ok(onDisk.equals(newContent) || onDisk.equals(oldContent), 'recovery left the old or the new content');
      assert.deepEqual(orphans(ws), []);
      assert.equal(fs.existsSync(path.join(ws, '.switchboard/write.lock')), false);
      assert.deepEqual(journalEntries(ws), []);
      const [newest] = await files.listBackups({ path: target });
      if (onDisk.equals(newContent)) assert.equal(newest!.sha256, oldHash, 'the finished write\'s backup is the old content');
      assert.equal(sha256(fs.readFileSync(blob)), oldHash);
    });
  }
  it('killed right after the write answered (its record not yet moved, audit and folder not yet synced): the next start finishes it', async () => {
    const ws = path.join(dir, 'answered');
    const target = 'src/app.ts';
    fs.mkdirSync(path.join(ws, 'src'), { recursive: true });
    const oldContent = Buffer.from('export const version = 1;\n');
    const newContent = Buffer.from('export const version = 2;\n');
    fs.writeFileSync(path.join(ws, target), oldContent);
    const contentFile = path.join(dir, 'content-answered.txt');
    fs.writeFileSync(contentFile, newContent);
    const oldHash = sha256(oldContent);
    let entryId = '';

    await runUntil('answered', bundle, ws, target, contentFile, (report) => {
      const rel = report.synced.map((p) => path.relative(ws, p).split(path.sep).join('/'));
      const entries = journalEntries(ws);
      assert.deepEqual(entries.map((e) => path.dirname(e)), ['.switchboard/tmp'], 'the entry is still in the journal when the write answers');
      entryId = path.basename(entries[0]!).replace(/\.json$/, '');
      // What recovery needs to finish the write, whatever a power cut loses of the rest.
      for (const needed of [`.switchboard/tmp/${entryId}.json`, `.switchboard/backups/blobs/${oldHash}`, '.switchboard/backups/blobs', '.switchboard/tmp']) {
        assert.ok(rel.includes(needed), `${needed} synced before the answer (synced: ${rel.join(', ')})`);
      }
      assert.ok(rel.some((p) => p.endsWith('.sb-tmp')), 'new content synced before the answer');
      assert.deepEqual(fs.readFileSync(path.join(ws, target)), newContent, 'the answer comes after the change is visible');
      assert.ok(fs.readFileSync(path.join(ws, '.switchboard/audit.jsonl'), 'utf8').includes(`"backup_id":"${entryId}"`), 'the audit line is written before the answer');
    });

    const files = await WorkspaceFiles.open(ws, { actor: 'extension' });
    assert.deepEqual(fs.readFileSync(path.join(ws, target)), newContent, 'the answered write stays');
    assert.deepEqual(orphans(ws), []);
    assert.equal(fs.existsSync(path.join(ws, '.switchboard/write.lock')), false);
    const [newest] = await files.listBackups({ path: target });
    assert.equal(newest!.id, entryId, 'its record is in the store');
    assert.equal(newest!.sha256, oldHash, 'holding the old content');
    assert.deepEqual(await files.restore(entryId, { actor: 'cli' }).then((r) => r.restoredFrom), entryId);
    assert.deepEqual(fs.readFileSync(path.join(ws, target)), oldContent, 'and it can be undone');
  });

  it('with .switchboard/tmp unusable (a link to a folder elsewhere): the entry goes to .switchboard/journal, synced with its folder, and nothing is written through the link', async () => {
    const ws = path.join(dir, 'no-tmp');
    const target = 'src/app.ts';
    fs.mkdirSync(path.join(ws, 'src'), { recursive: true });
    const oldContent = Buffer.from('export const version = 1;\n');
    const newContent = Buffer.from('export const version = 2;\n');
    fs.writeFileSync(path.join(ws, target), oldContent);
    await WorkspaceFiles.open(ws, { actor: 'cli' }); // makes the state folder
    const elsewhere = path.join(dir, 'elsewhere');
    fs.mkdirSync(elsewhere);
    fs.rmSync(path.join(ws, '.switchboard/tmp'), { recursive: true });
    fs.symlinkSync(elsewhere, path.join(ws, '.switchboard/tmp'));
    const contentFile = path.join(dir, 'content-no-tmp.txt');
    fs.writeFileSync(contentFile, newContent);

    await runUntil('rename', bundle, ws, target, contentFile, (report) => {
      const rel = report.synced.map((p) => path.relative(ws, p).split(path.sep).join('/'));
      const entries = journalEntries(ws);
      assert.deepEqual(entries.map((e) => path.dirname(e)), ['.switchboard/journal'], 'the entry is in .switchboard/journal');
      assert.ok(rel.includes(entries[0]!) && rel.includes('.switchboard/journal'), `the entry and its folder synced before the rename (synced: ${rel.join(', ')})`);
      assert.ok(rel.some((p) => p.startsWith('src/') && p.endsWith('.sb-tmp')), 'the new content, beside the target, synced before the rename');
    });
    assert.deepEqual(fs.readdirSync(elsewhere), [], 'nothing written through the link');
    const files = await WorkspaceFiles.open(ws, { actor: 'extension' });
    const onDisk = fs.readFileSync(path.join(ws, target));
    assert.ok(onDisk.equals(newContent) || onDisk.equals(oldContent), 'recovery left the old or the new content');
    assert.deepEqual(journalEntries(ws), []);
    assert.deepEqual(orphans(ws), []);
    await files.write(target, 'export const version = 3;\n', { actor: 'cli' });
    await files.idle();
    assert.deepEqual(fs.readdirSync(elsewhere), [], 'still nothing written through the link');
  });
});
