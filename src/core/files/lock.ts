/**
 * The workspace write lock: one writer at a time across every process (extension, sidecar, CLI). It is the
 * shared cross-process FileLock (src/core/file-lock.ts — a dead owner's lock is taken over at once, a lock is
 * never granted twice) on `.switchboard/write.lock`; callers inside one process queue on a promise chain
 * instead of polling the file.
 */
import path from 'node:path';
import { UserError } from '../errors';
import { FileLock } from '../file-lock';

/** A lock held this long without release is stale even when its owner cannot be checked (pid reuse, another host). */
const STALE_MS = 30_000;

const inProcess = new Map<string, Promise<unknown>>();

export class WorkspaceLock {
  private readonly lock: FileLock;

  /** `target` is the lock's base name: the lock file is `<target>.lock`. */
  constructor(private readonly target: string, private readonly timeoutMs = 15_000) {
    this.lock = new FileLock(target, { staleMs: STALE_MS, acquireTimeoutMs: timeoutMs });
  }

  /** Runs fn while holding the lock. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = inProcess.get(this.target) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    inProcess.set(this.target, tail);
    await previous;
    try {
      if (!(await this.lock.acquireWithin(this.timeoutMs))) {
        throw new UserError('The workspace is busy: another Switchboard process is writing files; try again', 'workspace_busy');
      }
      try {
        return await fn();
      } finally {
        this.lock.release();
      }
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
