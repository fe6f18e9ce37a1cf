/**
 * The workspace lock keeps one lock file per process and workspace (`.switchboard/write.tmp-<pid>-l<hex>`) and
 * links it as `write.lock` for each operation instead of creating and freeing a file each time. Between
 * operations no lock is held; `dispose` removes the kept file, and a process killed with SIGKILL (which cannot
 * remove its own) has its file swept by the next process that opens the workspace, while a live process's file
 * is left alone. Also: a backup blob this process synced is trusted by its inode, size and times alone, and one
 * changed in place since (a cut-off or damaged blob) is read, found wrong and replaced, never trusted.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WorkspaceFiles } from '../../../src/core/files';
import { newBackupId } from '../../../src/core/files/backups';
import { sha256 } from '../../../src/core/files/durable';
import { bundleFixture, removeDir, tempDir, write } from './helpers';

const actor = 'claude-code' as const;

/** Kept lock files in the workspace's state folder, as { pid, name }. */
function keptLockFiles(ws: string): Array<{ pid: number; name: string }> {
  return fs
    .readdirSync(path.join(ws, '.switchboard'))
    .map((name) => ({ name, m: /^write\.tmp-(\d+)-l[0-9a-f]+$/.exec(name) }))
    .filter((e) => e.m)
    .map((e) => ({ pid: Number(e.m![1]), name: e.name }));
}

/** Starts the fixture, resolves with its pid once it has written and released the lock (it then waits to be killed). */
function startHolder(bundle: string, ws: string, target: string): Promise<{ pid: number; kill(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ws, target], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    const hang = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"ready"'));
      if (line) resolve({ pid: (JSON.parse(line) as { pid: number }).pid, kill: async () => { child.kill('SIGKILL'); await exited; clearTimeout(hang); } });
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (!out.includes('"ready"')) reject(new Error(`holder exited early (${code ?? signal}): ${stderr}`));
    });
  });
}

describe('files: the workspace lock keeps one lock file per process and workspace', function () {
  this.timeout(180_000);
  let root: string;
  let ws: string;
  beforeEach(() => {
    root = tempDir('sb-write-lock-');
    ws = path.join(root, 'ws');
    fs.mkdirSync(ws);
  });
  afterEach(() => removeDir(root));

  it('links the same kept file for every write, holds no lock between them, and dispose removes it', async () => {
    const files = await WorkspaceFiles.open(ws, { actor: 'extension' });
    await files.write('a.ts', 'v1\n', { actor });
    await files.idle();
    const kept = keptLockFiles(ws);
    assert.deepEqual(kept.map((k) => k.pid), [process.pid], 'one kept lock file, named with this process');
    const ino = fs.statSync(path.join(ws, '.switchboard', kept[0]!.name)).ino;
    assert.equal(fs.existsSync(path.join(ws, '.switchboard/write.lock')), false, 'no lock held between operations');
    await files.write('a.ts', 'v2\n', { actor });
    await files.delete('a.ts', { actor });
    await files.idle();
    assert.deepEqual(keptLockFiles(ws).map((k) => k.name), [kept[0]!.name], 'the same file, not one per write');
    assert.equal(fs.statSync(path.join(ws, '.switchboard', kept[0]!.name)).ino, ino);
    // A second instance on the same workspace (a CLI command, a context sync) shares it.
    const other = await WorkspaceFiles.open(ws, { actor: 'cli' });
    await other.write('c.ts', 'c\n', { actor });
    await other.idle();
    assert.deepEqual(keptLockFiles(ws).map((k) => k.name), [kept[0]!.name], 'one kept file for the process, however many instances');
    assert.equal(fs.existsSync(path.join(ws, '.switchboard/write.lock')), false);

    await files.dispose();
    assert.deepEqual(keptLockFiles(ws), [], 'dispose removes the kept file');
    // Still usable after dispose: the next operation makes a new kept file.
    await files.write('b.ts', 'x\n', { actor });
    await files.dispose();
    assert.equal(fs.readFileSync(path.join(ws, 'b.ts'), 'utf8'), 'x\n');
    assert.deepEqual(keptLockFiles(ws), []);
  });

  it('dispose waits for a write that is still running before it removes the kept file', async () => {
    const files = await WorkspaceFiles.open(ws, { actor: 'extension' });
    const writing = files.write('a.ts', 'v1\n', { actor });
    await files.dispose();
    await writing;
    assert.equal(fs.readFileSync(path.join(ws, 'a.ts'), 'utf8'), 'v1\n');
    assert.deepEqual(keptLockFiles(ws), []);
    assert.equal(fs.existsSync(path.join(ws, '.switchboard/write.lock')), false);
    assert.equal((await files.listBackups({ path: 'a.ts' })).length, 1);
  });

  it('a process killed with SIGKILL leaves its kept file; the next open sweeps it and leaves a live process\'s alone', async () => {
    const bundle = await bundleFixture('hold-kept-lock', root);
    // This process's own instance, alive throughout.
    const mine = await WorkspaceFiles.open(ws, { actor: 'extension' });
    await mine.write('mine.ts', 'mine\n', { actor });
    await mine.idle();
    const holder = await startHolder(bundle, ws, 'theirs.ts');
    assert.deepEqual(keptLockFiles(ws).map((k) => k.pid).sort(), [process.pid, holder.pid].sort(), 'each process keeps its own file');
    await holder.kill();
    assert.ok(keptLockFiles(ws).some((k) => k.pid === holder.pid), 'SIGKILL leaves the file behind');

    const next = await WorkspaceFiles.open(ws, { actor: 'extension' });
    const left = keptLockFiles(ws).map((k) => k.pid);
    assert.ok(!left.includes(holder.pid), 'the dead process\'s file is swept');
    assert.deepEqual(left, [process.pid], 'this live process\'s is kept');
    assert.equal(fs.readFileSync(path.join(ws, 'theirs.ts'), 'utf8'), `written by ${holder.pid}\n`);
    // The lock still works for this process, in both instances.
    await next.write('theirs.ts', 'again\n', { actor });
    await mine.write('mine.ts', 'again\n', { actor });
    await next.dispose();
    assert.deepEqual(keptLockFiles(ws), []);
    assert.equal(fs.existsSync(path.join(ws, '.switchboard/write.lock')), false);
  });
});

