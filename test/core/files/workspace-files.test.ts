import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WorkspaceFiles, readAudit } from '../../../src/core/files';
import { retryBusy } from '../../../src/core/files/durable';
import { loadPolicy, defaultPolicy } from '../../../src/core/files/policy';
import { isUserError } from '../../../src/core/errors';
import { journalEntries, removeDir, tempDir, write } from './helpers';
import { sha256 as sha } from '../../../src/core/files/durable';

const actor = 'claude-code' as const;

async function rejects(p: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  const err = await p.then(() => assert.fail(`expected ${code}`), (e: unknown) => e as Error & { code: string });
  assert.ok(isUserError(err), `not a UserError: ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

describe('files: WorkspaceFiles', function () {
  this.timeout(15_000);
  let ws: string;
  let files: WorkspaceFiles;
  beforeEach(async () => {
    ws = tempDir();
    files = await WorkspaceFiles.open(ws, { actor: 'extension' });
  });
  afterEach(() => removeDir(ws));

  describe('writes and reads', () => {
    it('creates .switchboard with a .gitignore holding *', () => {
      assert.equal(fs.readFileSync(path.join(ws, '.switchboard/.gitignore'), 'utf8'), '*\n');
    });

    it('creates a file with its folders, reads it back, and reports bytes and hashes', async () => {
      const w = await files.write('src/deep/new.ts', 'const é = 1;\n', { actor, reason: 'tests task' });
      assert.equal(w.created, true);
      assert.equal(w.bytes, Buffer.byteLength('const é = 1;\n'));
      assert.equal(fs.readFileSync(path.join(ws, 'src/deep/new.ts'), 'utf8'), 'const é = 1;\n');
      const r = await files.read('src/deep/new.ts', { actor });
      assert.equal(r.text, 'const é = 1;\n');
      assert.equal(r.sha256, w.sha256);
      assert.equal(r.path, 'src/deep/new.ts');
    });

    it('keeps the mode of the file it replaces', async () => {
      write(path.join(ws, 'run.sh'), '#!/bin/sh\n');
      fs.chmodSync(path.join(ws, 'run.sh'), 0o750);
      await files.write('run.sh', '#!/bin/sh\necho hi\n', { actor });
      assert.equal(fs.statSync(path.join(ws, 'run.sh')).mode & 0o777, 0o750);
    });

    it('replaces atomically: the inode changes and no temp file is left', async () => {
      write(path.join(ws, 'a.ts'), 'old');
      const ino = fs.statSync(path.join(ws, 'a.ts')).ino;
      await files.write('a.ts', 'new', { actor });
      assert.notEqual(fs.statSync(path.join(ws, 'a.ts')).ino, ino);
      assert.deepEqual(fs.readdirSync(ws).filter((n) => n.includes('sb-tmp')), []);
      // The entry leaves the journal after the answer (see WorkspaceFiles.commit).
      await files.idle();
      assert.deepEqual(journalEntries(ws), []);
    });

    it('refuses binary files plainly, and reads UTF-8 with a BOM', async () => {
      write(path.join(ws, 'data.json'), Buffer.from([0x7b, 0x00, 0x7d]));
      const err = await rejects(files.read('data.json', { actor }), 'binary_file');
      assert.match(err.message, /binary file/);
      write(path.join(ws, 'latin.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9])); // latin-1 "café" is not UTF-8
      await rejects(files.read('latin.txt', { actor }), 'binary_file');
      write(path.join(ws, 'bom.md'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('# hi')]));
      assert.equal((await files.read('bom.md', { actor })).text, '# hi');
    });

    it('says plainly that a file to read does not exist', async () => {
      const err = await rejects(files.read('src/missing.ts', { actor }), 'not_found');
      assert.equal(err.message, 'No file "src/missing.ts" in the workspace');
    });

    it('refuses an unknown actor', async () => {
      await rejects(files.write('a.ts', 'x', { actor: 'someone' as never }), 'bad_actor');
      assert.equal(fs.existsSync(path.join(ws, 'a.ts')), false);
    });

    it('deletes with a backup, and a restore brings the file back with its mode', async () => {
      write(path.join(ws, 'gone.ts'), 'keep me');
      fs.chmodSync(path.join(ws, 'gone.ts'), 0o640);
      const d = await files.delete('gone.ts', { actor });
      assert.equal(d.deleted, true);
      assert.equal(fs.existsSync(path.join(ws, 'gone.ts')), false);
      const r = await files.restore(d.backupId, { actor: 'cli' });
      assert.equal(r.deleted, false);
      assert.equal(fs.readFileSync(path.join(ws, 'gone.ts'), 'utf8'), 'keep me');
      assert.equal(fs.statSync(path.join(ws, 'gone.ts')).mode & 0o777, 0o640);
    });

    it('retries a busy rename a bounded number of times, then gives up with the error', async () => {
      let calls = 0;
      const ok = await retryBusy(async () => {
        calls++;
        if (calls < 3) throw Object.assign(new Error('busy'), { code: 'EBUSY' });
        return 'done';
      });
      assert.equal(ok, 'done');
      assert.equal(calls, 3);
      calls = 0;
      await assert.rejects(retryBusy(async () => { calls++; throw Object.assign(new Error('busy'), { code: 'EBUSY' }); }, 3), /busy/);
      assert.equal(calls, 3);
      calls = 0;
      await assert.rejects(retryBusy(async () => { calls++; throw Object.assign(new Error('nope'), { code: 'ENOSPC' }); }), /nope/);
      assert.equal(calls, 1, 'other errors are not retried');
    });

    it('serialises concurrent writers: every write is backed up with the right previous state', async () => {
      await Promise.all(Array.from({ length: 12 }, (_, i) => files.write('c.ts', `v${i}`, { actor })));
      const backups = await files.listBackups({ path: 'c.ts' });
      assert.equal(backups.length, 12);
      // Each write's "before" is the previous write's "after": every value appears exactly once in the chain.
      const records = backups.slice().reverse();
      assert.equal(records[0]!.existed, false);
      const seen = [...records.slice(1).map((b) => b.sha256!), sha(fs.readFileSync(path.join(ws, 'c.ts')))].sort();
      assert.deepEqual(seen, Array.from({ length: 12 }, (_, i) => sha(Buffer.from(`v${i}`))).sort());
    });
  });

  describe('backups and restore', () => {
    it('lists backups per file, newest first, with size, time and actor', async () => {
      await files.write('a.ts', 'one', { actor: 'cli' });
      await files.write('a.ts', 'two!', { actor: 'claude-code', provider: 'gemini', costUsd: 0 });
      await files.write('b.ts', 'other', { actor: 'extension' });
      const list = await files.listBackups({ path: 'a.ts' });
      assert.deepEqual(list.map((b) => [b.actor, b.existed, b.bytes]), [['claude-code', true, 3], ['cli', false, 0]]);
      assert.ok(Date.parse(list[0]!.time) >= Date.parse(list[1]!.time));
      assert.equal(list[0]!.provider, 'gemini');
      const all = await files.listBackups();
      assert.deepEqual(all.map((b) => b.path), ['b.ts', 'a.ts', 'a.ts']);
    });

    it('restores an older version when the file is still what Switchboard wrote', async () => {
      write(path.join(ws, 'a.ts'), 'original');
      const w = await files.write('a.ts', 'generated', { actor });
      const r = await files.restore(w.backupId, { actor: 'cli' });
      assert.equal(r.forced, false);
      assert.equal(fs.readFileSync(path.join(ws, 'a.ts'), 'utf8'), 'original');
      // The restore is itself undoable.
      await files.restore(r.backupId, { actor: 'cli' });
      assert.equal(fs.readFileSync(path.join(ws, 'a.ts'), 'utf8'), 'generated');
    });

    it('refuses a restore with a clear conflict when the file was edited since', async () => {
      write(path.join(ws, 'a.ts'), 'original');
      const w = await files.write('a.ts', 'generated', { actor });
      fs.writeFileSync(path.join(ws, 'a.ts'), 'user edit');
      const err = await rejects(files.restore(w.backupId, { actor: 'cli' }), 'restore_conflict');
      assert.match(err.message, /"a\.ts" was changed after Switchboard last wrote it .* Use force/);
      assert.equal(fs.readFileSync(path.join(ws, 'a.ts'), 'utf8'), 'user edit');
    });

    it('a forced restore backs the edited content up first', async () => {
      write(path.join(ws, 'a.ts'), 'original');
      const w = await files.write('a.ts', 'generated', { actor });
      fs.writeFileSync(path.join(ws, 'a.ts'), 'user edit');
      const r = await files.restore(w.backupId, { actor: 'cli', force: true });
      assert.equal(r.forced, true);
      assert.equal(fs.readFileSync(path.join(ws, 'a.ts'), 'utf8'), 'original');
      const saved = (await files.listBackups({ path: 'a.ts' }))[0]!;
      assert.equal(saved.id, r.backupId);
      assert.equal(saved.bytes, 'user edit'.length);
      // And that backup brings the edit back.
      await files.restore(r.backupId, { actor: 'cli' });
      assert.equal(fs.readFileSync(path.join(ws, 'a.ts'), 'utf8'), 'user edit');
    });

    it('restoring the backup of a file that did not exist deletes it', async () => {
      const w = await files.write('made/by/model.ts', 'x', { actor });
      const r = await files.restore(w.backupId, { actor: 'cli' });
      assert.equal(r.deleted, true);
      assert.equal(fs.existsSync(path.join(ws, 'made/by/model.ts')), false);
    });

    it('a created file deleted by hand since is a conflict too; force leaves it deleted', async () => {
      const w = await files.write('x.ts', 'x', { actor });
      fs.rmSync(path.join(ws, 'x.ts'));
      await rejects(files.restore(w.backupId, { actor: 'cli' }), 'restore_conflict');
      const r = await files.restore(w.backupId, { actor: 'cli', force: true });
      assert.equal(r.unchanged, true);
    });

    it('accepts a unique id prefix and explains an unknown id', async () => {
      await files.write('a.ts', 'x', { actor });
      const w2 = await files.write('a.ts', 'y', { actor });
      await files.restore(w2.backupId.split('-')[0]!, { actor: 'cli' });
      assert.equal(fs.readFileSync(path.join(ws, 'a.ts'), 'utf8'), 'x');
      const err = await rejects(files.restore('nope', { actor: 'cli' }), 'backup_not_found');
      assert.match(err.message, /No backup "nope"/);
    });

    it('refuses a restore to a path the policy now forbids', async () => {
      const w = await files.write('notes.txt', 'x', { actor });
      const strict = defaultPolicy(ws);
      strict.allowedExtensions = ['.ts'];
      const again = await WorkspaceFiles.open(ws, { policy: strict });
      const err = await again.restore(w.backupId, { actor: 'cli' }).catch((e: Error & { rule?: string }) => e);
      assert.equal((err as { rule?: string }).rule, 'extension');
    });

    it('with backup: false keeps records but no content, and says so on restore', async () => {
      const p = defaultPolicy(ws);
      p.backup = false;
      const nb = await WorkspaceFiles.open(ws, { policy: p });
      write(path.join(ws, 'a.ts'), 'old');
      const w = await nb.write('a.ts', 'new', { actor });
      assert.deepEqual(fs.readdirSync(path.join(ws, '.switchboard/backups/blobs')), []);
      await rejects(nb.restore(w.backupId, { actor: 'cli' }), 'backup_not_restorable');
    });
  });

  describe('pruning', () => {
    it('keeps `count` backups per file and never the newest one', async () => {
      const p = defaultPolicy(ws);
      p.backupRetention = { count: 3, days: 30 };
      const f = await WorkspaceFiles.open(ws, { policy: p });
      for (let i = 0; i < 6; i++) await f.write('a.ts', `v${i}`, { actor });
      await f.write('b.ts', 'only', { actor });
      const list = await f.listBackups({ path: 'a.ts' });
      assert.equal(list.length, 3);
      assert.deepEqual(list.map((b) => b.sha256 !== undefined), [true, true, true]);
      assert.equal((await f.listBackups({ path: 'b.ts' })).length, 1);
      // Blobs of removed backups are collected; those still referenced stay.
      const report = await f.prune();
      assert.ok(report.removedBlobs >= 1, JSON.stringify(report));
      for (const b of list) assert.ok(fs.existsSync(path.join(ws, '.switchboard/backups/blobs', b.sha256!)));
      await f.restore(list[2]!.id, { actor: 'cli', force: true });
      assert.equal(fs.readFileSync(path.join(ws, 'a.ts'), 'utf8'), 'v2');
    });

    it('drops backups older than `days` but keeps the newest of each file however old', async () => {
      await files.write('old.ts', 'a', { actor });
      await files.write('old.ts', 'b', { actor });
      await files.write('old.ts', 'c', { actor });
      // Forty days on, every backup is past the 30-day retention.
      const report = await files.prune({ now: Date.now() + 40 * 86_400_000 });
      assert.equal(report.removedRecords, 2);
      const left = await files.listBackups({ path: 'old.ts' });
      assert.equal(left.length, 1);
      assert.equal(left[0]!.bytes, 1, 'the newest backup (content "b") stays');
    });
  });

  describe('policy file', () => {
    it('applies .mcp/policy.yaml over the defaults', async () => {
      write(path.join(ws, '.mcp/policy.yaml'), 'max_file_bytes: 10\nforbidden: ["secrets/"]\nallowed_extensions: [".ts"]\nbackup_retention: { count: 2 }\n');
      const f = await WorkspaceFiles.open(ws);
      assert.deepEqual(f.policyDiagnostics, []);
      assert.equal(f.policy.maxFileBytes, 10);
      assert.ok(f.policy.forbidden.includes('.git/') && f.policy.forbidden.includes('secrets/'), 'built-ins stay');
      assert.deepEqual(f.policy.backupRetention, { count: 2, days: 30 });
      await assert.rejects(f.write('secrets/a.ts', 'x', { actor }), /rule: forbidden/);
      await assert.rejects(f.write('a.md', 'x', { actor }), /rule: extension/);
      await assert.rejects(f.write('a.ts', 'x'.repeat(11), { actor }), /rule: too_large/);
    });

    it('reports errors with their line and keeps the defaults for those keys', () => {
      write(path.join(ws, '.mcp/policy.yaml'), '# policy\nmax_file_bytes: lots\nbackup: false\nallowed_extensions: [".ts", 3]\nsurprise: 1\n');
      const { policy, diagnostics } = loadPolicy(ws);
      const byLine = diagnostics.map((d) => [d.line, d.severity, d.message]);
      assert.ok(byLine.some(([l, s, m]) => l === 2 && s === 'error' && /max_file_bytes/.test(String(m))), JSON.stringify(byLine));
      assert.ok(byLine.some(([l, s]) => l === 4 && s === 'error'), JSON.stringify(byLine));
      assert.ok(byLine.some(([l, s, m]) => l === 5 && s === 'warning' && /unknown key "surprise"/.test(String(m))));
      assert.equal(policy.maxFileBytes, 10 * 1024 * 1024);
      assert.equal(policy.backup, false, 'a valid key still applies');
      assert.ok(policy.allowedExtensions.includes('.md'), 'the broken list is not applied');
    });

    it('a YAML syntax error is a diagnostic, not a crash', () => {
      write(path.join(ws, '.mcp/policy.yaml'), 'max_file_bytes: [1\n');
      const { policy, diagnostics } = loadPolicy(ws);
      assert.equal(diagnostics[0]?.severity, 'error');
      assert.equal(policy.maxFileBytes, 10 * 1024 * 1024);
    });
  });

  describe('audit', () => {
    it('appends one line per read, write, restore and denial', async () => {
      const w = await files.write('a.ts', 'x', { actor, provider: 'together', model: 'm', costUsd: 0.0012, reason: 'docs' });
      await files.read('a.ts', { actor: 'extension' });
      await files.restore(w.backupId, { actor: 'cli' });
      await files.read('.env', { actor }).catch(() => undefined);
      const lines = await readAudit(ws, { limit: 10 });
      assert.deepEqual(lines.map((l) => [l.op, l.actor, l.outcome]), [
        ['read', 'claude-code', 'denied'],
        ['restore', 'cli', 'ok'],
        ['read', 'extension', 'ok'],
        ['write', 'claude-code', 'ok'],
      ]);
      const wl = lines[3]!;
      assert.equal(wl.path, 'a.ts');
      assert.equal(wl.backup_id, w.backupId);
      assert.equal(wl.provider, 'together');
      assert.equal(wl.cost_usd, 0.0012);
      assert.equal(wl.sha256, w.sha256);
      assert.equal(lines[0]!.rule, 'forbidden');
    });

    it("a read's line, written just after the answer, is in order and seen by readAudit at once", async () => {
      await files.write('a.ts', 'x', { actor });
      await files.read('a.ts', { actor: 'extension' });
      await files.read('a.ts', { actor: 'cli' });
      await files.write('a.ts', 'y', { actor });
      await files.read('a.ts', { actor });
      const lines = await readAudit(ws, { limit: 10 });
      assert.deepEqual(lines.map((l) => [l.op, l.actor]), [
        ['read', 'claude-code'],
        ['write', 'claude-code'],
        ['read', 'cli'],
        ['read', 'extension'],
        ['write', 'claude-code'],
      ]);
      assert.equal(lines[0]!.sha256, sha(Buffer.from('y')));
    });
  });
});
