/**
 * The workspace write lock: one writer at a time across every process (extension, sidecar, CLI). It is the
 * shared cross-process FileLock (src/core/file-lock.ts — a dead owner's lock is taken over at once, a lock is
 * never granted twice) on `.switchboard/write.lock`; callers inside one process queue on a promise chain
 * instead of polling the file. A process keeps one file per workspace, `.switchboard/write.tmp-<pid>-l<hex>`,
 * that it links as the lock for each operation (`dispose` removes it, and so does the process's exit;
 * `sweepDead` removes those of killed processes).
 */
import path from 'node:path';
import { UserError } from '../errors';
import { FileLock, removeOrphanTemps } from '../file-lock';

/** A lock held this long without release is stale even when its owner cannot be checked (pid reuse, another host). */
const STALE_MS = 30_000;

const inProcess = new Map<string, Promise<unknown>>();
/** One FileLock per lock file in a process, so every instance on a workspace shares one kept lock file. */
const fileLocks = new Map<string, FileLock>();

export class WorkspaceLock {
  private readonly lock: FileLock;

  /** `target` is the lock's base name: the lock file is `<target>.lock`. */
  constructor(private readonly target: string, private readonly timeoutMs = 15_000) {
    // One lock file kept per process and workspace, linked as the lock for each operation: creating and freeing a
    // file per write was a tenth of a write's time on file systems where that is slow (FileLockOptions.reuseLockFile).
    // Shared by the instances on one workspace: they take turns through `inProcess`, so it is never used twice at once.
    let lock = fileLocks.get(target);
    if (!lock) fileLocks.set(target, (lock = new FileLock(target, { staleMs: STALE_MS, acquireTimeoutMs: timeoutMs, reuseLockFile: true })));
    this.lock = lock;
  }

  /** Removes the kept lock file, after the operations queued before this call (a later `run` makes a new one). */
  dispose(): Promise<void> {
    return this.queued(async () => this.lock.dispose());
  }

  /** Removes the kept lock files of processes that no longer exist (a killed process cannot remove its own). */
  sweepDead(): void {
    removeOrphanTemps(this.target);
  }

  /** Runs fn while holding the lock. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    return this.queued(async () => {
      if (!(await this.lock.acquireWithin(this.timeoutMs))) {
        throw new UserError('The workspace is busy: another Switchboard process is writing files; try again', 'workspace_busy');
      }
      try {
        return await fn();
      } finally {
        this.lock.release();
      }
    });
  }

  /** Runs fn after everything queued before it in this process (on this lock's file). */
  private async queued<T>(fn: () => Promise<T>): Promise<T> {
    const previous = inProcess.get(this.target) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    inProcess.set(this.target, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (inProcess.get(this.target) === tail) inProcess.delete(this.target);
    }
  }
}

/** The write lock's base name in a workspace's state folder (the file is `write.lock`). */
export function lockFileFor(stateDir: string): string {
  return path.join(stateDir, 'write');
}
