/**
 * Recovery from the states a power cut can leave, built on disk by hand (a SIGKILL cannot produce them: the
 * crash test covers those). The write path overlaps its disk waits and skips some syncs (see
 * WorkspaceFiles.commit); each case here is a state that this allows and that recovery must resolve:
 * finished or rolled back, the backup record kept exactly when the operation happened, no journal entry left.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WorkspaceFiles, readAudit } from '../../../src/core/files';
import { tempNameFor } from '../../../src/core/files/durable';
import { journalEntries, removeDir, tempDir, write } from './helpers';

const actor = 'claude-code' as const;

describe('files: recovery from power-cut states', function () {
  this.timeout(15_000);
  let ws: string;
  beforeEach(() => (ws = tempDir('sb-recover-')));
  afterEach(() => removeDir(ws));

  const journalDir = () => path.join(ws, '.switchboard/journal');
  const recordFiles = () => {
    const root = path.join(ws, '.switchboard/backups/records');
    return fs.readdirSync(root).flatMap((d) => fs.readdirSync(path.join(root, d)).map((n) => path.join(root, d, n)));
  };
  /** Opens without maintenance, so the test runs recover() itself and sees its report. */
  const openQuiet = () => WorkspaceFiles.open(ws, { actor: 'extension', maintenance: false });

  /** v1 then v2 written for real; then the record of the v2 write is put back into the journal. */
  async function leftoverEntry(mode: 'move' | 'copy'): Promise<{ id: string; files: WorkspaceFiles }> {
    write(path.join(ws, 'src/a.ts'), 'v1\n');
    const files = await openQuiet();
    const w = await files.write('src/a.ts', 'v2\n', { actor });
    await files.idle(); // the record is moved into the store after the answer
    const record = recordFiles().find((f) => path.basename(f) === `${w.backupId}.json`)!;
    const into = path.join(journalDir(), `${w.backupId}.json`);
    if (mode === 'move') fs.renameSync(record, into);
    else fs.copyFileSync(record, into);
    return { id: w.backupId, files };
  }

  it('removes a journal entry cut off while it was written, touching nothing else', async () => {
    write(path.join(ws, 'src/a.ts'), 'v1\n');
    const files = await openQuiet();
    fs.writeFileSync(path.join(journalDir(), '0000000000a-beef.json'), ''); // created, content never synced
    fs.writeFileSync(path.join(journalDir(), '0000000000b-beef.json'), '{"id":"0000000000b-beef","kind":"repl'); // cut off
    const report = await files.recover();
    assert.deepEqual(report.entries, [], 'nothing was pending: the workspace had not been touched');
    assert.deepEqual(fs.readdirSync(journalDir()), []);
    assert.equal(fs.readFileSync(path.join(ws, 'src/a.ts'), 'utf8'), 'v1\n');
    assert.deepEqual(await files.listBackups(), []);
  });

  it('a completed write whose record move was lost: kept as completed', async () => {
    const { id, files } = await leftoverEntry('move');
    assert.equal((await files.listBackups({ path: 'src/a.ts' })).some((b) => b.id === id), false, 'not listed before recovery');
    const report = await files.recover();
    assert.deepEqual(report.entries.map((e) => e.outcome), ['completed']);
    assert.deepEqual(fs.readdirSync(journalDir()), []);
    const backups = await files.listBackups({ path: 'src/a.ts' });
    assert.equal(backups[0]!.id, id);
    await files.restore(id, { actor });
    assert.equal(fs.readFileSync(path.join(ws, 'src/a.ts'), 'utf8'), 'v1\n');
  });

  it('the same, the file edited since: its audit line proves the write completed, so the backup is kept', async () => {
    const { id, files } = await leftoverEntry('move');
    fs.writeFileSync(path.join(ws, 'src/a.ts'), 'edited by hand\n');
    const report = await files.recover();
    assert.deepEqual(report.entries.map((e) => e.outcome), ['completed']);
    assert.equal((await files.listBackups({ path: 'src/a.ts' }))[0]!.id, id);
    assert.equal(fs.readFileSync(path.join(ws, 'src/a.ts'), 'utf8'), 'edited by hand\n', 'recovery never overwrites an edit');
  });

  it('an edited file and no audit line for the operation: abandoned, and no record claims it', async () => {
    const { id, files } = await leftoverEntry('move');
    fs.writeFileSync(path.join(ws, '.switchboard/audit.jsonl'), ''); // the operation never reached its audit line
    fs.writeFileSync(path.join(ws, 'src/a.ts'), 'edited by hand\n');
    const report = await files.recover();
    assert.deepEqual(report.entries.map((e) => e.outcome), ['abandoned']);
    assert.deepEqual(fs.readdirSync(journalDir()), []);
    assert.equal((await files.listBackups({ path: 'src/a.ts' })).some((b) => b.id === id), false);
    assert.equal(fs.readFileSync(path.join(ws, 'src/a.ts'), 'utf8'), 'edited by hand\n');
  });

  it('an entry found both in the journal and in the store (no atomic rename): one record, no entry', async () => {
    const { id, files } = await leftoverEntry('copy');
    const report = await files.recover();
    assert.deepEqual(report.entries.map((e) => e.outcome), ['completed']);
    assert.deepEqual(fs.readdirSync(journalDir()), []);
    assert.equal(recordFiles().filter((f) => path.basename(f) === `${id}.json`).length, 1);
  });

  /** The journal entry of `id` rewritten by `edit` (as a crash could have left it). */
  const editEntry = (id: string, edit: (entry: Record<string, unknown>) => void) => {
    const file = path.join(journalDir(), `${id}.json`);
    const entry = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    edit(entry);
    fs.writeFileSync(file, JSON.stringify(entry));
    return entry;
  };

  it('the rename lost but the synced temp file in .switchboard/tmp: rolled forward, and the record kept', async () => {
    const { id, files } = await leftoverEntry('move');
    const target = path.join(ws, 'src/a.ts');
    assert.equal(editEntry(id, () => {}).tempInState, true, 'the write prepared its temp file in the state folder');
    fs.writeFileSync(path.join(ws, '.switchboard/tmp', tempNameFor(target, id)), 'v2\n');
    fs.rmSync(target);
    fs.writeFileSync(target, 'v1\n');
    const report = await files.recover();
    assert.deepEqual(report.entries.map((e) => e.outcome), ['rolled_forward']);
    assert.equal(fs.readFileSync(target, 'utf8'), 'v2\n');
    assert.deepEqual(fs.readdirSync(path.join(ws, '.switchboard/tmp')), [], 'the temp file is gone');
    assert.equal((await files.listBackups({ path: 'src/a.ts' }))[0]!.id, id);
  });

  it('the same with the entry beside the temp file in .switchboard/tmp (where writes put it); a cut-off entry there is removed', async () => {
    const { id, files } = await leftoverEntry('move');
    const target = path.join(ws, 'src/a.ts');
    const tmp = path.join(ws, '.switchboard/tmp');
    fs.renameSync(path.join(journalDir(), `${id}.json`), path.join(tmp, `${id}.json`));
    fs.writeFileSync(path.join(tmp, tempNameFor(target, id)), 'v2\n');
    fs.writeFileSync(path.join(tmp, '0000000000b-beef.json'), '{"id":"0000000000b-beef","kind":"repl'); // cut off
    fs.rmSync(target);
    fs.writeFileSync(target, 'v1\n');
    const report = await files.recover();
    assert.deepEqual(report.entries.map((e) => [e.id, e.outcome]), [[id, 'rolled_forward']]);
    assert.equal(fs.readFileSync(target, 'utf8'), 'v2\n');
    assert.deepEqual(fs.readdirSync(tmp), [], 'entries and temp file gone');
    assert.equal((await files.listBackups({ path: 'src/a.ts' }))[0]!.id, id);
  });

  it('the same with the temp file beside the target (state folder on another file system)', async () => {
    const { id, files } = await leftoverEntry('move');
    const target = path.join(ws, 'src/a.ts');
    editEntry(id, (e) => delete e.tempInState);
    fs.writeFileSync(path.join(ws, 'src', tempNameFor(target, id)), 'v2\n');
    fs.rmSync(target);
    fs.writeFileSync(target, 'v1\n');
    const report = await files.recover();
    assert.deepEqual(report.entries.map((e) => e.outcome), ['rolled_forward']);
    assert.equal(fs.readFileSync(target, 'utf8'), 'v2\n');
    assert.deepEqual(fs.readdirSync(path.join(ws, 'src')), ['a.ts'], 'the temp file is gone');
  });

  it('a temp file in .switchboard/tmp whose journal entry never reached the disk: swept, the target untouched', async () => {
    write(path.join(ws, 'src/a.ts'), 'v1\n');
    const files = await openQuiet();
    const orphan = path.join(ws, '.switchboard/tmp', tempNameFor(path.join(ws, 'src/a.ts'), 'lost-entry'));
    fs.writeFileSync(orphan, 'v2 half');
    const report = await files.recover();
    assert.deepEqual(report.entries, []);
    assert.equal(report.sweptTemps, 1);
    assert.equal(fs.existsSync(orphan), false);
    assert.equal(fs.readFileSync(path.join(ws, 'src/a.ts'), 'utf8'), 'v1\n');
  });

  it('temp file complete but the backup blob cut off by the same power cut: rolled back, never forward without a backup', async () => {
    const { id, files } = await leftoverEntry('move');
    const target = path.join(ws, 'src/a.ts');
    const entry = editEntry(id, () => {}) as { record: { before: { sha256: string } } };
    fs.writeFileSync(path.join(ws, '.switchboard/tmp', tempNameFor(target, id)), 'v2\n');
    fs.writeFileSync(target, 'v1\n');
    fs.writeFileSync(path.join(ws, '.switchboard/backups/blobs', entry.record.before.sha256), 'v'); // cut off
    const report = await files.recover();
    assert.deepEqual(report.entries.map((e) => e.outcome), ['rolled_back']);
    assert.equal(fs.readFileSync(target, 'utf8'), 'v1\n');
    assert.deepEqual(fs.readdirSync(path.join(ws, '.switchboard/tmp')), []);
    // A later write backing up the same content replaces the cut-off blob instead of trusting it.
    const w = await files.write('src/a.ts', 'v3\n', { actor });
    const restored = await files.restore(w.backupId, { actor });
    assert.equal(restored.unchanged, false);
    assert.equal(fs.readFileSync(target, 'utf8'), 'v1\n');
  });

  it('the rename and the temp file both lost: rolled back, and no record claims the write', async () => {
    const { id, files } = await leftoverEntry('copy'); // a record may even have reached the disk
    fs.writeFileSync(path.join(ws, 'src/a.ts'), 'v1\n');
    const report = await files.recover();
    assert.deepEqual(report.entries.map((e) => e.outcome), ['rolled_back']);
    assert.deepEqual(fs.readdirSync(journalDir()), []);
    assert.equal(recordFiles().some((f) => path.basename(f) === `${id}.json`), false);
    const audit = await readAudit(ws, { limit: 1 });
    assert.deepEqual([audit[0]!.op, audit[0]!.message, audit[0]!.backup_id], ['recover', 'rolled_back', id]);
  });

  it('after a normal write nothing is left in the journal and the record is in the store', async () => {
    const files = await openQuiet();
    const w = await files.write('src/b.ts', 'x\n', { actor });
    await files.idle(); // the record is moved into the store after the answer
    assert.deepEqual(journalEntries(ws), []);
    assert.ok(recordFiles().some((f) => path.basename(f) === `${w.backupId}.json`));
    const [line] = await readAudit(ws, { limit: 1 });
    assert.deepEqual([line!.op, line!.outcome, line!.backup_id], ['write', 'ok', w.backupId]);
  });
});
