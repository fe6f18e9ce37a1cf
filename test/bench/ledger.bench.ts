/**
 * Ledger cost per routed call, call by call (leases off): reserve (log append) + settle (log append + fdatasync,
 * durable); and the same pair in a burst, admitted against a quota lease (leases.ts, a separate file); beside two
 * references measured in the same run, interleaved so drift on a shared disk hits all alike:
 * - an O_APPEND write of a settle-sized record + fdatasync (the floor for a durable append);
 * - writeFileSync + fsync of a file the size of the snapshot (what every change cost before the log).
 * Also: what another process pays to catch up (a reader replaying the pair's two records), a compaction alone,
 * and how often compactions happened during the run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SqlJsLedger } from '../../src/core/ledger/sqljs-ledger';
import { FileLock } from '../../src/core/file-lock';
import type { CallRecord, QuotaRule } from '../../src/core/ledger/types';
import { percentile, ratio, summary, time } from './stats';

const RULES: QuotaRule[] = [
  { metric: 'requests', window: 'minute', limit: 1e9 },
  { metric: 'requests', window: 'day', limit: 1e9, reset_tz: 'America/Los_Angeles' },
  { metric: 'tokens', window: 'minute', limit: 1e12 },
  { metric: 'tokens', window: 'day', limit: 1e12, reset_tz: 'America/Los_Angeles' },
];

const RECORD: CallRecord = {
  providerId: 'gemini', model: 'gemini-2.5-flash', tier: 'free', task: 'tests', actor: 'claude-code', ok: true,
  amounts: { requests: 1, input_chars: 4000, tokens: 1500 }, inputTokens: 1000, outputTokens: 500, costUsd: 0, baselineUsd: 0.0105,
};

/** The private parts a compaction needs, reached for timing it alone. */
interface LedgerInternals {
  lock: FileLock;
  writeSnapshot(): void;
  refresh(holder: boolean): void;
}

