import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileLock } from '../../src/core/file-lock';
import { processAlive } from '../../src/core/process-alive';
import { exited, useTempHome } from './ledger/helpers';

const CHILD = path.join(__dirname, 'ledger', 'fixtures', 'lock-child.ts');

function startChild(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
}

/** A hang guard only: six children starting at once on a machine shared by many can take most of a minute. */
function waitForLine(child: ChildProcess, line: string, timeoutMs = 90_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`child did not print "${line}"`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** A pid that certainly belongs to no process: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await exited(child);
  return child.pid!;
}

describe('FileLock (cross-process)', function () {
  this.timeout(240_000); // hang guard: child processes start slowly on a loaded machine
  const fx = useTempHome();
  const { children } = fx;

  it('is exclusive within one process too, and release lets the next one in', () => {
    const a = new FileLock(fx.home.file);
    const b = new FileLock(fx.home.file);
    assert.equal(a.tryAcquire(), true);
    assert.equal(b.tryAcquire(), false, 'a live holder (even this very process) is never stale');
    a.release();
    assert.equal(b.tryAcquire(), true);
    assert.equal(a.stillHeld(), false);
    assert.equal(b.stillHeld(), true);
    b.release();
    assert.equal(fs.existsSync(`${fx.home.file}.lock`), false);
  });

  it('takes over at once from a holder killed with SIGKILL, long before the age limit', async () => {
    const holder = startChild(['hold', fx.home.file]);
    children.push(holder);
    await waitForLine(holder, 'held');
    const waiter = new FileLock(fx.home.file, { staleMs: 60_000, acquireTimeoutMs: 20_000 });
    assert.equal(waiter.tryAcquire(), false);
    holder.kill('SIGKILL');
    await exited(holder);
    assert.equal(processAlive(holder.pid!), false);
    // staleMs is 60 s and acquire gives up after 20 s: only the dead-owner check can let us in.
    await waiter.acquire();
    assert.equal(waiter.stillHeld(), true);
    waiter.release();
  });

  for (const reuse of [false, true]) {
    it(`never grants a dead owner's lock twice when many processes break it at once${reuse ? ' (reuseLockFile)' : ''}`, async () => {
      fs.writeFileSync(`${fx.home.file}.lock`, JSON.stringify({ pid: await deadPid(), host: os.hostname(), token: 'dead', at: 0 }));
      const log = path.join(fx.home.dir, 'critical.log');
      const go = path.join(fx.home.dir, 'go');
      const workers = Array.from({ length: 6 }, () => startChild(['critical', fx.home.file, log, '25', go], reuse ? { SB_TEST_REUSE_LOCK: '1' } : {}));
      children.push(...workers);
      await Promise.all(workers.map((w) => waitForLine(w, 'ready')));
      fs.writeFileSync(go, ''); // all six meet the dead owner's lock within a millisecond or two
      await Promise.all(workers.map(exited));
      assert.deepEqual(workers.map((w) => w.exitCode), [0, 0, 0, 0, 0, 0]);
      const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
      assert.equal(lines.length, 6 * 25 * 2);
      // Strict alternation: every enter is followed by the same process's exit before anyone else enters.
      for (let i = 0; i < lines.length; i += 2) {
        const [e, pid, n] = lines[i]!.split(' ');
        assert.equal(e, 'enter');
        assert.equal(lines[i + 1], `exit ${pid} ${n}`, `overlap at line ${i}`);
      }
      assert.equal(fs.readdirSync(fx.home.dir).filter((n) => n.includes('.lock')).length, 0, 'no lock or break marker left behind');
      assert.deepEqual(fs.readdirSync(fx.home.dir).filter((n) => n.includes('.tmp-')), [], 'no temp file left behind (a kept lock file goes at exit)');
    });
  }

  it('a breaker that read a stale lock late does not remove the lock a live process took meanwhile', () => {
    const lockPath = `${fx.home.file}.lock`;
    return deadPid().then((pid) => {
      fs.writeFileSync(lockPath, JSON.stringify({ pid, host: os.hostname(), token: 'dead', at: 0 }));
      const slow = new FileLock(fx.home.file) as any;
      const fast = new FileLock(fx.home.file);
      // The slow breaker has read the dead owner's lock and is about to break it...
      const found = lockAsSeen(lockPath);
      // ...when the fast one breaks it and takes the lock.
      assert.equal(fast.tryAcquire(), true);
      slow.breakStale(found);
      assert.equal(fast.stillHeld(), true, 'the live holder\'s lock survives');
      assert.equal(slow.tryAcquire(), false);
      fast.release();
      assert.deepEqual(fs.readdirSync(fx.home.dir), [], 'no break marker left behind');
    });
  });

  it('reuseLockFile: links one kept file per acquisition, with a fresh owner token once the last is staleMs/4 old, and dispose removes it', async () => {
    const lockPath = `${fx.home.file}.lock`;
    const staleMs = 200;
    const a = new FileLock(fx.home.file, { reuseLockFile: true, staleMs });
    const b = new FileLock(fx.home.file, { reuseLockFile: true, staleMs });
    assert.equal(a.tryAcquire(), true);
    const first = { ino: fs.statSync(lockPath).ino, owner: JSON.parse(fs.readFileSync(lockPath, 'utf8')) };
    assert.equal(b.tryAcquire(), false);
    a.release();
    assert.equal(fs.existsSync(lockPath), false);
    assert.equal(a.tryAcquire(), true);
    const second = { ino: fs.statSync(lockPath).ino, owner: JSON.parse(fs.readFileSync(lockPath, 'utf8')) };
    assert.equal(second.ino, first.ino, 'the same file, linked again');
    assert.deepEqual(second.owner, first.owner, 'a fresh record is not written again');
    a.release();
    await new Promise((resolve) => setTimeout(resolve, staleMs / 4 + 10));
    assert.equal(a.tryAcquire(), true);
    const third = { ino: fs.statSync(lockPath).ino, owner: JSON.parse(fs.readFileSync(lockPath, 'utf8')) };
    assert.equal(third.ino, first.ino);
    assert.equal(third.owner.pid, process.pid);
    assert.notEqual(third.owner.token, first.owner.token, 'an older record is replaced, with a new token');
    assert.equal(a.stillHeld(), true);
    a.release();
    assert.equal(b.tryAcquire(), true);
    assert.equal(a.tryAcquire(), false);
    b.release();
    a.dispose();
    b.dispose();
    assert.deepEqual(fs.readdirSync(fx.home.dir), [], 'dispose removes the kept files');
  });

  it('reuseLockFile: a breaker that judged an earlier holding stale does not remove the lock retaken with the same file', async () => {
    const lockPath = `${fx.home.file}.lock`;
    const staleMs = 100;
    const holder = new FileLock(fx.home.file, { reuseLockFile: true, staleMs });
    const breaker = new FileLock(fx.home.file, { staleMs }) as any;
    assert.equal(holder.tryAcquire(), true);
    // The breaker read this holding and found it older than staleMs (the holder stalled that long)...
    const found = lockAsSeen(lockPath);
    await new Promise((resolve) => setTimeout(resolve, staleMs + 10));
    // ...and before it breaks it, the holder releases and takes the lock again: same inode, new owner record.
    holder.release();
    assert.equal(holder.tryAcquire(), true);
    assert.equal(fs.statSync(lockPath).ino, found.ino);
    breaker.breakStale(found);
    assert.equal(holder.stillHeld(), true, 'the retaken lock survives');
    assert.equal(breaker.tryAcquire(), false);
    holder.dispose();
    assert.deepEqual(fs.readdirSync(fx.home.dir), [], 'no lock, break marker or kept file left behind');
  });

  it('reuseLockFile: a kept file swept while its process lives (judged stalled) is replaced at the next acquisition', () => {
    const lock = new FileLock(fx.home.file, { reuseLockFile: true });
    assert.equal(lock.tryAcquire(), true);
    lock.release();
    const kept = fs.readdirSync(fx.home.dir);
    assert.equal(kept.length, 1);
    fs.unlinkSync(path.join(fx.home.dir, kept[0]!)); // as a breaker's removeOrphanTemps(pid) does
    assert.equal(lock.tryAcquire(), true);
    assert.equal(lock.stillHeld(), true);
    lock.release();
    lock.dispose();
    assert.deepEqual(fs.readdirSync(fx.home.dir), []);
  });

  it('treats a lock from another host as live until it is older than staleMs', () => {
    const lockPath = `${fx.home.file}.lock`;
    fs.writeFileSync(lockPath, JSON.stringify({ pid: 1, host: 'elsewhere.example', token: 'remote', at: Date.now() }));
    const lock = new FileLock(fx.home.file, { staleMs: 5_000 });
    assert.equal(lock.tryAcquire(), false);
    const old = new Date(Date.now() - 6_000);
    fs.utimesSync(lockPath, old, old);
    assert.equal(lock.tryAcquire(), true);
    lock.release();
  });

  it('does not remove a lock it no longer holds when it releases', () => {
    const a = new FileLock(fx.home.file);
    assert.equal(a.tryAcquire(), true);
    // Someone judged a stale and replaced the lock with theirs.
    fs.writeFileSync(`${fx.home.file}.lock`, JSON.stringify({ pid: process.pid, host: os.hostname(), token: 'theirs', at: Date.now() }));
    assert.equal(a.stillHeld(), false);
    a.release();
    assert.equal(JSON.parse(fs.readFileSync(`${fx.home.file}.lock`, 'utf8')).token, 'theirs');
  });

  it('is never seen without its owner: created whole, so a waiter cannot mistake a new lock for an abandoned one', async () => {
    const go = path.join(fx.home.dir, 'go');
    const log = path.join(fx.home.dir, 'critical.log');
    const c = startChild(['critical', fx.home.file, log, '150', go]);
    children.push(c);
    await waitForLine(c, 'ready');
    fs.writeFileSync(go, '');
    let whole = 0;
    let empty = 0;
    const done = exited(c);
    let running = true;
    void done.then(() => (running = false));
    while (running) {
      try {
        const text = fs.readFileSync(`${fx.home.file}.lock`, 'utf8');
        if (text === '') empty++;
        else if (JSON.parse(text).pid === c.pid) whole++;
      } catch {
        // between holders
      }
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(empty, 0, 'the lock file was seen empty');
    assert.ok(whole > 10, `only ${whole} reads saw the lock held`);
    assert.equal(fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('enter')).length, 150);
    assert.deepEqual(fs.readdirSync(fx.home.dir).filter((n) => n.includes('.tmp-')), [], 'no temp file left by the acquisitions');
  });

  it('clears the temp file of an acquirer that died before linking it, when its lock is broken', () => {
    const dead = 2 ** 22 + 12345; // above Linux's pid_max default for 32-bit: certainly no process
    fs.writeFileSync(`${fx.home.file}.tmp-${dead}-l1`, JSON.stringify({ pid: dead, host: os.hostname(), token: 'x', at: 0 }));
    fs.writeFileSync(`${fx.home.file}.lock`, JSON.stringify({ pid: dead, host: os.hostname(), token: 'dead', at: Date.now() }));
    const lock = new FileLock(fx.home.file);
    assert.equal(lock.tryAcquire(), true);
    lock.release();
    assert.deepEqual(fs.readdirSync(fx.home.dir), []);
  });
});

/** The lock as a breaker reads it before judging it stale: its owner record, mtime and inode. */
function lockAsSeen(lockPath: string): { owner: { token: string }; mtimeMs: number; ino: number } {
  const seen = fs.statSync(lockPath);
  return { owner: JSON.parse(fs.readFileSync(lockPath, 'utf8')), mtimeMs: seen.mtimeMs, ino: seen.ino };
}
