import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import initSqlJs from 'sql.js';
import { SqlJsLedger } from '../../../src/core/ledger/sqljs-ledger';
import { encodeRecord, scanRecords, LOG_HEADER_BYTES } from '../../../src/core/ledger/oplog';
import type { QuotaRule } from '../../../src/core/ledger/types';
import { ManualClock, call, exited, ledgerDirNames, openAt, queryOnDisk, useLedgerFixture } from './helpers';

const rules: QuotaRule[] = [{ metric: 'requests', window: 'day', limit: 1e9 }, { metric: 'tokens', window: 'month', limit: 1e12 }];
/** The rules the contention child uses (it settles under provider "shared"). */
const childRules = rules;

async function settleOne(ledger: SqlJsLedger, providerId = 'p', callId?: string): Promise<void> {
  const r = await ledger.reserve({ providerId, rules, amounts: {} });
  assert.ok(r.ok);
  await ledger.settle(r.reservationId, rules, call(providerId, callId ? { callId } : {}));
}

async function used(ledger: SqlJsLedger, providerId = 'p'): Promise<number> {
  return (await ledger.quota(providerId, rules))[0]!.used;
}

/** The snapshot alone, read with sql.js: what a tool that knows nothing of the log sees. */
async function snapshotOnly(file: string, sql: string): Promise<unknown[][]> {
  const SQL = await initSqlJs();
  const db = new SQL.Database(fs.readFileSync(file));
  try {
    return db.exec(sql)[0]?.values ?? [];
  } finally {
    db.close();
  }
}

