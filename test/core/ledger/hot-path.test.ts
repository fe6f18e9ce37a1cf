import assert from 'node:assert/strict';
import fs from 'node:fs';
import { scanRecords, LOG_HEADER_BYTES } from '../../../src/core/ledger/oplog';
import type { QuotaRule } from '../../../src/core/ledger/types';
import { ManualClock, call, queryOnDisk, useLedgerFixture } from './helpers';

/**
 * The sql.js ledger's hot path (a router's reserve, provider call, settle): one disk wait per call, overlapped
 * with the provider; the statements deferred to a JS mirror; the lock kept on lease between changes.
 */

const rules: QuotaRule[] = [{ metric: 'requests', window: 'day', limit: 1e9 }, { metric: 'tokens', window: 'month', limit: 1e12 }];

describe('SqlJsLedger hot path', function () {
  this.timeout(60_000);
  const fx = useLedgerFixture();
  const ledger = async (clock = new ManualClock(Date.now()), options = {}) => (await fx.open(clock, options)).ledger;

  it('syncs a reservation in the background and its settlement not at all: one disk wait per call, while the provider answers', async () => {
    const a = await ledger(undefined, { leaseCalls: 1 }); // calls one by one (a burst takes a lease: leases.test.ts)
    await a.setCooldown('k', Date.now() + 60_000, 'the first change writes the snapshot');
    const before = a.stats();
    for (let i = 0; i < 5; i++) {
      const r = await a.reserve({ providerId: 'p', rules, amounts: {} });
      assert.ok(r.ok);
      await a.settle(r.reservationId, rules, call('p'));
    }
    const after = a.stats();
    assert.equal(after.recordsSyncedInBackground - before.recordsSyncedInBackground, 5, 'each reservation');
    assert.equal(after.recordsSynced - before.recordsSynced, 0, 'no settlement waited for the disk');
    assert.equal(after.recordsAppended - before.recordsAppended, 10);
    // Back to back, the lock was taken once and kept on lease.
    assert.equal(after.lockAcquisitions - before.lockAcquisitions, 0);
    assert.deepEqual(await queryOnDisk(fx.home.file, "SELECT used FROM usage WHERE provider = 'p' AND metric = 'requests'"), [[5]]);
  });

  it('syncs a settlement before it returns when this instance did not make (and sync) the reservation', async () => {
    const a = await ledger();
    const b = await ledger();
    await a.setCooldown('k', Date.now() + 60_000, 'snapshot');
    const r = await a.reserve({ providerId: 'p', rules, amounts: {} });
    assert.ok(r.ok);
    const before = b.stats().recordsSynced;
    await b.settle(r.reservationId, rules, call('p'));
    assert.equal(b.stats().recordsSynced - before, 1);
    assert.equal((await a.quota('p', rules))[0]!.used, 1, 'a sees b\'s settlement of its reservation, counted once');
    assert.equal((await a.quota('p', rules))[0]!.reserved, 0);
  });

  it('syncs a settlement itself when its reservation\'s background sync failed', async () => {
    const a = await ledger();
    await a.setCooldown('k', Date.now() + 60_000, 'snapshot');
    // The disk fails the reservation's background fdatasync (EIO): the settlement may then not lean on it.
    const realFdatasync = fs.fdatasync;
    let failed = 0;
    (fs as { fdatasync: unknown }).fdatasync = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      failed++;
      realFdatasync(fd, () => cb(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })));
    };
    let r: Awaited<ReturnType<typeof a.reserve>>;
    try {
      r = await a.reserve({ providerId: 'p', rules, amounts: {} });
    } finally {
      fs.fdatasync = realFdatasync;
    }
    assert.ok(r.ok);
    const before = a.stats();
    await a.settle(r.reservationId, rules, call('p'));
    const after = a.stats();
    assert.equal(failed, 1, 'the reservation was synced in the background');
    assert.equal(after.recordsAppended - before.recordsAppended, 1, 'the settlement was written once');
    assert.equal(after.recordsSynced - before.recordsSynced, 1, 'and synced in the foreground, since the reservation\'s sync failed');
    assert.equal((await a.quota('p', rules))[0]!.used, 1);
  });

  it('after a power cut that lost the settlement, still counts the call: the synced reservation is charged at its expiry', async () => {
    const clock = new ManualClock(Date.parse('2026-04-02T10:00:00Z'));
    const a = await ledger(clock, { lock: { leaseMs: 0 } });
    await a.setCooldown('k', clock.nowMs + 60_000, 'snapshot');
    const r = await a.reserve({ providerId: 'p', rules, amounts: { requests: 1, tokens: 500 }, ttlMs: 60_000 });
    assert.ok(r.ok);
    await a.settle(r.reservationId, rules, call('p', { amounts: { requests: 1, tokens: 120 } }));
    const log = `${fx.home.file}.log`;
    const bytes = fs.readFileSync(log);
    const { records } = scanRecords(bytes.subarray(LOG_HEADER_BYTES), LOG_HEADER_BYTES);
    assert.equal(records.length, 2, 'the reservation, then the settlement');
    // The settlement never reached the disk: its bytes are the zeros the log had there before.
    const settle = records[1]!;
    const cut = Buffer.from(bytes);
    cut.fill(0, settle.offset, settle.end);
    // The machine restarts: `a` is gone without closing (which would fold the log into the snapshot).
    fx.untrack(a);
    fs.writeFileSync(log, cut);
    const b = await ledger(clock);
    const held = (await b.quota('p', rules))[0]!;
    assert.equal(held.used, 0);
    assert.equal(held.reserved, 1, 'held until its expiry, as while its call ran');
    clock.advance(60_000);
    const states = await b.quota('p', rules);
    assert.deepEqual(states.map((s) => [s.used, s.reserved]), [[1, 0], [500, 0]], 'charged with its estimate');
  });

  it('keeps the lock on lease between back-to-back changes, yet hands it over to a process that waits', async () => {
    // Long stale limits: we would give the lock up on our own only every 150 s (staleMs/4), and the worker would
    // not break our lock as stale before 600 s — both far beyond this test's timeout.
    const a = await ledger(new ManualClock(Date.now()), { lock: { staleMs: 600_000 } });
    await a.setCooldown('k', Date.now() + 60_000, 'snapshot');
    const worker = fx.startChild(['settle', fx.home.file, '5'], { SB_TEST_LOCK_STALE_MS: '600000' });
    let out = '';
    worker.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    // We never pause long enough for a lease to run out: without the waiter's marker the worker would wait for
    // us to give the lock up on our own, after the test's timeout. It must finish its 5 calls while we go on.
    const acquisitions = a.stats().lockAcquisitions;
    let changes = 0;
    for (; !out.includes('done'); changes++) {
      const r = await a.reserve({ providerId: 'p', rules, amounts: {} });
      assert.ok(r.ok);
      await a.settle(r.reservationId, rules, call('p'));
      if (worker.exitCode !== null) assert.fail(`the worker exited (${worker.exitCode}) before it was done`);
    }
    assert.ok(a.stats().lockAcquisitions > acquisitions, 'we gave the lock up, and took it again');
    assert.deepEqual(await queryOnDisk(fx.home.file, "SELECT used FROM usage WHERE provider = 'shared' AND metric = 'requests'"), [[5]]);
    assert.equal((await a.quota('p', rules))[0]!.used, changes);
  });

  it('runs its deferred statements into the snapshot it writes: the file alone holds every change', async () => {
    const a = await ledger(new ManualClock(Date.now()), { compactLogBytes: 4096 });
    for (let i = 0; i < 40; i++) {
      const r = await a.reserve({ providerId: 'p', rules, amounts: {} });
      assert.ok(r.ok);
      await a.settle(r.reservationId, rules, call('p', { costUsd: 0.01 }));
    }
    assert.ok(a.stats().snapshotsWritten >= 2, 'compacted along the way');
    await a.close();
    fx.untrack(a);
    assert.equal(fs.existsSync(`${fx.home.file}.log`), false, 'close folded the log in');
    assert.deepEqual(await queryOnDisk(fx.home.file, "SELECT count(*), (SELECT count(*) FROM reservations) FROM calls"), [[40, 0]]);
    assert.deepEqual(await queryOnDisk(fx.home.file, "SELECT used FROM usage WHERE provider = 'p' AND metric = 'requests'"), [[40]]);
    const spend = (await queryOnDisk(fx.home.file, 'SELECT calls, round(usd, 6) FROM spend'))[0]!;
    assert.deepEqual(spend, [40, 0.4]);
  });
});