describe('files: a backup blob synced by this process', function () {
  this.timeout(30_000);
  let ws: string;
  let reads: string[];
  const realReadFileSync = fs.readFileSync;
  beforeEach(() => {
    ws = tempDir('sb-blob-trust-');
    reads = [];
    // Watches which files Node's fs is asked to read (Switchboard's own code is not touched).
    (fs as unknown as Record<string, unknown>).readFileSync = (...args: Parameters<typeof fs.readFileSync>) => {
      reads.push(String(args[0]));
      return realReadFileSync(...args);
    };
  });
  afterEach(() => {
    (fs as unknown as Record<string, unknown>).readFileSync = realReadFileSync;
    removeDir(ws);
  });

  const oldContent = 'export const v = 1;\n';
  const newContent = 'export const v = 2;\n';
  const blobOf = (content: string) => path.join(ws, '.switchboard/backups/blobs', sha256(Buffer.from(content)));

  it('is trusted by its inode, size and times: backing the same content up again reads nothing', async () => {
    write(path.join(ws, 'a.ts'), oldContent);
    const files = await WorkspaceFiles.open(ws, { actor: 'extension' });
    await files.write('a.ts', newContent, { actor }); // backs oldContent up: a new blob, synced here
    await files.write('a.ts', oldContent, { actor });
    reads = [];
    const w = await files.write('a.ts', newContent, { actor }); // backs oldContent up again
    assert.deepEqual(reads.filter((r) => r === blobOf(oldContent)), [], 'the blob this process synced is not read again');
    assert.equal(w.previousSha256, sha256(Buffer.from(oldContent)));
    assert.equal(realReadFileSync(blobOf(oldContent), 'utf8'), oldContent);
  });

  for (const damage of ['cut off', 'overwritten in place with the same size and its mtime set back'] as const) {
    it(`changed in place since (${damage}): read, found wrong, and replaced before the target changes`, async () => {
      write(path.join(ws, 'a.ts'), oldContent);
      const files = await WorkspaceFiles.open(ws, { actor: 'extension' });
      await files.write('a.ts', newContent, { actor });
      await files.write('a.ts', oldContent, { actor });
      await files.idle();
      const blob = blobOf(oldContent);
      const before = fs.statSync(blob);
      if (damage === 'cut off') fs.truncateSync(blob, 5);
      else {
        fs.writeFileSync(blob, 'X'.repeat(before.size));
        fs.utimesSync(blob, before.atime, before.mtime);
      }
      reads = [];
      await files.write('a.ts', newContent, { actor });
      assert.ok(reads.includes(blob), 'the changed blob is read to be checked');
      assert.equal(realReadFileSync(blob, 'utf8'), oldContent, 'and replaced by the right content');
      const [newest] = await files.listBackups({ path: 'a.ts' });
      assert.equal(newest!.sha256, sha256(Buffer.from(oldContent)));
      await files.restore(newest!.id, { actor });
      assert.equal(realReadFileSync(path.join(ws, 'a.ts'), 'utf8'), oldContent, 'the backup restores');
    });
  }

  it('backup ids stay unique and in time order without fresh random digits for each', () => {
    const ids = Array.from({ length: 5000 }, () => newBackupId());
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
    for (const id of ids) assert.match(id, /^[0-9a-z]{11}-[0-9a-f]{4}$/);
  });
});
