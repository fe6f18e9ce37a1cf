import assert from 'node:assert/strict';
import fs from 'node:fs';
import { LEASE_BURST_MS, LEASE_CALLS, LEASE_IDLE_MS, LEASE_SHARE, LeaseBook, leaseCalls } from '../../../src/core/ledger/leases';
import { scanRecords, LOG_HEADER_BYTES } from '../../../src/core/ledger/oplog';
import { quotaState } from '../../../src/core/ledger/rules';
import type { QuotaRule, ReserveRequest } from '../../../src/core/ledger/types';
import { ManualClock, call, exited, openAt, queryOnDisk, tempHome, useLedgerFixture } from './helpers';

/** Quota leases (leases.ts): a burst of calls admitted against one durable reservation. */

const rules: QuotaRule[] = [{ metric: 'requests', window: 'month', limit: 1e9 }, { metric: 'tokens', window: 'month', limit: 1e12 }];
const request: ReserveRequest = { providerId: 'p', rules, amounts: { requests: 1, tokens: 500 }, ttlMs: 60_000 };
/** In the middle of a month, so no test's clock moves across a window boundary. */
const MID_MONTH = Date.parse('2026-04-15T10:00:00Z');

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('LeaseBook (in memory)', () => {
  const about = (id: string) => ({ id, key: 'k', providerId: 'p', budgetCounters: ['budget:global:*'], synced: Promise.resolve(true) });
  const state = (limit: number, used: number) => quotaState({ metric: 'requests', window: 'day', limit }, used, 0, 0, 1);

  it('sizes a lease by LEASE_CALLS and by LEASE_SHARE of what is left in each window the call counts against', () => {
    assert.equal(leaseCalls([state(1e9, 0)], { requests: 1 }), LEASE_CALLS);
    assert.equal(leaseCalls([state(1e9, 0)], { requests: 1 }, 3), 3);
    // 1% of 500 left is 5 calls.
    assert.equal(leaseCalls([state(1e9, 0), state(600, 100)], { requests: 1 }), Math.floor(500 * LEASE_SHARE));
    assert.equal(leaseCalls([state(150, 0)], { requests: 1 }), 1, 'under two calls: no lease');
    assert.equal(leaseCalls([state(150, 0)], { tokens: 10 }), LEASE_CALLS, 'a metric the call does not use does not limit it');
  });

  it('takes a lease only for a call that follows another with the same key within LEASE_BURST_MS', () => {
    const book = new LeaseBook(() => undefined);
    assert.equal(book.inBurst('k', 1_000), false);
    assert.equal(book.inBurst('k', 1_000 + LEASE_BURST_MS), true);
    assert.equal(book.inBurst('other', 1_000 + LEASE_BURST_MS), false);
    assert.equal(book.inBurst('k', 2_001 + 2 * LEASE_BURST_MS), false);
    assert.equal(book.inBurst('k', 1_000), false, 'a clock that went back is no burst');
  });

  it('admits calls while they fit, gives a released call back, and hands a used-up lease to onIdle once its last call ends', () => {
    const idle: string[] = [];
    const book = new LeaseBook((l) => idle.push(l.id));
    const { reservationId: first, lease } = book.add({ ...about('L'), expiresMs: 10_000, remaining: { requests: 3, input_chars: 0, tokens: 30, usd: 0 } }, { requests: 1, tokens: 10 });
    assert.equal(book.call(first)!.lease, lease);
    assert.deepEqual(lease.remaining, { requests: 2, input_chars: 0, tokens: 20, usd: 0 });
    assert.equal(book.usable('k', { requests: 1, tokens: 10 }, 0, 5_000), lease);
    assert.equal(book.usable('k', { requests: 1, tokens: 10 }, 6_000, 5_000), undefined, 'a call whose ttl would outlive the lease is not admitted');
    assert.equal(lease.closed, true);
    assert.equal(book.hasActive('k'), false);
    const { reservationId: lease2Call } = book.add({ ...about('M'), expiresMs: 10_000, remaining: { requests: 2, input_chars: 0, tokens: 20, usd: 0 } }, { requests: 1, tokens: 10 });
    assert.deepEqual(idle, [], 'L still has a call out');
    assert.equal(book.endsLease(book.call(first)!), true, 'L is closed and this is its last call: its settle deletes the row');
    book.settled(first, true);
    assert.deepEqual(idle, [], 'the settle deleted the row itself');
    const m = book.call(lease2Call)!.lease;
    const second = book.admit(m, { requests: 1, tokens: 10 });
    assert.equal(book.usable('k', { requests: 1, tokens: 10 }, 0, 5_000), undefined, 'M is used up');
    assert.equal(book.released(second), true);
    assert.deepEqual(m.remaining, { requests: 1, input_chars: 0, tokens: 10, usd: 0 }, 'the released call gave its share back');
    assert.equal(book.released('not-a-leased-call'), false);
    book.settled(lease2Call, false);
    assert.deepEqual(idle, ['M'], 'closed, nothing out, row still there: given back');
  });

  it('sums what live leases hold unused per counter (budgets: usd only), and forgets a discarded lease with its calls', () => {
    const book = new LeaseBook(() => undefined);
    const { lease, reservationId } = book.add({ ...about('L'), expiresMs: 10_000, remaining: { requests: 4, input_chars: 0, tokens: 40, usd: 0.4 } }, { requests: 1, tokens: 10, usd: 0.1 });
    assert.equal(book.unused('p', 'requests', 0), 3);
    assert.equal(book.unused('p', 'tokens', 0), 30);
    assert.ok(Math.abs(book.unused('budget:global:*', 'usd', 0) - 0.3) < 1e-12);
    assert.equal(book.unused('budget:global:*', 'requests', 0), 0);
    assert.equal(book.unused('other', 'requests', 0), 0);
    assert.equal(book.unused('p', 'requests', 10_000), 0, 'an expired lease is charged, not spare');
    book.discard(lease);
    assert.equal(book.call(reservationId), undefined);
    assert.equal(book.unused('p', 'requests', 0), 0);
    assert.equal(book.size, 0);
  });

  it('gives an unused open lease back after LEASE_IDLE_MS', async () => {
    const idle: string[] = [];
    const book = new LeaseBook((l) => idle.push(l.id));
    const { reservationId: id } = book.add({ ...about('L'), expiresMs: Infinity, remaining: { requests: 4, input_chars: 0, tokens: 0, usd: 0 } }, { requests: 1 });
    const started = Date.now();
    book.released(id);
    assert.deepEqual(idle, []);
    await until('the idle lease is given back', async () => idle.length > 0);
    assert.ok(Date.now() - started >= LEASE_IDLE_MS - 5, 'not before LEASE_IDLE_MS');
    assert.deepEqual(idle, ['L']);
  });
});

