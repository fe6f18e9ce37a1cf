import type { Clock } from './types';

/** Options, warnings and statistics of the sql.js ledger's shared file (sqljs-store.ts). */

export interface LedgerWarning {
  code: 'ledger_corrupt';
  message: string;
  file: string;
  setAsideAs: string;
}

export interface SharedSqlJsFileOptions {
  file: string;
  clock: Clock;
  /**
   * The log is folded into a new snapshot once it is larger than both this many bytes and the snapshot (so the
   * files never take more than twice the snapshot, and a starting process replays at most that much).
   * Default 64 KiB; a call (reserve + settle) adds about 1.5 KB.
   */
  compactLogBytes?: number;
  /**
   * Called during a compaction after the new snapshot is in place and before the log it folded in is removed:
   * the one crash point that leaves both behind. For crash tests only.
   */
  onSnapshotWritten?: () => void;
  /** Told when the file was unreadable and set aside; core code never prints. */
  onWarning?: (warning: LedgerWarning) => void;
  /** leaseMs: how long the lock stays ours after a change (FileLock); 0 releases it at once. */
  lock?: { staleMs?: number; acquireTimeoutMs?: number; leaseMs?: number };
}

/** What this instance has done, for tests and benchmarks. */
export interface LedgerStats {
  /** Full reads of the snapshot file. */
  snapshotLoads: number;
  /** Log records replayed from other processes' changes (or, after a reload, our own). */
  recordsApplied: number;
  /** Log records appended by this instance. */
  recordsAppended: number;
  /** Snapshots written by this instance (compactions, and the first file). */
  snapshotsWritten: number;
  /** Torn log tails this instance truncated as lock holder. */
  tornTailsTruncated: number;
  /** Records fdatasync'ed before their change returned (settles whose reservation was not synced here). */
  recordsSynced: number;
  /** Records fdatasync'ed in the background while their caller went on (reservations). */
  recordsSyncedInBackground: number;
  /** Times this instance acquired the lock file (back-to-back changes on one lease count once). */
  lockAcquisitions: number;
  /** Bytes of the current log applied by this instance. */
  logOffset: number;
}

/** What a change made under the lock returns (SharedSqlJsFile.mutate). */
export interface Mutation<T> {
  result: T;
  /** Nothing to write when false (the transaction is rolled back). */
  changed: boolean;
  /**
   * true: fdatasync the log record, so the change survives a power cut before the promise resolves.
   * 'background': start the fdatasync and resolve at once; onSynced gets a promise of its outcome (true: on disk).
   */
  durable?: boolean | 'background';
  onSynced?: (synced: Promise<boolean>) => void;
}
