/**
 * Spares: after a write has answered, the files the next write would create (its journal entry, temp file and
 * backup blob) are made ahead in `.switchboard/tmp`. A spare is used only if it is still the empty, singly linked file this
 * process made: one swapped for a hard link or a symbolic link to a file elsewhere (a hostile repository, or
 * another user of the folder) is never written through, and recovery sweeps spares like temp files.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WorkspaceFiles } from '../../../src/core/files';
import { journalEntries, removeDir, tempDir, write } from './helpers';

const actor = 'claude-code' as const;

describe('files: spares made after an answer', function () {
  this.timeout(15_000);
  let root: string;
  let ws: string;
  beforeEach(() => {
    root = tempDir('sb-spares-');
    ws = path.join(root, 'ws');
    fs.mkdirSync(ws);
  });
  afterEach(() => removeDir(root));

  const spares = () => fs.readdirSync(path.join(ws, '.switchboard/tmp')).filter((n) => n.startsWith('.spare-'));

  it('are made once a write has finished, used by the next one, and made again', async () => {
    write(path.join(ws, 'src/a.ts'), 'v1\n');
    const files = await WorkspaceFiles.open(ws, { actor: 'extension' });
    await files.write('src/a.ts', 'v2\n', { actor });
    await files.idle();
    const first = spares();
    assert.equal(first.length, 3, 'a journal entry, a temp file and a backup blob made ahead');
    await files.write('src/a.ts', 'v3\n', { actor });
    await files.idle();
    const second = spares();
    assert.equal(second.length, 3);
    assert.deepEqual(second.filter((n) => first.includes(n)), [], 'the first three were used');
    assert.equal(fs.readFileSync(path.join(ws, 'src/a.ts'), 'utf8'), 'v3\n');
    // v2 again: the blob of v3 is new, v2's content is stored already; then v3 again: its blob exists, so the
    // blob spare is kept for later rather than left behind.
    await files.write('src/a.ts', 'v2\n', { actor });
    await files.write('src/a.ts', 'v3\n', { actor });
    await files.idle();
    assert.equal(spares().length, 3, 'no spare left behind unused');
    const backups = await files.listBackups({ path: 'src/a.ts' });
    assert.deepEqual(backups.map((b) => b.bytes), [3, 3, 3, 3]);
    assert.equal((await files.restore(backups[3]!.id, { actor, force: true })).restoredFrom, backups[3]!.id);
    assert.equal(fs.readFileSync(path.join(ws, 'src/a.ts'), 'utf8'), 'v1\n', 'a backup made in a spare restores');
    await files.idle();
    assert.deepEqual(journalEntries(ws), []);
  });

  for (const swap of ['hard link', 'symbolic link'] as const) {
    it(`a spare swapped for a ${swap} to a file outside is never written through`, async function () {
      write(path.join(ws, 'src/a.ts'), 'v1\n');
      const victim = path.join(root, 'victim.txt');
      fs.writeFileSync(victim, '');
      const files = await WorkspaceFiles.open(ws, { actor: 'extension' });
      await files.write('src/a.ts', 'v2\n', { actor });
      await files.idle();
      for (const name of spares()) {
        const spare = path.join(ws, '.switchboard/tmp', name);
        fs.rmSync(spare);
        if (swap === 'hard link') fs.linkSync(victim, spare);
        else fs.symlinkSync(victim, spare);
      }
      const w = await files.write('src/a.ts', 'v3 secret-looking content\n', { actor });
      await files.idle();
      assert.equal(fs.readFileSync(victim, 'utf8'), '', 'the file outside is untouched');
      assert.equal(fs.readFileSync(path.join(ws, 'src/a.ts'), 'utf8'), 'v3 secret-looking content\n');
      const [newest] = await files.listBackups({ path: 'src/a.ts' });
      assert.equal(newest!.id, w.backupId);
      assert.deepEqual(journalEntries(ws), []);
    });
  }

  it('recovery sweeps spares, its own included', async () => {
    write(path.join(ws, 'src/a.ts'), 'v1\n');
    const files = await WorkspaceFiles.open(ws, { actor: 'extension' });
    await files.write('src/a.ts', 'v2\n', { actor });
    await files.idle();
    assert.equal(spares().length, 3);
    const report = await files.recover();
    assert.equal(report.sweptTemps, 0, 'spares are not counted as temp files left by a crash');
    assert.deepEqual(spares(), []);
    await files.write('src/a.ts', 'v3\n', { actor });
    assert.equal(fs.readFileSync(path.join(ws, 'src/a.ts'), 'utf8'), 'v3\n', 'the next write creates its files itself');
  });
});