describe('SqlJsLedger quota leases', function () {
  this.timeout(120_000);
  const fx = useLedgerFixture();
  const open = async (clock: ManualClock, options = {}) => (await fx.open(clock, options)).ledger;
  const usedAndHeld = async (l: { quota: (p: string, r: QuotaRule[]) => Promise<Array<{ used: number; reserved: number }>> }) =>
    (await l.quota('p', rules)).map((s) => [s.used, s.reserved]);

  it(`admits a burst against one lease: one reservation record and one disk wait per ${LEASE_CALLS} calls, every call counted, the rest given back on close`, async () => {
    const clock = new ManualClock(MID_MONTH);
    const a = await open(clock);
    const observer = await open(clock);
    await a.setCooldown('k', clock.nowMs + 60_000, 'the first change writes the snapshot');
    const before = a.stats();
    const calls = 2 * LEASE_CALLS + 3;
    for (let i = 0; i < calls; i++) {
      const r = await a.reserveIfAvailable!(request, 'p|key');
      assert.ok('reservationId' in r && r.ok);
      await a.settle(r.reservationId, rules, call('p', { amounts: { requests: 1, tokens: 200 } }));
    }
    const after = a.stats();
    // The first call is no burst (a reservation of its own); the others take ceil((calls-1)/LEASE_CALLS) leases.
    const leases = Math.ceil((calls - 1) / LEASE_CALLS);
    assert.equal(after.recordsSyncedInBackground - before.recordsSyncedInBackground, 1 + leases);
    assert.equal(after.recordsSynced - before.recordsSynced, 0, 'no settlement waited for the disk');
    assert.equal(after.recordsAppended - before.recordsAppended, 1 + leases + calls, 'a record per reservation and lease, and per settlement');
    const unused = leases * LEASE_CALLS - (calls - 1);
    assert.deepEqual(await usedAndHeld(observer), [[calls, unused], [calls * 200, unused * 500]], 'another process sees every call and what the lease still holds');
    assert.deepEqual(await usedAndHeld(a), [[calls, 0], [calls * 200, 0]], 'the lease holder counts its unused part as its own to use: the same figures as call by call');
    await a.close();
    fx.untrack(a);
    assert.deepEqual(await usedAndHeld(observer), [[calls, 0], [calls * 200, 0]], 'closing gave the unused part back');
    assert.deepEqual(await queryOnDisk(fx.home.file, 'SELECT count(*) FROM reservations'), [[0]]);
  });

  it('admits concurrent calls against the lease made while they waited for the lock: 40 at once take 5 leases, not 39', async () => {
    const clock = new ManualClock(MID_MONTH);
    const a = await open(clock);
    const observer = await open(clock);
    const reservations = await Promise.all(Array.from({ length: 40 }, () => a.reserve(request)));
    assert.ok(reservations.every((r) => r.ok));
    // The first is no burst (a reservation of its own); the other 39 share leases of LEASE_CALLS.
    const leases = Math.ceil(39 / LEASE_CALLS);
    assert.deepEqual(await queryOnDisk(fx.home.file, 'SELECT count(*) FROM reservations'), [[1 + leases]]);
    assert.equal((await observer.quota('p', rules))[0]!.reserved, 1 + leases * LEASE_CALLS);
    await Promise.all(reservations.map((r) => r.ok && a.settle(r.reservationId, rules, call('p'))));
    assert.deepEqual((await usedAndHeld(observer))[0], [40, leases * LEASE_CALLS - 39]);
    await a.close();
    fx.untrack(a);
    assert.deepEqual((await usedAndHeld(observer))[0], [40, 0]);
  });

  it('after a power cut that lost any suffix of the settlements made against a lease, still counts every call: the lease is charged at its expiry', async () => {
    const clock = new ManualClock(MID_MONTH);
    const a = await open(clock, { lock: { leaseMs: 0 } });
    await a.setCooldown('k', clock.nowMs + 60_000, 'snapshot');
    const calls = 5;
    for (let i = 0; i < calls; i++) {
      const r = await a.reserve(request);
      assert.ok(r.ok);
      await a.settle(r.reservationId, rules, call('p', { amounts: { requests: 1, tokens: 200 } }));
    }
    // The machine stops here: what is on disk is copied for each restart below (`a` is closed with the test).
    const snapshot = fs.readFileSync(fx.home.file);
    const log = fs.readFileSync(`${fx.home.file}.log`);
    const { records } = scanRecords(log.subarray(LOG_HEADER_BYTES), LOG_HEADER_BYTES);
    // Call 1: its reservation and settlement; call 2: the lease, then a settlement per call.
    assert.equal(records.length, 2 + 1 + (calls - 1));
    for (let kept = 0; kept <= calls - 1; kept++) {
      // Only the first `kept` settlements after the lease reached the disk: the rest are the zeros the log had there.
      const cut = Buffer.from(log);
      cut.fill(0, records[3 + kept]?.offset ?? log.length, records.at(-1)!.end);
      const restarted = tempHome();
      try {
        fs.writeFileSync(restarted.file, snapshot);
        fs.writeFileSync(`${restarted.file}.log`, cut);
        const readerClock = new ManualClock(MID_MONTH);
        const { ledger: b } = await openAt(restarted.file, readerClock);
        assert.deepEqual(await usedAndHeld(b), [[1 + kept, LEASE_CALLS - kept], [200 * (1 + kept), 500 * (LEASE_CALLS - kept)]],
          `${kept} settlements kept: counted, and the lease still holds the rest while it lives`);
        readerClock.advance(2 * request.ttlMs! + 1);
        const [requests] = await b.quota('p', rules);
        assert.equal(requests!.used, 1 + LEASE_CALLS, 'charged at its expiry');
        assert.ok(requests!.used >= calls && requests!.used <= calls + LEASE_CALLS, 'never fewer than the calls made, over by at most one lease');
        await b.close();
      } finally {
        restarted.cleanup();
      }
    }
  });

  it('counts at once every call a killed process settled against its lease; the lease keeps holding the rest (charged at expiry, never given to others)', async () => {
    const clock = new ManualClock(Date.now());
    const parent = await open(clock);
    await parent.setCooldown('k', clock.nowMs + 60_000, 'make the snapshot exist');
    // It kills itself right after its last settlement: before its lease could idle out and be given back.
    const worker = fx.startChild(['settle', fx.home.file, '30'], { SB_TEST_COMPACT_BYTES: String(1e9), SB_TEST_DIE_WHEN_DONE: '1' });
    assert.equal(await exited(worker), 'SIGKILL');
    const opsRules: QuotaRule[] = [{ metric: 'requests', window: 'day', limit: 1e9 }];
    const [state] = await parent.quota('shared', opsRules);
    // The child's first call reserved alone; the other 29 went into leases of LEASE_CALLS calls.
    const unused = Math.ceil(29 / LEASE_CALLS) * LEASE_CALLS - 29;
    assert.deepEqual([state!.used, state!.reserved], [30, unused]);
    assert.deepEqual(await queryOnDisk(fx.home.file, "SELECT count(*) FROM calls WHERE provider = 'shared'"), [[30]]);
  });

  it('stops admitting against a lease when another process sets a cooldown on its key', async () => {
    const clock = new ManualClock(MID_MONTH);
    const a = await open(clock);
    const b = await open(clock);
    for (let i = 0; i < 2; i++) {
      const r = await a.reserveIfAvailable!(request, 'p|key');
      assert.ok('reservationId' in r && r.ok);
      await a.settle(r.reservationId, rules, call('p'));
    }
    await b.setCooldown('p|key', clock.nowMs + 30_000, 'rate limited');
    const refused = await a.reserveIfAvailable!(request, 'p|key');
    assert.ok('unavailable' in refused && refused.unavailable.cooldown?.reason === 'rate limited');
    clock.advance(30_001);
    const again = await a.reserveIfAvailable!(request, 'p|key');
    assert.ok('reservationId' in again && again.ok, 'admitted once the cooldown is over');
  });

  it('takes back a released call into its lease, and gives an unused lease back to everyone after it idles', async () => {
    const clock = new ManualClock(MID_MONTH);
    const a = await open(clock);
    const observer = await open(clock);
    const first = await a.reserve(request);
    assert.ok(first.ok);
    await a.settle(first.reservationId, rules, call('p'));
    const leased = await a.reserve(request);
    assert.ok(leased.ok);
    assert.deepEqual((await usedAndHeld(observer))[0], [1, LEASE_CALLS]);
    await a.release(leased.reservationId);
    assert.deepEqual((await usedAndHeld(observer))[0], [1, LEASE_CALLS], 'a release writes nothing: the lease still holds it');
    const reused = await a.reserve(request);
    assert.ok(reused.ok);
    await a.settle(reused.reservationId, rules, call('p'));
    assert.deepEqual((await usedAndHeld(observer))[0], [2, LEASE_CALLS - 1]);
    await until('the idle lease is given back', async () => (await usedAndHeld(observer))[0]![1] === 0);
    assert.deepEqual((await usedAndHeld(observer))[0], [2, 0]);
  });

  it('reserves call by call when the quota is tight (a lease would be over LEASE_SHARE of what is left)', async () => {
    const clock = new ManualClock(MID_MONTH);
    const a = await open(clock);
    const observer = await open(clock);
    const tight: QuotaRule[] = [{ metric: 'requests', window: 'month', limit: 150 }];
    for (let i = 1; i <= 3; i++) {
      const r = await a.reserve({ ...request, rules: tight });
      assert.ok(r.ok);
      assert.equal((await observer.quota('p', tight))[0]!.reserved, 1, `call ${i} holds its own estimate only`);
      await a.settle(r.reservationId, tight, call('p'));
    }
    assert.deepEqual(await queryOnDisk(fx.home.file, 'SELECT count(*) FROM reservations'), [[0]]);
  });

  it('holds budgets in a lease too: the budget rows shrink by each settled call and go on close', async () => {
    const clock = new ManualClock(MID_MONTH);
    const a = await open(clock);
    const paid: ReserveRequest = { providerId: 'paid', rules: [], amounts: { usd: 0.1 }, budgets: [{ scope: 'global', limitUsd: 1_000, window: 'month' }], ttlMs: 60_000 };
    const held = async () => Number((await queryOnDisk(fx.home.file, "SELECT coalesce(sum(usd), 0) FROM reservations WHERE provider = 'budget:global:*'"))[0]![0]);
    for (let i = 0; i < 5; i++) {
      const r = await a.reserve(paid);
      assert.ok(r.ok);
      await a.settle(r.reservationId, [], { ...call('paid'), amounts: {}, costUsd: 0.05 });
    }
    // Call 1 reserved alone; calls 2–5 came from a lease of LEASE_CALLS × $0.10.
    assert.ok(Math.abs(await held() - (LEASE_CALLS - 4) * 0.1) < 1e-9, `the lease holds ${(LEASE_CALLS - 4) * 0.1}, got ${await held()}`);
    assert.ok(Math.abs((await a.monthSpend()).usd - 0.25) < 1e-9);
    await a.close();
    fx.untrack(a);
    assert.equal(await held(), 0);
  });
});
