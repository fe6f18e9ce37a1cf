import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { LEASE_CALLS } from '../../../src/core/ledger/leases';
import { SqlJsLedger } from '../../../src/core/ledger/sqljs-ledger';
import { exited, queryOnDisk, tempHome } from './helpers';

const CHILD_SOURCE = path.join(__dirname, 'fixtures', 'contention-child.ts');
const WORKERS = 4;
const OPS = 500;

/**
 * The worker, bundled the way the sidecar is (wasm beside the bundle): plain `node` starts it in tens of
 * milliseconds where the TypeScript loader takes most of a second, and workers are started again after each kill.
 */
let childBundle: string;
let bundleDir: string;

function start(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [childBundle, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
}

function readLines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => /^(settled|released|ok|refused)\b/.test(l)) : [];
}

/** What is on disk (snapshot and log), read independently of the ledger code. */
const query = queryOnDisk;


/**
 * A holder killed after its share was done leaves its lock (and an acquirer killed before linking, its temp)
 * until the next process uses the ledger: it breaks the stale lock and sweeps dead writers' temps. This is that
 * next process (one reservation, released), so the checks after it see what a user's machine keeps.
 */
async function useAsNextProcess(file: string): Promise<void> {
  const next = await SqlJsLedger.open({ file });
  try {
    const held = await next.reserve({ providerId: 'shared', rules: [{ metric: 'requests', window: 'day', limit: 1e9 }], amounts: { requests: 1 }, ttlMs: 60_000 });
    assert.ok(held.ok);
    await next.release(held.reservationId);
  } finally {
    await next.close();
  }
}
describe('SqlJsLedger under contention (real processes)', function () {
  this.timeout(180_000);
  let home: ReturnType<typeof tempHome>;
  before(async () => {
    bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-ledger-child-'));
    childBundle = path.join(bundleDir, 'contention-child.cjs');
    await build({ entryPoints: [CHILD_SOURCE], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: childBundle, logLevel: 'error' });
    fs.copyFileSync(require.resolve('sql.js/dist/sql-wasm.wasm'), path.join(bundleDir, 'sql-wasm.wasm'));
  });
  after(() => fs.rmSync(bundleDir, { recursive: true, force: true }));
  const live = new Set<ChildProcess>();
  beforeEach(() => {
    home = tempHome();
  });
  /** Set by a test that restarts killed workers: afterEach's own kills must not restart them. */
  let stopRestarts = () => undefined as void;
  afterEach(async () => {
    stopRestarts();
    for (const c of live) {
      c.kill('SIGKILL');
      await exited(c);
    }
    live.clear();
    home.cleanup();
  });

  it(`${WORKERS} processes × ${OPS} operations with lock holders killed by SIGKILL: 0 lost, 0 double-counted`, async () => {
    const logs = Array.from({ length: WORKERS }, (_, w) => path.join(home.dir, `worker-${w}.log`));
    const running: ChildProcess[] = [];
    const finished = Array.from({ length: WORKERS }, () => false);
    const launch = (w: number) => {
      const child = start(['ops', home.file, String(w), String(OPS), logs[w]!]);
      running[w] = child;
      live.add(child);
      void exited(child).then((code) => {
        live.delete(child);
        if (code === 0) finished[w] = true;
      });
    };
    for (let w = 0; w < WORKERS; w++) launch(w);

    // Kill whoever holds the lock when progress passes each mark; keep going until at least one kill left a
    // stale lock behind (the holder died inside its critical section), then let everyone finish.
    const marks = [0.2, 0.45, 0.7];
    const kills: Array<{ worker: number; heldLock: boolean; progress: number }> = [];
    const lockPath = `${home.file}.lock`;
    const deadline = Date.now() + 170_000; // a hang guard only
    let progress = 0;
    let progressAt = 0;
    while (!finished.every(Boolean)) {
      assert.ok(Date.now() < deadline, `contention test stalled: ${JSON.stringify(kills)}`);
      await new Promise((r) => setTimeout(r, 2));
      if (Date.now() - progressAt > 50) {
        // Counting log lines is the costly part of this loop: not every tick, the workers need the CPU.
        progress = logs.reduce((n, l) => n + readLines(l).length, 0) / (WORKERS * OPS);
        progressAt = Date.now();
      }
      const wantKill = kills.length < marks.length ? progress >= marks[kills.length]! : !kills.some((k) => k.heldLock) && kills.length < 10 && progress < 0.95;
      if (!wantKill) continue;
      let holderPid: number | undefined;
      try {
        holderPid = JSON.parse(fs.readFileSync(lockPath, 'utf8')).pid;
      } catch {
        continue; // no holder this instant (or a lock half-written): try again in a moment
      }
      const w = running.findIndex((c) => c.pid === holderPid && c.exitCode === null && c.signalCode === null);
      if (w < 0) continue;
      const victim = running[w]!;
      victim.kill('SIGKILL');
      await exited(victim);
      let heldLock = false;
      try {
        heldLock = JSON.parse(fs.readFileSync(lockPath, 'utf8')).pid === victim.pid;
      } catch {
        // lock released or already taken over
      }
      kills.push({ worker: w, heldLock, progress });
      launch(w); // restarted, it finishes its share
    }

    assert.ok(kills.length >= 3, `kills: ${JSON.stringify(kills)}`);
    assert.ok(kills.some((k) => k.heldLock), `no kill hit a lock holder inside its critical section: ${JSON.stringify(kills)}`);

    // What the workers say they completed.
    const settledByWorkers = new Set<string>();
    const releasedByWorkers = new Set<string>();
    for (const l of logs) {
      for (const line of readLines(l)) {
        const [what, id] = line.split(' ');
        (what === 'settled' ? settledByWorkers : releasedByWorkers).add(id!);
      }
    }
    const expectedSettled = new Set<string>();
    for (let w = 0; w < WORKERS; w++) for (let i = 0; i < OPS; i++) if (i % 5 !== 4) expectedSettled.add(`w${w}-${i}`);
    assert.equal(settledByWorkers.size, expectedSettled.size);
    assert.equal(releasedByWorkers.size, WORKERS * OPS - expectedSettled.size);

    // What the ledger file holds, read independently of the ledger code.
    const ids = (await query(home.file, 'SELECT id FROM calls')).map((r) => String(r[0]));
    assert.equal(ids.length, new Set(ids).size);
    assert.deepEqual([...ids].sort(), [...expectedSettled].sort(), 'every settled op recorded exactly once, no released op recorded');
    const usage = Object.fromEntries((await query(home.file, 'SELECT metric, SUM(used) FROM usage GROUP BY metric')).map((r) => [r[0], r[1]]));
    assert.deepEqual(usage, { requests: expectedSettled.size, tokens: expectedSettled.size * 10 }, 'aggregates match the call rows: nothing half-recorded');
    const spend = (await query(home.file, 'SELECT SUM(calls), SUM(baseline_usd) FROM spend'))[0]!;
    assert.deepEqual(spend, [expectedSettled.size, expectedSettled.size]);
    // Only reservations of killed in-flight operations can remain, and they expire with their TTL.
    const openReservations = Number((await query(home.file, 'SELECT count(*) FROM reservations'))[0]![0]);
    assert.ok(openReservations <= kills.length, `${openReservations} reservations left after ${kills.length} kills`);
    await useAsNextProcess(home.file);
    const left = fs.readdirSync(home.dir).filter((n) => n.includes('.tmp-') || n.endsWith('.lock'));
    assert.deepEqual(left, [], 'no temp file or lock left once the next user has run');
  });

  it(`${WORKERS} processes compacting every few calls, killed at the compaction crash point and as lock holders: 0 lost, 0 double-counted`, async () => {
    const ops = 300;
    const logs = Array.from({ length: WORKERS }, (_, w) => path.join(home.dir, `worker-${w}.log`));
    const crashLog = path.join(home.dir, 'crashes');
    // Compact whenever the log outgrows the snapshot (every 15-80 calls here); 1 in 8 compactions (those run by
    // open() included) kills its own process between writing the snapshot and removing the folded-in log.
    const env = { SB_TEST_COMPACT_BYTES: '1', SB_TEST_CRASH_AT_SNAPSHOT: '0.125', SB_TEST_CRASH_LOG: crashLog };
    const running: ChildProcess[] = [];
    const finished = Array.from({ length: WORKERS }, () => false);
    const failures: string[] = [];
    /** Pids of workers that died by SIGKILL (and were restarted). */
    const killedPids: number[] = [];
    /** Pids the test itself killed as lock holders. */
    const killedByTest = new Set<number>();
    let active = true; // after the test, afterEach's kills must not restart anyone
    const launch = (w: number) => {
      if (!active) return;
      const child = start(['ops', home.file, String(w), String(ops), logs[w]!], env);
      running[w] = child;
      live.add(child);
      void exited(child).then((code) => {
        live.delete(child);
        if (code === 0) finished[w] = true;
        else if (code === 'SIGKILL' && active) {
          killedPids.push(child.pid!);
          launch(w); // killed (by itself at the crash point, or by the test): restarted, it finishes its share
        } else failures.push(`worker ${w} exited with ${code}`);
      });
    };
    for (let w = 0; w < WORKERS; w++) launch(w);
    stopRestarts = () => {
      active = false;
    };
    const marks = [0.25, 0.5, 0.75];
    let holderKills = 0;
    const deadline = Date.now() + 170_000; // a hang guard only
    let progress = 0;
    let progressAt = 0;
    while (!finished.every(Boolean)) {
      assert.deepEqual(failures, []);
      assert.ok(Date.now() < deadline, `stalled at ${progress}`);
      await new Promise((r) => setTimeout(r, 2));
      if (Date.now() - progressAt > 50) {
        progress = logs.reduce((n, l) => n + readLines(l).length, 0) / (WORKERS * ops);
        progressAt = Date.now();
      }
      if (holderKills >= marks.length || progress < marks[holderKills]!) continue;
      let holderPid: number | undefined;
      try {
        holderPid = JSON.parse(fs.readFileSync(`${home.file}.lock`, 'utf8')).pid;
      } catch {
        continue;
      }
      const victim = running.find((c) => c.pid === holderPid && c.exitCode === null && c.signalCode === null);
      if (!victim) continue;
      victim.kill('SIGKILL');
      killedByTest.add(victim.pid!);
      await exited(victim);
      holderKills++;
    }
    assert.deepEqual(failures, []);
    // A worker can reach the crash point and SIGKILL itself while it holds the lock, just as the test picks it
    // as the holder to kill: one death, both counted. So deaths are matched by pid, not by adding up counts.
    const crashedPids = new Set(fs.existsSync(crashLog) ? fs.readFileSync(crashLog, 'utf8').split('\n').filter(Boolean).map((l) => Number(l.split(' ')[1])) : []);
    assert.ok(crashedPids.size >= 1, 'no worker died at the compaction crash point');
    const restarts = killedPids.length;
    assert.equal(new Set(killedPids).size, restarts, 'each death restarted once');
    assert.deepEqual([...killedPids].sort(), [...new Set([...crashedPids, ...killedByTest])].sort(), 'every death explained by a crash point or a kill of the test, and every one restarted');

    const expectedSettled: string[] = [];
    for (let w = 0; w < WORKERS; w++) for (let i = 0; i < ops; i++) if (i % 5 !== 4) expectedSettled.push(`w${w}-${i}`);
    const settledByWorkers = new Set(logs.flatMap(readLines).filter((l) => l.startsWith('settled ')).map((l) => l.split(' ')[1]));
    assert.equal(settledByWorkers.size, expectedSettled.length);
    const ids = (await query(home.file, 'SELECT id FROM calls')).map((r) => String(r[0]));
    assert.deepEqual([...ids].sort(), [...expectedSettled].sort(), 'every settled op recorded exactly once, no released op recorded');
    const usage = Object.fromEntries((await query(home.file, 'SELECT metric, SUM(used) FROM usage GROUP BY metric')).map((r) => [r[0], r[1]]));
    assert.deepEqual(usage, { requests: expectedSettled.length, tokens: expectedSettled.length * 10 });
    assert.deepEqual((await query(home.file, 'SELECT SUM(calls) FROM spend'))[0], [expectedSettled.length]);
    const compactions = Number((await query(home.file, "SELECT value FROM meta WHERE key = 'compactions'"))[0]![0]);
    assert.ok(compactions >= 10, `${compactions} compactions`);
    const openReservations = Number((await query(home.file, 'SELECT count(*) FROM reservations'))[0]![0]);
    assert.ok(openReservations <= restarts, `${openReservations} reservations left after ${restarts} kills`);
    await useAsNextProcess(home.file);
    assert.deepEqual(fs.readdirSync(home.dir).filter((n) => n.includes('.tmp-') || n.endsWith('.lock') || n.includes('.corrupt-') || n.includes('.orphan-')), []);
  });

  /** 4 workers in `mode` (quota or budget), started together once all are ready; their logged outcomes. */
  async function race(mode: 'quota' | 'budget', tries: number, env: Record<string, string> = {}): Promise<string[]> {
    const go = path.join(home.dir, 'go');
    const logs = Array.from({ length: 4 }, (_, w) => path.join(home.dir, `${mode}-${w}.log`));
    const children = logs.map((log, w) => start([mode, home.file, String(w), String(tries), log, go], env));
    children.forEach((c) => live.add(c));
    await Promise.all(children.map((c) => new Promise<void>((resolve) => c.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()))));
    fs.writeFileSync(go, '');
    assert.deepEqual(await Promise.all(children.map(exited)), [0, 0, 0, 0]);
    return logs.flatMap(readLines);
  }

  it('never grants more than the quota when 4 processes race for the last 50 requests', async () => {
    const lines = await race('quota', 30);
    assert.equal(lines.length, 120);
    assert.equal(lines.filter((l) => l === 'ok').length, 50);
    assert.equal(Number((await query(home.file, "SELECT SUM(used) FROM usage WHERE provider = 'quota'"))[0]![0]), 50);
  });

  it('never grants more than the quota when 4 processes race for 1,000 requests in bursts (quota leases), and counts every call', async () => {
    const lines = await race('quota', 300, { SB_TEST_QUOTA_LIMIT: '1000' });
    assert.equal(lines.length, 1200);
    const granted = lines.filter((l) => l === 'ok').length;
    // Leases only while 1% of what is left covers two calls or more: near the limit every call reserves alone, so
    // at most a few leases' worth could be held by a worker whose other calls were refused meanwhile.
    assert.ok(granted <= 1000, `granted ${granted} of 1,000`);
    assert.ok(granted >= 1000 - 4 * LEASE_CALLS, `granted only ${granted} of 1,000`);
    assert.equal(Number((await query(home.file, "SELECT SUM(used) FROM usage WHERE provider = 'quota'"))[0]![0]), granted);
    assert.deepEqual(await query(home.file, "SELECT count(*) FROM reservations WHERE provider = 'quota'"), [[0]], 'every lease given back on close');
  });

  it('never overshoots budget_usd_month when 4 processes race for its last dollars (held by reservation, not read from spend)', async () => {
    const lines = await race('budget', 6);
    assert.equal(lines.length, 24);
    assert.equal(lines.filter((l) => l === 'ok').length, 10);
    const spent = Number((await query(home.file, 'SELECT SUM(usd) FROM spend'))[0]![0]);
    assert.ok(spent <= 1 + 1e-9, `spent $${spent} of a $1 budget`);
  });
});
