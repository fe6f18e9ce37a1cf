/** Backups are never more readable than the files they hold, and `.switchboard/` is the owner's alone. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WorkspaceFiles } from '../../../src/core/files';
import { removeDir, tempDir } from './helpers';

const modeOf = (p: string): number => fs.statSync(p).mode & 0o777;

describe('files: private state (backups keep the original mode, .switchboard/ is 0700)', () => {
  let ws: string;
  beforeEach(() => {
    ws = tempDir();
  });
  afterEach(() => removeDir(ws));

  it('a 0600 file\'s backup is 0600 and .switchboard/ is 0700 (even under a permissive umask)', async () => {
    const old = process.umask(0o000);
    try {
      fs.writeFileSync(path.join(ws, 'secret.env.txt'), 'DB_PASSWORD=hunter2\n', { mode: 0o600 });
      fs.chmodSync(path.join(ws, 'secret.env.txt'), 0o600);
      const files = await WorkspaceFiles.open(ws, { actor: 'cli' });
      const written = await files.write('secret.env.txt', 'DB_PASSWORD=changed\n', { actor: 'cli' });
      const [backup] = await files.listBackups({ path: 'secret.env.txt' });
      assert.equal(backup!.id, written.backupId);
      const blob = path.join(ws, '.switchboard', 'backups', 'blobs', backup!.sha256!);
      assert.equal(modeOf(blob), 0o600, 'the backup is as private as the file was');
      assert.equal(modeOf(path.join(ws, '.switchboard')), 0o700);
      assert.equal(modeOf(path.join(ws, 'secret.env.txt')), 0o600, 'the file keeps its own mode');
    } finally {
      process.umask(old);
    }
  });

  it('a blob already stored readable is tightened when a private file with the same bytes is backed up', async () => {
    fs.writeFileSync(path.join(ws, 'a.txt'), 'same bytes\n');
    fs.chmodSync(path.join(ws, 'a.txt'), 0o644);
    fs.writeFileSync(path.join(ws, 'b.txt'), 'same bytes\n');
    fs.chmodSync(path.join(ws, 'b.txt'), 0o600);
    const files = await WorkspaceFiles.open(ws, { actor: 'cli' });
    await files.write('a.txt', 'new a\n', { actor: 'cli' });
    const [backupA] = await files.listBackups({ path: 'a.txt' });
    const blob = path.join(ws, '.switchboard', 'backups', 'blobs', backupA!.sha256!);
    assert.equal(modeOf(blob), 0o644, 'a 0644 file\'s backup keeps 0644');
    await files.write('b.txt', 'new b\n', { actor: 'cli' });
    assert.equal(modeOf(blob), 0o600);
  });

  it('a .switchboard/ left world-readable by an older version is tightened; one that is a symbolic link is not followed', async () => {
    fs.mkdirSync(path.join(ws, '.switchboard'));
    fs.chmodSync(path.join(ws, '.switchboard'), 0o755);
    await WorkspaceFiles.open(ws, { actor: 'cli' });
    assert.equal(modeOf(path.join(ws, '.switchboard')), 0o700);

    const other = tempDir();
    try {
      fs.chmodSync(other, 0o755);
      const ws2 = tempDir();
      fs.symlinkSync(other, path.join(ws2, '.switchboard'));
      await WorkspaceFiles.open(ws2, { actor: 'cli' }).catch(() => undefined);
      assert.equal(modeOf(other), 0o755, 'the link target was not chmod-ed');
      removeDir(ws2);
    } finally {
      removeDir(other);
    }
  });
});
