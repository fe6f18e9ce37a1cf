import assert from 'node:assert/strict';
import fs from 'node:fs';
import initSqlJs from 'sql.js';
import type { QuotaRule } from '../../../src/core/ledger/types';
import { UserError } from '../../../src/core/errors';
import { SqlJsLedger } from '../../../src/core/ledger/sqljs-ledger';
import { ManualClock, call, openAt, readLedgerOnDisk, tempHome } from './helpers';

const rules: QuotaRule[] = [{ metric: 'requests', window: 'day', limit: 100 }];

describe('SqlJsLedger with a damaged file', () => {
  let home: ReturnType<typeof tempHome>;
  const clock = new ManualClock(Date.parse('2026-04-02T10:00:00Z'));
  const open: SqlJsLedger[] = [];
  beforeEach(() => {
    home = tempHome();
  });
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close();
    home.cleanup();
  });

  /** A real ledger file with 3 settled calls, as bytes. */
  async function goodFileBytes(): Promise<Buffer> {
    const { ledger } = await openAt(home.file, clock);
    for (let i = 0; i < 3; i++) {
      const r = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
      assert.ok(r.ok);
      await ledger.settle(r.reservationId, rules, call('p', { task: 'x'.repeat(3000) }));
    }
    await ledger.close();
    return fs.readFileSync(home.file);
  }

  async function expectSetAsideAndRebuilt(original: Buffer, reason: RegExp): Promise<void> {
    const { ledger, warnings } = await openAt(home.file, clock);
    open.push(ledger);
    assert.equal(warnings.length, 1);
    const w = warnings[0]!;
    assert.equal(w.code, 'ledger_corrupt');
    assert.match(w.message, reason);
    assert.match(w.message, /set aside as ledger\.sqlite\.corrupt-/);
    assert.match(w.setAsideAs, /ledger\.sqlite\.corrupt-\d{4}-\d\d-\d\dT/);
    // Nothing is lost: the damaged bytes are kept as they were for inspection.
    assert.deepEqual(fs.readFileSync(w.setAsideAs), original);
    // The new ledger works and starts from zero.
    const r = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
    assert.ok(r.ok);
    assert.equal(r.states[0]!.used, 0);
    await ledger.settle(r.reservationId, rules, call('p'));
    const db = await readLedgerOnDisk(home.file);
    assert.deepEqual(db.exec('SELECT used FROM usage')[0]!.values, [[1]]);
    db.close();
  }

  it('sets aside a file of garbage bytes and starts afresh', async () => {
    const garbage = Buffer.from('this is not a database at all '.repeat(200));
    fs.writeFileSync(home.file, garbage);
    await expectSetAsideAndRebuilt(garbage, /not a SQLite database/);
  });

  it('sets aside a truncated file (cut mid-page and cut at a page boundary)', async () => {
    const good = await goodFileBytes();
    const midPage = good.subarray(0, Math.floor(good.length / 2) + 100);
    fs.writeFileSync(home.file, midPage);
    await expectSetAsideAndRebuilt(midPage, /truncated/);
    await Promise.all(open.splice(0).map((l) => l.close()));
    fs.rmSync(home.dir, { recursive: true });
    fs.mkdirSync(home.dir);
    const good2 = await goodFileBytes();
    const atPage = good2.subarray(0, 1024 * 4);
    fs.writeFileSync(home.file, atPage);
    await expectSetAsideAndRebuilt(atPage, /truncated \(4096 of \d+ bytes\)/);
  });

  it('sets aside a zero-length file', async () => {
    fs.writeFileSync(home.file, '');
    await expectSetAsideAndRebuilt(Buffer.alloc(0), /empty \(0 bytes\)/);
  });

  it('sets aside a page-intact file whose content is damaged (caught by the integrity check)', async () => {
    const good = await goodFileBytes();
    const damaged = Buffer.from(good);
    // Overwrite the middle pages' b-tree headers with noise, leaving the file header and size intact.
    for (let off = 2048; off < damaged.length - 1024; off += 1024) damaged.fill(0xa5, off, off + 64);
    fs.writeFileSync(home.file, damaged);
    await expectSetAsideAndRebuilt(damaged, /could not be read/);
  });

  it('sets aside a SQLite file that is not a Switchboard ledger', async () => {
    const SQL = await initSqlJs();
    const db = new SQL.Database();
    db.run('CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)');
    const foreign = Buffer.from(db.export());
    db.close();
    fs.writeFileSync(home.file, foreign);
    await expectSetAsideAndRebuilt(foreign, /not a Switchboard ledger/);
  });

  it('recovers when the file is damaged under a running ledger, on its next read or change', async () => {
    // No lease: the file is damaged between two changes, when no process holds the lock (a leased lock is
    // still held, and the damage would be noticed when the lease ends).
    const { ledger, warnings } = await openAt(home.file, clock, { lock: { leaseMs: 0 } });
    open.push(ledger);
    const r = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
    assert.ok(r.ok);
    await ledger.settle(r.reservationId, rules, call('p'));
    fs.writeFileSync(home.file, Buffer.from('garbage'.repeat(1000)));
    const states = await ledger.quota('p', rules); // a read notices, takes the lock and sets the file aside
    assert.equal(states[0]!.used, 0);
    assert.equal(warnings.length, 1);
    fs.writeFileSync(home.file, Buffer.alloc(0));
    const again = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
    assert.ok(again.ok);
    assert.equal(warnings.length, 2);
    assert.equal(fs.readdirSync(home.dir).filter((n) => n.includes('.corrupt-')).length, 2);
  });

  it('refuses a file from a newer Switchboard with a clear error and leaves it untouched', async () => {
    await goodFileBytes();
    const SQL = await initSqlJs();
    const db = new SQL.Database(fs.readFileSync(home.file));
    db.run('PRAGMA user_version = 99');
    const newer = Buffer.from(db.export());
    db.close();
    fs.writeFileSync(home.file, newer);
    await assert.rejects(SqlJsLedger.open({ file: home.file, clock: clock.now }), (err: unknown) => err instanceof UserError && /newer Switchboard \(schema 99/.test(err.message));
    assert.deepEqual(fs.readFileSync(home.file), newer);
    assert.deepEqual(fs.readdirSync(home.dir), ['ledger.sqlite']);
  });
});
