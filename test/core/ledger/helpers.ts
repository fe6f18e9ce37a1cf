import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import initSqlJs, { type Database, type SqlValue } from 'sql.js';
import type { CallRecord } from '../../../src/core/ledger/types';
import { SqlJsLedger, type LedgerWarning, type SqlJsLedgerOptions } from '../../../src/core/ledger/sqljs-ledger';

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public nowMs: number) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

export function tempHome(): { dir: string; file: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-ledger-'));
  return { dir, file: path.join(dir, 'ledger.sqlite'), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A ledger directory's names, less the lock file each ledger open in this test process keeps between its
 * changes (`<file>.tmp-<this pid>-l<hex>`, removed by close()). Temps of any other process still show.
 */
export function ledgerDirNames(dir: string): string[] {
  const kept = new RegExp(`\\.tmp-${process.pid}-l[0-9a-f]+$`);
  return fs.readdirSync(dir).filter((n) => !kept.test(n)).sort();
}

export async function openAt(file: string, clock: ManualClock, options: Partial<SqlJsLedgerOptions> = {}): Promise<{ ledger: SqlJsLedger; warnings: LedgerWarning[] }> {
  const warnings: LedgerWarning[] = [];
  const ledger = await SqlJsLedger.open({ file, clock: clock.now, onWarning: (w) => warnings.push(w), ...options });
  return { ledger, warnings };
}

export function call(providerId: string, extra: Partial<CallRecord> = {}): CallRecord {
  return {
    providerId, model: 'm', tier: 'free', ok: true, amounts: { requests: 1, tokens: 100 }, inputTokens: 60, outputTokens: 40,
    costUsd: 0, baselineUsd: 0.001, ...extra,
  };
}

/**
 * What any process would see on disk, read without the ledger code: the snapshot, plus the records of the log
 * it continues (header id = the snapshot's meta log_id), each checked by length, complement and CRC-32 and
 * replayed statement by statement. Stops at the first incomplete or bad record, as the ledger does.
 */
export async function readLedgerOnDisk(file: string): Promise<Database> {
  const SQL = await initSqlJs();
  const db = new SQL.Database(fs.readFileSync(file));
  const logId = db.exec("SELECT value FROM meta WHERE key = 'log_id'")[0]?.values[0]?.[0];
  const log = fs.existsSync(`${file}.log`) ? fs.readFileSync(`${file}.log`) : Buffer.alloc(0);
  const header = log.subarray(0, 59).toString('latin1');
  if (logId === undefined || header !== `switchboard-ledger-log v1 ${String(logId)}\n`) return db;
  for (let p = 59; p + 12 <= log.length; ) {
    const len = log.readUInt32BE(p);
    if ((~len >>> 0) !== log.readUInt32BE(p + 4) || p + 12 + len > log.length) break;
    const payload = log.subarray(p + 12, p + 12 + len);
    if (zlib.crc32(payload) !== log.readUInt32BE(p + 8)) break;
    const statements = JSON.parse(payload.toString('utf8'), (_k, v) => (v && typeof v === 'object' && typeof v.$n === 'string' ? Number(v.$n) : v)) as Array<[string, SqlValue[]]>;
    db.run('BEGIN');
    for (const [sql, params] of statements) db.run(sql, params);
    db.run('COMMIT');
    p += 12 + len;
  }
  return db;
}

/** One query against what is on disk (see readLedgerOnDisk). */
export async function queryOnDisk(file: string, sql: string): Promise<unknown[][]> {
  const db = await readLedgerOnDisk(file);
  try {
    return db.exec(sql)[0]?.values ?? [];
  } finally {
    db.close();
  }
}

/**
 * Bundles fixtures/contention-child.ts the way the sidecar is bundled (wasm beside it), so `node` starts it in
 * tens of milliseconds. Returns the bundle's path and a cleanup.
 */
export async function bundleLedgerChild(): Promise<{ bundle: string; cleanup: () => void }> {
  const { build } = await import('esbuild');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-ledger-child-'));
  const bundle = path.join(dir, 'contention-child.cjs');
  await build({ entryPoints: [path.join(__dirname, 'fixtures', 'contention-child.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: bundle, logLevel: 'error' });
  fs.copyFileSync(require.resolve('sql.js/dist/sql-wasm.wasm'), path.join(dir, 'sql-wasm.wasm'));
  return { bundle, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Resolves with a child's exit code or signal (at once if it has exited already). */
export function exited(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode!);
    else child.once('exit', (code, signal) => resolve(code ?? signal!));
  });
}

export interface TempHomeFixture {
  /** This test's folder (a fresh one per test). */
  readonly home: ReturnType<typeof tempHome>;
  /** Children a test started: killed (and reaped) after it. */
  readonly children: ChildProcess[];
}

/**
 * Call inside describe: a fresh folder per test; after it, its children are killed, `beforeRemoval` runs (to
 * close what still uses the folder), and the folder is removed.
 */
export function useTempHome(beforeRemoval?: () => Promise<void>): TempHomeFixture {
  let home: ReturnType<typeof tempHome>;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    home = tempHome();
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      c.kill('SIGKILL');
      await exited(c);
    }
    await beforeRemoval?.();
    home.cleanup();
  });
  return {
    get home() {
      return home;
    },
    children,
  };
}

export interface LedgerFixture {
  /** This test's ledger folder (a fresh one per test). */
  readonly home: ReturnType<typeof tempHome>;
  /** A ledger on home.file, closed after the test unless untracked. */
  open(clock: ManualClock, options?: Partial<SqlJsLedgerOptions>): Promise<{ ledger: SqlJsLedger; warnings: LedgerWarning[] }>;
  /** Leaves a ledger unclosed (a test that stands for a process that died, or that closes it itself). */
  untrack(ledger: SqlJsLedger): void;
  /** Starts fixtures/contention-child.ts (bundled once per describe) with these arguments; killed after the test. */
  startChild(args: string[], env?: Record<string, string>): ChildProcess;
  /** Resolves when the child has printed `text`; rejects if it exits first. */
  printed(child: ChildProcess, text: string): Promise<void>;
}

/**
 * Call inside describe: registers the hooks the tests with real ledger files and child processes share (a
 * fresh folder per test; ledgers closed, children killed and folder removed after it).
 */
export function useLedgerFixture(): LedgerFixture {
  const opened: SqlJsLedger[] = [];
  let child: { bundle: string; cleanup: () => void };
  before(async () => {
    child = await bundleLedgerChild();
  });
  after(() => child.cleanup());
  const fx = useTempHome(async () => {
    for (const l of opened.splice(0)) await l.close();
  });
  return {
    get home() {
      return fx.home;
    },
    async open(clock, options = {}) {
      const result = await openAt(fx.home.file, clock, options);
      opened.push(result.ledger);
      return result;
    },
    untrack(ledger) {
      const i = opened.indexOf(ledger);
      if (i >= 0) opened.splice(i, 1);
    },
    startChild(args, env = {}) {
      const c = spawn(process.execPath, [child.bundle, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
      fx.children.push(c);
      return c;
    },
    printed(c, text) {
      return new Promise((resolve, reject) => {
        let seen = '';
        c.stdout!.on('data', (d: Buffer) => {
          seen += d.toString();
          if (seen.includes(text)) resolve();
        });
        c.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before printing "${text}"`)));
      });
    },
  };
}
