import type { Pool, PoolClient, PoolConfig } from 'pg';
import { UserError } from '../../errors';

/**
 * The connection pool under the PostgreSQL ledger, with bounded waits everywhere: connecting, waiting for a
 * pooled client and running a statement all time out, so a database that goes away turns every ledger call
 * into a prompt LedgerUnavailable error (never a hang), and the pool reconnects by itself once it is back.
 */

export interface PgConnectionOptions {
  /** Connections in this process's pool. Default 10. */
  poolSize?: number;
  /** Connecting, and waiting for a free pooled connection. Default 5 s. */
  connectTimeoutMs?: number;
  /** Server-side limit per statement (statement_timeout), and a client-side one a little longer. Default 10 s. */
  statementTimeoutMs?: number;
}

/** The database is unreachable or went away mid-call: nothing was counted by the call that failed. */
export class LedgerUnavailable extends UserError {
  constructor(where: string, reason: string) {
    super(`The shared ledger at ${where} is unreachable (${reason}); the call was not counted. It is retried on the next call.`, 'ledger_unavailable');
  }
}

/** The URL without its password (or any query string), for messages and logs. */
export function describeLedgerUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

export async function createPool(url: string, options: PgConnectionOptions): Promise<Pool> {
  // Loaded here, not at the top: the sql.js default never pays for pg at start-up.
  const pg = await import('pg');
  const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
  const config: PoolConfig = {
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    lock_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + 2_000,
    keepAlive: true,
    application_name: 'switchboard-ledger',
  };
  const PoolClass = (pg.default?.Pool ?? (pg as unknown as { Pool: typeof Pool }).Pool);
  const pool = new PoolClass(config);
  // An idle connection dropped by the server (restart, failover) is reported here; without a listener Node
  // would end the process. The pool discards that connection and makes a new one on the next call.
  pool.on('error', () => undefined);
  return pool;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

/** True when err says the database cannot be reached (rather than that a statement was wrong). */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: string }).code ?? '';
  if (CONNECTION_CODES.has(code)) return true;
  // SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, crash, cannot connect now).
  if (/^08/.test(code) || /^57P0[123]$/.test(code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connect ECONNREFUSED|Client has encountered a connection error|server closed the connection/i.test(err.message);
}

/** Deadlock or serialization failure: the transaction had no effect and may simply run again. */
function isRetryable(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code === '40P01' || code === '40001';
}

/** Returned by a transaction's body: hand back `value` but roll back (e.g. a refused reservation writes nothing). */
export class RollBack<T> {
  constructor(readonly value: T) {}
}

export class PgRunner {
  constructor(private readonly pool: Pool, private readonly where: string) {}

  /** One statement on any pooled connection. */
  async query<R extends object = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw this.translate(err);
    }
  }

  /**
   * Runs fn in one transaction (READ COMMITTED; row locks do the serialising), retrying deadlocks a few times.
   * durable false: the commit does not wait for the WAL flush (synchronous_commit off for this transaction only),
   * as the sql.js ledger does not fdatasync a reservation — a power cut can lose one, and then it would only
   * have expired. Other processes see it the moment it commits either way.
   */
  async transaction<T>(fn: (client: PoolClient) => Promise<T | RollBack<T>>, durable = true): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let client: PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw this.translate(err);
      }
      let broken: Error | undefined;
      // Between statements the server may go away; the next statement reports it, this only keeps Node alive.
      const onError = (e: Error) => (broken = e);
      client.on('error', onError);
      try {
        await client.query(durable ? 'BEGIN' : 'BEGIN; SET LOCAL synchronous_commit TO OFF');
        const out = await fn(client);
        if (out instanceof RollBack) {
          await client.query('ROLLBACK');
          return out.value as T;
        }
        await client.query('COMMIT');
        return out;
      } catch (err) {
        if (isConnectionError(err)) broken = err as Error;
        else await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        if (!broken && isRetryable(err) && attempt < 4) continue;
        throw this.translate(err);
      } finally {
        // A connection that failed is destroyed, not returned to the pool.
        client.off('error', onError);
        client.release(broken);
      }
    }
  }

  async withClient<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.translate(err);
    }
    let broken: Error | undefined;
    const onError = (e: Error) => (broken = e);
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (err) {
      if (isConnectionError(err)) broken = err as Error;
      throw this.translate(err);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  translate(err: unknown): unknown {
    if (err instanceof UserError) return err;
    if (isConnectionError(err)) return new LedgerUnavailable(this.where, (err as Error).message || (err as { code?: string }).code || 'connection failed');
    return err;
  }
}
