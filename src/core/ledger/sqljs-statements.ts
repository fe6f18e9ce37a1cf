import type { Database, SqlValue, Statement } from 'sql.js';
import type { LoggedStatement } from './oplog';

/**
 * The statements run on one in-memory copy of the ledger database (sqljs-store.ts owns the files). A change
 * records what it runs, for the log. Its hot paths can instead *defer* statements: they are logged as usual
 * but run on the copy only when something next reads or writes it through SQL (or the copy is exported),
 * so a change that finds everything it needs in the ledger's JS mirror (sqljs-mirror.ts) costs no SQLite work
 * at all. The order of statements on the copy stays the order of the log.
 *
 * `epoch` changes whenever the copy changes other than by deferred statements (a replayed record, a statement
 * run now, a rolled-back change): what the mirror read before is then stale.
 */

/** Every copy gets epochs no other copy had, so a mirror filled from a dropped copy never looks current. */
let lastEpoch = 0;

/** Each statement's text as logged (whitespace collapsed), by its source text. */
const loggedSql = new Map<string, string>();

function logged(sql: string): string {
  let text = loggedSql.get(sql);
  if (text === undefined) {
    text = sql.replace(/\s+/g, ' ').trim();
    loggedSql.set(sql, text);
  }
  return text;
}

export class SqlStatements {
  epoch = ++lastEpoch;
  /** A deferred statement failed when run: the copy lacks logged changes, and its owner must drop it. */
  broken = false;
  private readonly cache = new Map<string, Statement>();
  private readonly columnNames = new WeakMap<Statement, string[]>();
  /** Statements of the change in progress, to be logged when it commits; undefined outside a change. */
  private pending: LoggedStatement[] | undefined;
  /** The change in progress has begun a transaction (it ran a statement on the copy). */
  private inTransaction = false;
  /** Deferred statements of the change in progress (run at its first SQL, or kept when it commits). */
  private deferredNow: LoggedStatement[] = [];
  /** Deferred statements of committed changes, not yet run on the copy. */
  private deferred: LoggedStatement[] = [];

  constructor(readonly db: Database) {}

  /** Starts recording a change. */
  beginChange(): void {
    this.pending = [];
    this.deferredNow = [];
    this.inTransaction = false;
  }

  /**
   * Ends the change: kept (`changed`) or undone. Returns the statements to log when kept. A change that ran
   * nothing on the copy keeps its deferred statements for later, or just forgets them.
   */
  endChange(changed: boolean): LoggedStatement[] {
    const statements = this.pending ?? [];
    this.pending = undefined;
    if (this.inTransaction) {
      this.inTransaction = false;
      this.control(changed ? 'COMMIT' : 'ROLLBACK');
      if (!changed) this.bump();
    } else if (changed) {
      for (const s of this.deferredNow) this.deferred.push(s);
    }
    this.deferredNow = [];
    return changed ? statements : [];
  }

  /** The change failed: undo what it ran; whatever a mirror read during it is stale. */
  abortChange(): void {
    this.pending = undefined;
    this.deferredNow = [];
    if (this.inTransaction) {
      this.inTransaction = false;
      this.control('ROLLBACK');
    }
    this.bump();
  }

  /** Runs a changing statement now, recording it for the log. */
  run(sql: string, params: SqlValue[]): void {
    const text = logged(sql);
    this.ensureTransaction();
    this.stmt(text).run(params);
    this.pending?.push([text, params]);
    this.bump();
  }

  /**
   * Records a changing statement for the log and runs it on the copy later. Only for statements whose effect
   * the caller's mirror already accounts for (the mirror stays current: the epoch does not change).
   */
  defer(sql: string, params: SqlValue[]): void {
    if (!this.pending) throw new Error('ledger: a deferred statement outside a change');
    const statement: LoggedStatement = [logged(sql), params];
    this.pending.push(statement);
    if (this.inTransaction) this.stmt(statement[0]).run(params);
    else this.deferredNow.push(statement);
  }

  all(sql: string, params: SqlValue[]): Array<Record<string, SqlValue>> {
    // A read sees every change before it: this change's deferred statements, or else earlier changes' ones.
    if (this.deferredNow.length) this.ensureTransaction();
    else this.flushDeferred();
    const s = this.stmt(sql);
    try {
      s.bind(params);
      const rows: Array<Record<string, SqlValue>> = [];
      while (s.step()) {
        // getAsObject asks SQLite for the column names on every row; they are fixed per statement.
        let names = this.columnNames.get(s);
        if (!names) this.columnNames.set(s, (names = s.getColumnNames()));
        const values = s.get();
        const row: Record<string, SqlValue> = {};
        for (let i = 0; i < names.length; i++) row[names[i]!] = values[i] as SqlValue;
        rows.push(row);
      }
      return rows;
    } finally {
      s.reset();
    }
  }

  /** Rows changed by the last statement run now. */
  changes(): number {
    return this.db.getRowsModified();
  }

  /** Applies another process's logged change (after ours, which come first in the log: flushDeferred first). */
  replay(statements: LoggedStatement[]): void {
    this.bump();
    this.runTransaction(statements);
  }

  /** Runs every deferred statement of committed changes on the copy (in one transaction). */
  flushDeferred(): void {
    if (!this.deferred.length || this.inTransaction) return;
    const statements = this.deferred;
    this.deferred = [];
    try {
      this.runTransaction(statements);
    } catch (err) {
      // They were logged and replay for everyone else; this copy is now wrong, and its owner drops it.
      this.broken = true;
      this.bump();
      throw err;
    }
  }

  close(): void {
    for (const s of this.cache.values()) s.free();
    this.cache.clear();
    this.db.close();
    this.bump();
  }

  private ensureTransaction(): void {
    if (this.inTransaction) return;
    this.flushDeferred();
    if (!this.pending) return; // outside a change: the statement commits alone
    this.control('BEGIN');
    this.inTransaction = true;
    const now = this.deferredNow;
    this.deferredNow = [];
    this.runEach(now);
  }

  /** BEGIN, the statements, COMMIT; on a failure, ROLLBACK and the failure. */
  private runTransaction(statements: LoggedStatement[]): void {
    this.control('BEGIN');
    try {
      this.runEach(statements);
    } catch (err) {
      try {
        this.control('ROLLBACK');
      } catch {
        // the statement's failure is the one to report
      }
      throw err;
    }
    this.control('COMMIT');
  }

  private runEach(statements: LoggedStatement[]): void {
    for (const [sql, params] of statements) this.stmt(sql).run(params);
  }

  private bump(): void {
    this.epoch = ++lastEpoch;
  }

  /** BEGIN, COMMIT, ROLLBACK as cached statements: Database.run would parse them again on every change. */
  private control(sql: 'BEGIN' | 'COMMIT' | 'ROLLBACK'): void {
    this.stmt(sql).run();
  }

  private stmt(sql: string): Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }
}