export async function run(): Promise<object> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-ledger-bench-'));
  const file = path.join(dir, 'ledger.sqlite');
  try {
    const ledger = await SqlJsLedger.open({ file, leaseCalls: 1 });
    const follower = await SqlJsLedger.open({ file });
    const leasing = await SqlJsLedger.open({ file: path.join(dir, 'leasing', 'ledger.sqlite') });
    // A realistic file: a few hundred earlier calls.
    for (let i = 0; i < 300; i++) {
      const r = await ledger.reserve({ providerId: 'gemini', rules: RULES, amounts: RECORD.amounts });
      if (r.ok) await ledger.settle(r.reservationId, RULES, RECORD);
    }
    await follower.quota('gemini', RULES);
    const N = 300;
    const before = ledger.stats();
    const snapshotSize = fs.statSync(file).size;
    const snapshotPayload = randomBytes(snapshotSize);
    const appendPayload = randomBytes(1300); // a settle record is ~1.3 KB
    const appendRef = path.join(dir, 'append-reference');
    const rewriteRef = path.join(dir, 'rewrite-reference');
    const appendFd = fs.openSync(appendRef, 'a');
    const pair: number[] = [];
    const reserveMs: number[] = [];
    const settleMs: number[] = [];
    const followerMs: number[] = [];
    const appendRefMs: number[] = [];
    const rewriteRefMs: number[] = [];
    const pairBytes: number[] = [];
    const leasedPair: number[] = [];
    for (let i = 0; i < N; i++) {
      const offset0 = ledger.stats().logOffset;
      const t0 = performance.now();
      const r = await ledger.reserve({ providerId: 'gemini', rules: RULES, amounts: RECORD.amounts });
      const t1 = performance.now();
      if (!r.ok) throw new Error('bench quota refused');
      await ledger.settle(r.reservationId, RULES, RECORD);
      const t2 = performance.now();
      reserveMs.push(t1 - t0);
      settleMs.push(t2 - t1);
      pair.push(t2 - t0);
      const offset1 = ledger.stats().logOffset;
      if (offset1 > offset0) pairBytes.push(offset1 - offset0);

      const tl = performance.now();
      const leased = await leasing.reserve({ providerId: 'gemini', rules: RULES, amounts: RECORD.amounts });
      if (!leased.ok) throw new Error('bench quota refused');
      await leasing.settle(leased.reservationId, RULES, RECORD);
      leasedPair.push(performance.now() - tl);

      // Another process's view: catch up on the two records (or reload after a compaction).
      const t3 = performance.now();
      await follower.quota('gemini', RULES);
      followerMs.push(performance.now() - t3);

      const t4 = performance.now();
      fs.writeSync(appendFd, appendPayload);
      fs.fdatasyncSync(appendFd);
      appendRefMs.push(performance.now() - t4);

      const t5 = performance.now();
      fs.writeFileSync(rewriteRef, snapshotPayload);
      const fd = fs.openSync(rewriteRef, 'r+');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      rewriteRefMs.push(performance.now() - t5);
    }
    fs.closeSync(appendFd);
    const after = ledger.stats();
    const followerStats = follower.stats();
    const readMs = await time(N, () => ledger.quota('gemini', RULES));
    const healthyOutcomeMs = await time(N, () => ledger.recordOutcome('gemini', true));

    // A compaction alone, under the lock as the ledger does it.
    // The shared snapshot + log file lives in the ledger's store (sqljs-store.ts).
    const internals = (ledger as unknown as { db: LedgerInternals }).db;
    const compactionMs: number[] = [];
    for (let i = 0; i < 30; i++) {
      for (let k = 0; k < 5; k++) {
        const r = await ledger.reserve({ providerId: 'gemini', rules: RULES, amounts: RECORD.amounts });
        if (r.ok) await ledger.settle(r.reservationId, RULES, RECORD);
      }
      // acquire(), not tryAcquire(): the ledger keeps the lock on lease after its last change.
      await internals.lock.acquire();
      try {
        internals.refresh(true);
        const t = performance.now();
        internals.writeSnapshot();
        compactionMs.push(performance.now() - t);
      } finally {
        internals.lock.release();
      }
    }
    await follower.close();
    await leasing.close();
    await ledger.close();
    const lock = new FileLock(path.join(dir, 'lockbench'));
    const lockMs = await time(N, () => {
      if (!lock.tryAcquire()) throw new Error('lock busy');
      lock.release();
    });

    const pairS = summary(pair);
    const appendS = summary(appendRefMs);
    const rewriteS = summary(rewriteRefMs);
    return {
      snapshot_bytes: snapshotSize,
      log_bytes_per_call_p50: percentile(pairBytes, 50),
      reserve_plus_settle_durable: pairS,
      reserve_plus_settle_in_a_burst_leased: summary(leasedPair),
      reserve: summary(reserveMs),
      settle_durable: summary(settleMs),
      reference_append_1300B_fdatasync: appendS,
      reference_rewrite_snapshot_size_fsync: rewriteS,
      ratio_p50_vs_append: ratio(pairS.p50_ms, appendS.p50_ms),
      ratio_p50_vs_rewrite: ratio(pairS.p50_ms, rewriteS.p50_ms),
      follower_catch_up: summary(followerMs),
      compactions_during_timed_calls: after.snapshotsWritten - before.snapshotsWritten,
      follower_snapshot_reloads: followerStats.snapshotLoads,
      follower_records_replayed: followerStats.recordsApplied,
      parts: {
        quota_read_cached: summary(readMs),
        record_outcome_ok_healthy: summary(healthyOutcomeMs),
        compaction_write_snapshot: summary(compactionMs),
        lock_acquire_release: summary(lockMs),
      },
      writes_per_call: { reserve: 'log append + fdatasync in the background (settle waits for it)', settle: 'log append (its reservation synced)', compaction: 'snapshot temp write + fdatasync + rename + dir fsync, when the log outgrows the snapshot' },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
