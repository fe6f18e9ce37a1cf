import type { PoolClient } from 'pg';
import { UserError } from '../../errors';

/**
 * The PostgreSQL ledger's schema, as numbered migrations applied in order on start. Everything lives in the
 * `switchboard` schema; `switchboard.schema_migrations` records what was applied. Start-up takes a session
 * advisory lock first, so replicas starting together migrate once (the others wait, then find nothing to do).
 * A migration never changes once released: a change is a new one.
 */

export const LEDGER_SCHEMA = 'switchboard';
/** Arbitrary, fixed: the pg_advisory_lock key of ledger migrations ("SWLG"). */
export const MIGRATION_LOCK_KEY = 0x53574c47;

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'usage counters, reservations, calls, spend, thresholds, cooldowns, circuits',
    sql: `
      CREATE TABLE switchboard.usage (
        counter text NOT NULL, metric text NOT NULL, win text NOT NULL, tz text NOT NULL, start_ms bigint NOT NULL,
        used double precision NOT NULL,
        PRIMARY KEY (counter, metric, win, tz, start_ms)
      );
      CREATE TABLE switchboard.reservations (
        id text PRIMARY KEY, counter text NOT NULL,
        requests double precision NOT NULL, input_chars double precision NOT NULL, tokens double precision NOT NULL,
        usd double precision NOT NULL, created_ms bigint NOT NULL, expires_ms bigint NOT NULL
      );
      CREATE INDEX reservations_counter ON switchboard.reservations (counter, expires_ms);
      CREATE INDEX reservations_expiry ON switchboard.reservations (expires_ms);
      CREATE TABLE switchboard.calls (
        id text PRIMARY KEY, ts_ms bigint NOT NULL, provider text NOT NULL, model text NOT NULL, tier text NOT NULL,
        task text, actor text, ok boolean NOT NULL, input_tokens bigint NOT NULL, output_tokens bigint NOT NULL,
        cost_usd double precision NOT NULL, baseline_usd double precision NOT NULL
      );
      CREATE INDEX calls_ts ON switchboard.calls (ts_ms);
      CREATE TABLE switchboard.spend (
        month text PRIMARY KEY, calls bigint NOT NULL, usd double precision NOT NULL, baseline_usd double precision NOT NULL
      );
      CREATE TABLE switchboard.thresholds (
        counter text NOT NULL, metric text NOT NULL, win text NOT NULL, tz text NOT NULL, quota_limit double precision NOT NULL,
        start_ms bigint NOT NULL, threshold double precision NOT NULL,
        PRIMARY KEY (counter, metric, win, tz, quota_limit, start_ms, threshold)
      );
      CREATE TABLE switchboard.cooldowns (key text PRIMARY KEY, until_ms bigint NOT NULL, reason text NOT NULL);
      CREATE TABLE switchboard.circuits (provider text PRIMARY KEY, failures integer NOT NULL, open_until_ms bigint);
    `,
  },
  {
    version: 2,
    description: 'teams: principal and team on calls, budget holds tied to their reservation, imports',
    sql: `
      ALTER TABLE switchboard.calls ADD COLUMN principal text, ADD COLUMN team text;
      CREATE INDEX calls_principal ON switchboard.calls (principal, ts_ms);
      CREATE INDEX calls_team ON switchboard.calls (team, ts_ms);
      ALTER TABLE switchboard.reservations ADD COLUMN parent text;
      CREATE INDEX reservations_parent ON switchboard.reservations (parent);
      CREATE TABLE switchboard.meta (key text PRIMARY KEY, value text NOT NULL);
      INSERT INTO switchboard.meta VALUES ('ledger_id', md5(random()::text || clock_timestamp()::text));
      CREATE TABLE switchboard.imported (
        source text NOT NULL, kind text NOT NULL, key text NOT NULL, value double precision NOT NULL,
        PRIMARY KEY (source, kind, key)
      );
    `,
  },
  {
    version: 3,
    description: 'expired reservations are charged in the windows of their creation until swept at 400 days',
    // Every reserve and quota read sums a counter's expired reservations created in each window: a range scan on
    // (counter, created_ms). The sweep now deletes by age, so its index is on created_ms instead of expires_ms.
    sql: `
      CREATE INDEX reservations_created ON switchboard.reservations (counter, created_ms);
      DROP INDEX switchboard.reservations_expiry;
      CREATE INDEX reservations_age ON switchboard.reservations (created_ms);
    `,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Brings the schema up to `upTo` (default: the latest) under the advisory lock. Returns the versions it applied.
 * A database migrated by a newer Switchboard is refused rather than guessed at.
 */
export async function migrate(client: PoolClient, upTo = LATEST_VERSION): Promise<number[]> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${LEDGER_SCHEMA}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${LEDGER_SCHEMA}.schema_migrations (
      version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const current = await appliedVersion(client);
    if (current > LATEST_VERSION) {
      throw new UserError(
        `The shared ledger's database was migrated by a newer Switchboard (schema ${current}, this one knows ${LATEST_VERSION}); update Switchboard.`,
        'ledger_newer',
      );
    }
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= current || m.version > upTo) continue;
      // One transaction per migration: a failure leaves the schema at the previous version, never half-way.
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query(`INSERT INTO ${LEDGER_SCHEMA}.schema_migrations (version, description) VALUES ($1, $2)`, [m.version, m.description]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      applied.push(m.version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
  }
}

export async function appliedVersion(client: PoolClient): Promise<number> {
  const { rows } = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${LEDGER_SCHEMA}.schema_migrations`);
  return Number(rows[0]?.v ?? 0);
}
