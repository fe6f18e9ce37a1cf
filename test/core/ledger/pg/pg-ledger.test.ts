import assert from 'node:assert/strict';
import pg from 'pg';
import { PgLedger } from '../../../../src/core/ledger/pg/pg-ledger';
import { LATEST_VERSION, MIGRATIONS, migrate } from '../../../../src/core/ledger/pg/migrations';
import { LedgerUnavailable } from '../../../../src/core/ledger/pg/connection';
import type { QuotaRule } from '../../../../src/core/ledger/types';
import { pgDescribe, usePostgres } from '../../../support/postgres';
import { ManualClock, call } from '../helpers';

const at = (s: string) => Date.parse(s);

async function sql<R extends object = Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** Tables and columns of the switchboard schema, to compare a migrated database with a fresh one. */
async function schemaShape(url: string): Promise<string[]> {
  const rows = await sql<{ c: string }>(url, `SELECT table_name || '.' || column_name || ':' || data_type AS c FROM information_schema.columns
    WHERE table_schema = 'switchboard' AND table_name <> 'schema_migrations' ORDER BY 1`);
  return rows.map((r) => r.c);
}

async function migrateTo(url: string, version: number): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const client = await pool.connect();
  try {
    await migrate(client, version);
  } finally {
    client.release();
    await pool.end();
  }
}

