/**
 * Ledger cost per routed call: reserve + settle (settle durable: fdatasync + rename + directory fsync), beside
 * a bare writeFileSync + fsyncSync of a file the same size as the ledger, in the same run. The parts are timed
 * alone too, to show what dominates.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SqlJsLedger } from '../../src/core/ledger/sqljs-ledger';
import { FileLock } from '../../src/core/ledger/file-lock';
import type { CallRecord, QuotaRule } from '../../src/core/ledger/types';
import { ratio, summary, time } from './stats';

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

export async function run(): Promise<object> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-ledger-bench-'));
  const file = path.join(dir, 'ledger.sqlite');
  try {
    const ledger = await SqlJsLedger.open({ file });
    // A realistic file: a few hundred earlier calls.
    for (let i = 0; i < 300; i++) {
      const r = await ledger.reserve({ providerId: 'gemini', rules: RULES, amounts: RECORD.amounts });
      if (r.ok) await ledger.settle(r.reservationId, RULES, RECORD);
    }
    const N = 300;
    const payload = randomBytes(fs.statSync(file).size);
    const ref = path.join(dir, 'reference');
    const part = path.join(dir, 'part');
    const dirFd = fs.openSync(dir, 'r');
    const db = (ledger as unknown as { db: { export(): Uint8Array } }).db;
    const pair: number[] = [];
    const reserveMs: number[] = [];
    const settleMs: number[] = [];
    const referenceMs: number[] = [];
    const exportMs: number[] = [];
    const replaceMs: number[] = [];
    const replaceDurableMs: number[] = [];
    // Interleaved, so every figure sees the same disk (fsync latency drifts a lot on a shared machine).
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const r = await ledger.reserve({ providerId: 'gemini', rules: RULES, amounts: RECORD.amounts });
      const t1 = performance.now();
      if (!r.ok) throw new Error('bench quota refused');
      await ledger.settle(r.reservationId, RULES, RECORD);
      const t2 = performance.now();
      reserveMs.push(t1 - t0);
      settleMs.push(t2 - t1);
      pair.push(t2 - t0);

      // Reference: the bare durable write of a same-size file.
      const t3 = performance.now();
      fs.writeFileSync(ref, payload);
      const fd = fs.openSync(ref, 'r+');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      referenceMs.push(performance.now() - t3);

      // The parts of one ledger write, alone.
      const t4 = performance.now();
      db.export();
      exportMs.push(performance.now() - t4);
      for (const durable of [false, true]) {
        const t5 = performance.now();
        const tmp = `${part}.tmp-${randomBytes(4).toString('hex')}`;
        const tfd = fs.openSync(tmp, 'wx');
        fs.writeSync(tfd, payload);
        fs.fdatasyncSync(tfd);
        fs.closeSync(tfd);
        fs.renameSync(tmp, part);
        if (durable) fs.fsyncSync(dirFd);
        (durable ? replaceDurableMs : replaceMs).push(performance.now() - t5);
      }
    }
    fs.closeSync(dirFd);
    const size = fs.statSync(file).size;
    const readMs = await time(N, () => ledger.quota('gemini', RULES));
    const healthyOutcomeMs = await time(N, () => ledger.recordOutcome('gemini', true));
    await ledger.close();
    const lock = new FileLock(path.join(dir, 'lockbench'));
    const lockMs = await time(N, () => {
      if (!lock.tryAcquire()) throw new Error('lock busy');
      lock.release();
    });

    const pairS = summary(pair);
    const refS = summary(referenceMs);
    return {
      file_bytes: size,
      reserve_plus_settle_durable: pairS,
      reserve: summary(reserveMs),
      settle_durable: summary(settleMs),
      reference_writeFileSync_fsync_same_size: refS,
      ratio_p50: ratio(pairS.p50_ms, refS.p50_ms),
      ratio_p99: ratio(pairS.p99_ms, refS.p99_ms),
      parts: {
        quota_read_cached: summary(readMs),
        record_outcome_ok_healthy: summary(healthyOutcomeMs),
        sqljs_export: summary(exportMs),
        temp_write_fdatasync_rename: summary(replaceMs),
        temp_write_fdatasync_rename_dir_fsync: summary(replaceDurableMs),
        lock_acquire_release: summary(lockMs),
      },
      writes_per_call: { reserve: 'fdatasync + rename', settle: 'fdatasync + rename + directory fsync' },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
