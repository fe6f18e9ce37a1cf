/** Several real processes appending to the audit log and writing the same file at once. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { WorkspaceFiles, appendAudit, readAudit } from '../../../src/core/files';
import { sha256 } from '../../../src/core/files/durable';
import { removeDir, tempDir } from './helpers';

const run = promisify(execFile);
const WORKER = path.join(__dirname, 'fixtures/proc-worker.ts');

function workers(mode: 'audit' | 'write', ws: string, count: number, n: number): Promise<unknown> {
  return Promise.all(Array.from({ length: count }, (_, w) => run(process.execPath, ['--import', 'tsx', WORKER, mode, ws, String.fromCharCode(65 + w), String(n)], { timeout: 60_000 })));
}

describe('files: several processes', function () {
  this.timeout(90_000);
  let ws: string;
  beforeEach(() => (ws = tempDir('sb-multi-')));
  afterEach(() => removeDir(ws));

  it('audit lines from 4 processes appending at once never interleave nor get lost', async () => {
    await workers('audit', ws, 4, 150);
    const lines = fs.readFileSync(path.join(ws, '.switchboard/audit.jsonl'), 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 600);
    const seen = new Map<string, number[]>();
    for (const line of lines) {
      const rec = JSON.parse(line) as { worker: string; seq: number; filler: string };
      assert.ok(rec.filler.startsWith(`${rec.worker}:${rec.seq}:`) && rec.filler.endsWith(rec.worker));
      seen.set(rec.worker, [...(seen.get(rec.worker) ?? []), rec.seq]);
    }
    // Each process's lines are all there, in its own order.
    for (const w of ['A', 'B', 'C', 'D']) assert.deepEqual(seen.get(w), Array.from({ length: 150 }, (_, i) => i));
  });

  it('writers in 3 processes are serialised by the workspace lock: one unbroken chain of backups', async () => {
    await WorkspaceFiles.open(ws); // creates the state folder before the race
    await workers('write', ws, 3, 15);
    const files = await WorkspaceFiles.open(ws);
    const backups = (await files.listBackups({ path: 'shared.ts' })).reverse();
    assert.equal(backups.length, 20, 'retention keeps 20 of the 45'); // default count
    // With the lock, each write's "before" is exactly the previous write's "after".
    const all = fs.readdirSync(path.join(ws, '.switchboard/backups/records')).flatMap((d) =>
      fs.readdirSync(path.join(ws, '.switchboard/backups/records', d)).map((n) => JSON.parse(fs.readFileSync(path.join(ws, '.switchboard/backups/records', d, n), 'utf8')).record),
    );
    all.sort((a, b) => (a.id < b.id ? -1 : 1));
    for (let i = 1; i < all.length; i++) assert.equal(all[i].before.sha256, all[i - 1].after.sha256, `break in the chain at ${i}`);
    assert.equal(sha256(fs.readFileSync(path.join(ws, 'shared.ts'))), all[all.length - 1].after.sha256);
    assert.equal(fs.existsSync(path.join(ws, '.switchboard/write.lock')), false);
  });

  it('readAudit reads backwards across chunks, newest first, with limit and op filter, skipping a torn line', async () => {
    for (let i = 0; i < 300; i++) await appendAudit(ws, { actor: 'cli', op: i % 3 === 0 ? 'write' : 'read', seq: i, pad: 'x'.repeat(400) });
    fs.appendFileSync(path.join(ws, '.switchboard/audit.jsonl'), '{"actor":"cli","op":"wri'); // crash mid-line
    const newest = await readAudit(ws, { limit: 250 });
    assert.deepEqual(newest.map((r) => r.seq), Array.from({ length: 250 }, (_, i) => 299 - i));
    const writes = await readAudit(ws, { limit: 5, ops: ['write'] });
    assert.deepEqual(writes.map((r) => r.seq), [297, 294, 291, 288, 285]);
    assert.deepEqual(await readAudit(path.join(ws, 'nowhere')), []);
    // The next append starts on a fresh line rather than joining the torn one.
    await appendAudit(ws, { actor: 'cli', op: 'restore', seq: 300 });
    assert.deepEqual((await readAudit(ws, { limit: 2 })).map((r) => r.seq), [300, 299]);
  });
});
