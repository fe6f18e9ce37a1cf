/** Small helpers of WorkspaceFiles.commit and recovery: settled promises, and a file's state on disk. */
import fs from 'node:fs';
import type { FileState } from './backups';
import { sha256 } from './durable';

export function noop(): void {}

export function settledValue<T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

export function settled(p: Promise<unknown>): Promise<{ ok: true } | { error: unknown }> {
  return p.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ error }),
  );
}

/** Waits for all (none is left running on an early failure), then throws the first failure. */
export async function allOrFirstError(tasks: Promise<unknown>[]): Promise<void> {
  const outcomes = await Promise.allSettled(tasks);
  for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
}

export interface DiskState {
  exists: boolean;
  sha256?: string;
}

export async function stateOf(file: string): Promise<DiskState> {
  try {
    const st = await fs.promises.lstat(file);
    if (!st.isFile()) return { exists: true };
    return { exists: true, sha256: sha256(await fs.promises.readFile(file)) };
  } catch {
    return { exists: false };
  }
}

export function matches(disk: DiskState, state: FileState): boolean {
  return state.exists ? disk.exists && disk.sha256 === state.sha256 : !disk.exists;
}

/** The state recorded for `state` is what is on disk now (`current`: its hash, undefined when there is no file). */
export function sameState(current: { sha256: string } | undefined, state: FileState): boolean {
  return state.exists ? !!current && current.sha256 === state.sha256 : !current;
}

/** Resolves once the work queued by the current turn (promise continuations, an answer's write) is done. */
export function afterThisTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