pgDescribe('PgLedger on a real PostgreSQL', function () {
  this.timeout(120_000);
  const server = usePostgres().server;
  const open: PgLedger[] = [];
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close().catch(() => undefined);
  });
  async function ledgerOn(url: string, clock = new ManualClock(at('2026-04-02T10:00:00Z')), extra = {}): Promise<PgLedger> {
    const l = await PgLedger.open({ url, clock: clock.now, sweepEveryMs: 0, ...extra });
    open.push(l);
    return l;
  }

  it('migrates an empty database to the latest version, recording each version once', async () => {
    const url = await server().createDatabase();
    await ledgerOn(url);
    const versions = await sql<{ version: number }>(url, 'SELECT version FROM switchboard.schema_migrations ORDER BY version');
    assert.deepEqual(versions.map((v) => v.version), MIGRATIONS.map((m) => m.version));
    assert.equal(versions.length, LATEST_VERSION);
  });

  it('migrates from each earlier version, keeping the data, to the same schema as a fresh database', async () => {
    const fresh = await server().createDatabase();
    await ledgerOn(fresh);
    const expected = await schemaShape(fresh);
    for (let from = 1; from < LATEST_VERSION; from++) {
      const url = await server().createDatabase();
      await migrateTo(url, from);
      // Data written by that version: a call, a usage counter and spend.
      await sql(url, `INSERT INTO switchboard.calls (id, ts_ms, provider, model, tier, ok, input_tokens, output_tokens, cost_usd, baseline_usd)
        VALUES ('old-call', $1, 'openai', 'm', 'paid', true, 10, 5, 0.25, 0.5)`, [at('2026-04-02T09:00:00Z')]);
      await sql(url, `INSERT INTO switchboard.usage VALUES ('openai', 'requests', 'day', 'UTC', $1, 7)`, [at('2026-04-02T00:00:00Z')]);
      await sql(url, `INSERT INTO switchboard.spend VALUES ('2026-04', 1, 0.25, 0.5)`);
      const ledger = await ledgerOn(url);
      assert.deepEqual(await schemaShape(url), expected, `schema after migrating from version ${from}`);
      const rules: QuotaRule[] = [{ metric: 'requests', window: 'day', limit: 10 }];
      assert.equal((await ledger.quota('openai', rules))[0]!.used, 7);
      assert.deepEqual(await ledger.monthSpend(), { month: '2026-04', calls: 1, usd: 0.25, baselineUsd: 0.5 });
      const r = await ledger.reserve({ providerId: 'openai', rules, amounts: {}, principal: { id: 'alice', team: 'red' } });
      assert.ok(r.ok);
      await ledger.settle(r.reservationId, rules, call('openai', { principal: { id: 'alice', team: 'red' }, callId: 'new-call' }));
      assert.deepEqual(await sql(url, 'SELECT id, principal, team FROM switchboard.calls ORDER BY id'), [
        { id: 'new-call', principal: 'alice', team: 'red' }, { id: 'old-call', principal: null, team: null },
      ]);
    }
  });

  it('migrates once when several replicas start together (advisory lock)', async () => {
    const url = await server().createDatabase();
    const ledgers = await Promise.all(Array.from({ length: 4 }, () => PgLedger.open({ url, sweepEveryMs: 0 })));
    open.push(...ledgers);
    const versions = await sql<{ version: number; n: string }>(url, 'SELECT version, count(*) AS n FROM switchboard.schema_migrations GROUP BY version ORDER BY version');
    assert.deepEqual(versions.map((v) => [v.version, Number(v.n)]), MIGRATIONS.map((m) => [m.version, 1]));
  });

  it('refuses a database migrated by a newer Switchboard, naming both versions, and changes nothing', async () => {
    const url = await server().createDatabase();
    await migrateTo(url, LATEST_VERSION);
    await sql(url, `INSERT INTO switchboard.schema_migrations (version, description) VALUES ($1, 'from the future')`, [LATEST_VERSION + 1]);
    await assert.rejects(PgLedger.open({ url }), (err: Error) => (err as { code?: string }).code === 'ledger_newer' && err.message.includes(`schema ${LATEST_VERSION + 1}`));
    const versions = await sql<{ version: number }>(url, 'SELECT version FROM switchboard.schema_migrations ORDER BY version');
    assert.equal(versions.at(-1)!.version, LATEST_VERSION + 1);
  });

  it('records the principal and team of every call', async () => {
    const url = await server().createDatabase();
    const ledger = await ledgerOn(url);
    for (const [id, principal] of [['c1', { id: 'alice', team: 'red' }], ['c2', { id: 'bob' }], ['c3', undefined]] as const) {
      const r = await ledger.reserve({ providerId: 'p', rules: [], amounts: {}, principal });
      assert.ok(r.ok);
      await ledger.settle(r.reservationId, [], call('p', { callId: id, principal }));
    }
    assert.deepEqual(await sql(url, 'SELECT id, principal, team FROM switchboard.calls ORDER BY id'), [
      { id: 'c1', principal: 'alice', team: 'red' }, { id: 'c2', principal: 'bob', team: null }, { id: 'c3', principal: null, team: null },
    ]);
  });

  it('writes nothing for a refused reservation', async () => {
    const url = await server().createDatabase();
    const ledger = await ledgerOn(url);
    const none: QuotaRule[] = [{ metric: 'requests', window: 'day', limit: 0 }];
    const refused = await ledger.reserve({ providerId: 'p', rules: none, amounts: {}, budgets: [{ scope: 'provider', limitUsd: 1, window: 'month' }] });
    assert.equal(refused.ok, false);
    const count = async (table: string) => Number((await sql<{ n: string }>(url, `SELECT count(*) AS n FROM switchboard.${table}`))[0]!.n);
    assert.deepEqual([await count('usage'), await count('reservations')], [0, 0]);
  });

  it('keeps an expired reservation (charged) through sweeps until 400 days after it was made, and leaves live ones', async () => {
    const url = await server().createDatabase();
    const made = at('2026-04-02T10:00:00Z');
    const clock = new ManualClock(made);
    const ledger = await ledgerOn(url, clock);
    const rules: QuotaRule[] = [{ metric: 'requests', window: 'month', limit: 5 }];
    const budgets = [{ scope: 'provider' as const, limitUsd: 1, window: 'month' as const }];
    const count = async () => Number((await sql<{ n: string }>(url, 'SELECT count(*) AS n FROM switchboard.reservations'))[0]!.n);
    assert.ok((await ledger.reserve({ providerId: 'p', rules, amounts: { usd: 0.75 }, ttlMs: 1_000, budgets })).ok);
    assert.ok((await ledger.reserve({ providerId: 'p', rules, amounts: {}, ttlMs: 60_000 })).ok);
    clock.advance(1_000);
    assert.deepEqual(await ledger.sweep(), { reservations: 0 }, 'an expired reservation is charged, not swept');
    assert.deepEqual((await ledger.quota('p', rules)).map((s) => [s.used, s.reserved]), [[1, 1]]);
    const overBudget = await ledger.reserve({ providerId: 'p', rules, amounts: { usd: 0.5 }, budgets });
    assert.ok(!overBudget.ok, 'its budget hold is charged too');
    assert.deepEqual([overBudget.blocking.budget?.scope, overBudget.blocking.used], ['provider', 0.75]);
    assert.equal(await count(), 3);
    clock.nowMs = made + 400 * 86_400_000;
    assert.ok((await ledger.reserve({ providerId: 'p', rules, amounts: {}, ttlMs: 60_000 })).ok);
    assert.deepEqual(await ledger.sweep(), { reservations: 0 }, 'kept for 400 days');
    clock.advance(1);
    assert.deepEqual(await ledger.sweep(), { reservations: 3 }, 'both old reservations and the budget hold');
    assert.equal(await count(), 1, 'the live one stays');
    assert.deepEqual((await ledger.quota('p', rules)).map((s) => [s.used, s.reserved]), [[0, 1]]);
  });

  it('fails fast with a clear error while the database is down, and recovers by itself when it is back', async function () {
    this.timeout(240_000);
    const url = await server().createDatabase();
    const ledger = await ledgerOn(url, new ManualClock(at('2026-04-02T10:00:00Z')), { connectTimeoutMs: 3_000 });
    const rules: QuotaRule[] = [{ metric: 'requests', window: 'day', limit: 100 }];
    const first = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
    assert.ok(first.ok);
    await ledger.settle(first.reservationId, rules, call('p'));
    server().stopServer();
    try {
      for (const op of [() => ledger.reserve({ providerId: 'p', rules, amounts: {} }), () => ledger.quota('p', rules), () => ledger.circuit('p'), () => ledger.monthSpend()]) {
        await assert.rejects(op(), (err: Error) => {
          assert.ok(err instanceof LedgerUnavailable, `${err.name}: ${err.message}`);
          assert.match(err.message, /^The shared ledger at postgres:\/\/postgres@127\.0\.0\.1:\d+\/\w+ is unreachable/);
          return true;
        });
      }
    } finally {
      server().startServer();
    }
    // The same instance, no reopen: the pool reconnects on the next call.
    let again: Awaited<ReturnType<PgLedger['reserve']>> | undefined;
    for (let i = 0; i < 100 && !again; i++) {
      again = await ledger.reserve({ providerId: 'p', rules, amounts: {} }).catch(() => undefined);
      if (!again) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(again?.ok);
    assert.deepEqual(again.states.map((s) => [s.used, s.reserved]), [[1, 1]]);
  });
});