describe('SqlJsLedger operation log', function () {
  this.timeout(60_000);
  const fx = useLedgerFixture();
  const { startChild, printed } = fx;
  // Real time: child processes use the system clock, and windows must agree.
  const clock = new ManualClock(Date.now());
  // One record per reserve and per settle: these tests count records (leases, which admit a burst of calls
  // with fewer, have their own tests in leases.test.ts).
  const ledger = (options = {}) => fx.open(clock, { leaseCalls: 1, ...options });

  it('appends each change to the log, leaving the snapshot alone; another instance catches up from the log only', async () => {
    const { ledger: a } = await ledger();
    const { ledger: b } = await ledger();
    await settleOne(a); // the first change writes the snapshot (there was no file), the settle starts the log
    const snapshotIno = fs.statSync(fx.home.file).ino;
    let logSize = a.stats().logOffset;
    for (let i = 0; i < 4; i++) {
      await settleOne(a);
      const now = a.stats().logOffset;
      assert.ok(now > logSize, 'the log grows with each change');
      logSize = now;
    }
    assert.equal(fs.statSync(fx.home.file).ino, snapshotIno, 'the snapshot is not rewritten per change');
    assert.equal(await used(b), 5);
    const caught = b.stats();
    assert.equal(caught.snapshotLoads, 1, 'b read the snapshot once (when it appeared)');
    assert.equal(caught.recordsApplied, 9, '4 reserves and 5 settles, read from the log');
    assert.equal(caught.logOffset, logSize);
    // Nothing new: b reads nothing.
    assert.equal(await used(b), 5);
    assert.deepEqual(b.stats(), caught);
    await settleOne(a);
    assert.equal(await used(b), 6);
    assert.deepEqual({ ...b.stats(), logOffset: 0 }, { ...caught, recordsApplied: 11, logOffset: 0 });
    assert.equal(a.stats().recordsAppended, 11, '6 calls = 12 changes, the first of them in the snapshot');
  });

  it('ignores a torn last record (its writer was killed mid-append); the next lock holder truncates it', async () => {
    const { ledger: a } = await ledger();
    const { ledger: b } = await ledger();
    for (let i = 0; i < 3; i++) await settleOne(a);
    const log = `${fx.home.file}.log`;
    const validEnd = a.stats().logOffset;
    // A cooldown change cut short: nobody acknowledged it, so nobody may count it.
    const torn = encodeRecord([["INSERT INTO cooldowns VALUES (?,?,?)", ['torn-key', clock.nowMs + 60_000, 'never happened']]]);
    const liveHolder = JSON.stringify({ pid: process.pid, host: os.hostname(), token: 'someone-else', at: Date.now() });
    // (Zeros are free space, not a torn record: see the preallocation test. The last tail here is a torn one.)
    for (const tail of [Buffer.alloc(512), torn.subarray(0, 7), torn.subarray(0, torn.length - 5)]) {
      fs.truncateSync(log, validEnd);
      fs.appendFileSync(log, tail);
      // A live process holds the lock, so this opener only reads (it cannot fold the log in).
      fs.writeFileSync(`${fx.home.file}.lock`, liveHolder);
      const { ledger: fresh } = await openAt(fx.home.file, clock);
      assert.equal(await used(fresh), 3);
      assert.equal(await fresh.cooldown('torn-key'), undefined);
      assert.equal(await used(b), 3);
      assert.equal(await b.cooldown('torn-key'), undefined);
      await fresh.close();
      assert.equal(fs.statSync(log).size, validEnd + tail.length, 'a reader never truncates (the tail may be a write in progress)');
      fs.rmSync(`${fx.home.file}.lock`);
    }
    assert.equal(a.stats().tornTailsTruncated, 0);
    await a.setCooldown('real', clock.nowMs + 60_000, 'after the tear');
    assert.equal(a.stats().tornTailsTruncated, 1);
    const { records, stop } = scanRecords(fs.readFileSync(log).subarray(LOG_HEADER_BYTES), LOG_HEADER_BYTES);
    assert.deepEqual(stop, { kind: 'end' }, 'the log reads clean to its end again');
    assert.equal(records.length, 6);
    assert.equal((await b.cooldown('real'))!.reason, 'after the tear');
    assert.equal(await b.cooldown('torn-key'), undefined);
    assert.deepEqual(await queryOnDisk(fx.home.file, 'SELECT key FROM cooldowns'), [['real']]);
  });

  it('preallocates a new log: records overwrite its free space (the size stays put), readers find them by the zeros, and an older version that truncates the free space is read the same', async () => {
    // Written between changes by a process that does not hold the lock: no lease, so `a` looks at the files.
    const { ledger: a } = await ledger({ lock: { leaseMs: 0 } });
    const { ledger: b } = await ledger();
    await settleOne(a);
    const log = `${fx.home.file}.log`;
    const size = fs.statSync(log).size;
    assert.ok(size >= 64 * 1024 && size % 4096 === 0, `free space up to about the folding size (${size} bytes)`);
    assert.ok(a.stats().logOffset < size);
    for (let i = 0; i < 5; i++) {
      await settleOne(a);
      assert.equal(fs.statSync(log).size, size, 'appends write into the free space');
      assert.equal(await used(b), i + 2);
    }
    assert.equal(b.stats().logOffset, a.stats().logOffset);
    const { records, stop } = scanRecords(fs.readFileSync(log).subarray(LOG_HEADER_BYTES), LOG_HEADER_BYTES);
    assert.equal(records.length, 11);
    assert.deepEqual(stop, { kind: 'free', at: a.stats().logOffset });
    // A writer killed while writing into the free space: a record cut short, zeros after it. Nobody counts it,
    // the file's size is unchanged, and the next lock holder truncates it.
    const torn = encodeRecord([['INSERT INTO cooldowns VALUES (?,?,?)', ['torn-key', clock.nowMs + 60_000, 'never happened']]]);
    const fd = fs.openSync(log, 'r+');
    fs.writeSync(fd, torn, 0, torn.length - 5, a.stats().logOffset);
    fs.closeSync(fd);
    assert.equal(await used(b), 6);
    assert.equal(await b.cooldown('torn-key'), undefined);
    assert.equal(a.stats().tornTailsTruncated, 0);
    await settleOne(a);
    assert.equal(a.stats().tornTailsTruncated, 1);
    assert.equal(await used(b), 7);
    assert.equal(await b.cooldown('torn-key'), undefined);
    assert.equal(fs.statSync(log).size, a.stats().logOffset, 'the free space went with the torn record');
    // An older Switchboard holding the lock reads the free space as a torn tail, truncates it and appends.
    const end = a.stats().logOffset;
    fs.truncateSync(log, end);
    fs.appendFileSync(log, encodeRecord([['INSERT INTO cooldowns VALUES (?,?,?)', ['old-version', clock.nowMs + 60_000, 'appended by an older version']]]));
    assert.equal((await b.cooldown('old-version'))!.reason, 'appended by an older version');
    await settleOne(a);
    assert.equal(await used(b), 8);
    assert.equal((await a.cooldown('old-version'))!.reason, 'appended by an older version');
    assert.equal(a.stats().tornTailsTruncated + b.stats().tornTailsTruncated, 1, 'only the torn record above');
    assert.deepEqual(await queryOnDisk(fx.home.file, "SELECT used FROM usage WHERE metric = 'requests'"), [[8]]);
  });

  it('a reader holding an offset into a log that gets folded in reloads the snapshot and counts everything once', async () => {
    const { ledger: a } = await ledger({ compactLogBytes: 1 }); // compact as soon as the log outgrows the snapshot
    const { ledger: b } = await ledger({ compactLogBytes: 1 });
    for (let i = 0; i < 90; i++) {
      await settleOne(i % 3 ? a : b, 'p', `c${i}`);
      assert.equal(await used(i % 3 ? b : a), i + 1, `after call ${i}`);
    }
    const written = a.stats().snapshotsWritten + b.stats().snapshotsWritten;
    assert.ok(written >= 4, `${written} snapshots written`);
    // Each reloads exactly the snapshots the other wrote: catching up otherwise reads only the log.
    assert.equal(a.stats().snapshotLoads, b.stats().snapshotsWritten);
    assert.equal(b.stats().snapshotLoads, a.stats().snapshotsWritten);
    assert.deepEqual(await queryOnDisk(fx.home.file, 'SELECT count(*), sum(ok) FROM calls'), [[90, 90]]);
    assert.deepEqual(await queryOnDisk(fx.home.file, "SELECT used FROM usage WHERE metric = 'requests'"), [[90]]);
    assert.ok(Number((await snapshotOnly(fx.home.file, "SELECT value FROM meta WHERE key = 'compactions'"))[0]![0]) >= written);
  });

  it('survives a crash between writing the new snapshot and removing the log it folded in: that log is never replayed', async () => {
    const { ledger: reader, warnings } = await ledger();
    // A first change writes the snapshot; no log yet, so the worker's own open has nothing to fold.
    await reader.setCooldown('k', clock.nowMs + 3_600_000, 'before the worker');
    const crashLog = `${fx.home.dir}/crashes`;
    const worker = startChild(['settle', fx.home.file, '200'], { SB_TEST_COMPACT_BYTES: '1', SB_TEST_CRASH_AT_SNAPSHOT: '1', SB_TEST_CRASH_LOG: crashLog });
    // The reader follows along, so it holds an offset into the log when the compaction happens.
    let seen = 0;
    while (worker.exitCode === null && worker.signalCode === null) {
      seen = Math.max(seen, await used(reader, 'shared'));
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(await exited(worker), 'SIGKILL');
    assert.match(fs.readFileSync(crashLog, 'utf8'), /^crash \d+\n$/);
    // Both files are there: the new snapshot, and the old log whose header names the snapshot's prev_log_id.
    const prev = String((await snapshotOnly(fx.home.file, "SELECT value FROM meta WHERE key = 'prev_log_id'"))[0]![0]);
    assert.equal(fs.readFileSync(`${fx.home.file}.log`, 'latin1').slice(0, LOG_HEADER_BYTES), `switchboard-ledger-log v1 ${prev}\n`);
    const inSnapshot = Number((await snapshotOnly(fx.home.file, "SELECT count(*) FROM calls WHERE provider = 'shared'"))[0]![0]);
    assert.ok(inSnapshot >= 5, `${inSnapshot} calls folded in before the crash`);
    assert.deepEqual(await snapshotOnly(fx.home.file, "SELECT used FROM usage WHERE provider = 'shared' AND metric = 'requests'"), [[inSnapshot]]);
    // Every reader counts each call once: the one that was following along, a new one, the independent one.
    assert.equal(await used(reader, 'shared'), inSnapshot);
    assert.ok(seen <= inSnapshot);
    const { ledger: later, warnings: laterWarnings } = await ledger(); // opening folds: removes the stale log
    assert.equal(await used(later, 'shared'), inSnapshot);
    assert.equal((await later.cooldown('k'))!.reason, 'before the worker');
    assert.equal(fs.existsSync(`${fx.home.file}.log`), false, 'the next lock holder removed the stale log');
    await settleOne(reader, 'shared', 'after-crash');
    assert.equal(await used(later, 'shared'), inSnapshot + 1);
    assert.deepEqual(await queryOnDisk(fx.home.file, "SELECT count(*) FROM calls WHERE provider = 'shared'"), [[inSnapshot + 1]]);
    assert.deepEqual([...warnings, ...laterWarnings], []);
    assert.deepEqual(ledgerDirNames(fx.home.dir).filter((n) => n.includes('.tmp-')), [], 'the dead writer left no temp file it had not renamed');
  });

  it('catches up with another process by reading only its new log records', async () => {
    const { ledger: parent } = await ledger();
    await parent.setCooldown('k', clock.nowMs + 1, 'make the snapshot exist');
    const worker = startChild(['settle', fx.home.file, '30'], { SB_TEST_COMPACT_BYTES: String(1e9), SB_TEST_LEASE_CALLS: '1' });
    await printed(worker, 'done');
    assert.equal(await used(parent, 'shared'), 30);
    const s = parent.stats();
    assert.equal(s.snapshotLoads, 0, 'the parent wrote the snapshot and never had to read it');
    assert.equal(s.recordsApplied, 60, '30 reservations and 30 settlements replayed from the log');
    assert.deepEqual(await queryOnDisk(fx.home.file, "SELECT count(*) FROM calls WHERE provider = 'shared'"), [[30]]);
    // The worker stays open; the parent's changes reach it the same way (its next operation would see them).
    await settleOne(parent, 'shared');
    assert.equal(await used(parent, 'shared'), 31);
  });

  it('sets a damaged log aside, keeps the changes before the damage and says what was lost', async () => {
    // Written between changes by a process that does not hold the lock: no lease, so `a` looks at the files.
    const { ledger: a } = await ledger({ lock: { leaseMs: 0 } });
    for (let i = 0; i < 6; i++) await settleOne(a);
    const log = `${fx.home.file}.log`;
    const bytes = fs.readFileSync(log);
    const { records } = scanRecords(bytes.subarray(LOG_HEADER_BYTES), LOG_HEADER_BYTES);
    assert.equal(records.length, 11); // 5 reserve + 6 settle; the first reserve went into the snapshot
    const victim = records[4]!; // the third settle (records: settle, then reserve + settle per call)
    const damaged = Buffer.from(bytes);
    damaged[victim.offset + 20] ^= 0x55;
    fs.writeFileSync(log, damaged);
    const { ledger: b, warnings } = await ledger();
    assert.equal(warnings.length, 1);
    const w = warnings[0]!;
    assert.equal(w.code, 'ledger_corrupt');
    assert.match(w.message, new RegExp(`operation log .*ledger\\.sqlite\\.log is damaged at byte ${victim.offset}: checksum mismatch`));
    assert.match(w.setAsideAs, /ledger\.sqlite\.log\.corrupt-\d{4}-/);
    assert.deepEqual(fs.readFileSync(w.setAsideAs), damaged, 'the damaged log is kept as it was');
    assert.equal(await used(b), 2, 'the two settles before the damage count');
    assert.equal(await used(a), 2, 'the writer reloads what is on disk too');
    // (The lock file may still be there: b keeps the lock on lease for a moment after its change.)
    assert.deepEqual(ledgerDirNames(fx.home.dir).filter((n) => !n.includes('.corrupt-') && !n.endsWith('.lock')), ['ledger.sqlite']);
    await settleOne(b);
    assert.equal(await used(a), 3);
  });

  it('sets aside a log whose snapshot was deleted by hand, with a warning, and starts afresh', async () => {
    const { ledger: a } = await ledger();
    for (let i = 0; i < 3; i++) await settleOne(a);
    await a.close();
    fx.untrack(a);
    // close() folded the log in; make another, then take its snapshot away.
    const { ledger: w } = await ledger();
    await settleOne(w);
    const logBytes = fs.readFileSync(`${fx.home.file}.log`);
    fs.rmSync(fx.home.file);
    const { ledger: b, warnings } = await ledger();
    assert.equal(await used(b), 0);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /set aside as ledger\.sqlite\.log\.orphan-/);
    assert.deepEqual(fs.readFileSync(warnings[0]!.setAsideAs), logBytes);
    await settleOne(b);
    assert.equal(await used(w), 1, 'the other process follows the new ledger');
  });

  it('sets aside a log with a foreign header', async () => {
    const { ledger: a } = await ledger();
    await settleOne(a);
    fs.writeFileSync(`${fx.home.file}.log`, 'this is not a ledger log at all, but it is long enough to have a header\n');
    const { ledger: b, warnings } = await ledger();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /damaged at byte 0: not a ledger log \(bad header\)/);
    assert.equal(await used(b), 0, 'the settle lived in that log');
    assert.equal((await b.quota('p', rules))[0]!.reserved, 1, 'the reservation in the snapshot stands');
  });

  it('takes over a snapshot written before the log existed (no log id): its first change writes a snapshot that starts one', async () => {
    const { ledger: a } = await ledger();
    for (let i = 0; i < 2; i++) await settleOne(a);
    await a.close();
    fx.untrack(a);
    const SQL = await initSqlJs();
    const db = new SQL.Database(fs.readFileSync(fx.home.file));
    db.run("DELETE FROM meta WHERE key IN ('log_id', 'prev_log_id', 'compactions')");
    fs.writeFileSync(fx.home.file, db.export());
    db.close();
    const before = fs.statSync(fx.home.file).ino;
    const { ledger: b } = await ledger();
    assert.equal(await used(b), 2);
    await settleOne(b);
    assert.notEqual(fs.statSync(fx.home.file).ino, before, 'the reservation went into a new snapshot');
    assert.ok(fs.existsSync(`${fx.home.file}.log`), 'the settle went into the log');
    assert.equal(await used(b), 3);
    assert.deepEqual(await queryOnDisk(fx.home.file, "SELECT used FROM usage WHERE metric = 'requests'"), [[3]]);
  });

  it('folds the log in on close and on open, so at rest the ledger is one plain SQLite file', async () => {
    const { ledger: a } = await ledger();
    for (let i = 0; i < 4; i++) await settleOne(a);
    assert.ok(fs.existsSync(`${fx.home.file}.log`));
    await a.close();
    fx.untrack(a);
    assert.deepEqual(fs.readdirSync(fx.home.dir), ['ledger.sqlite']);
    assert.deepEqual(await snapshotOnly(fx.home.file, "SELECT used FROM usage WHERE metric = 'requests'"), [[4]]);
    // A process killed without close() leaves its log; the next one to open folds it in.
    const worker = startChild(['settle', fx.home.file, '5'], { SB_TEST_COMPACT_BYTES: String(1e9) });
    await printed(worker, 'done');
    worker.kill('SIGKILL');
    await exited(worker);
    assert.ok(fs.existsSync(`${fx.home.file}.log`));
    const { ledger: b } = await ledger();
    assert.deepEqual(ledgerDirNames(fx.home.dir), ['ledger.sqlite']);
    assert.equal(await used(b, 'shared'), 5);
    assert.deepEqual(await snapshotOnly(fx.home.file, "SELECT count(*) FROM calls"), [[9]]);
    void childRules;
  });
});
