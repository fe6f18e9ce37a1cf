import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import pg from 'pg';
import { PgLedger } from '../../../../src/core/ledger/pg/pg-ledger';
import { pgDescribe, usePostgres } from '../../../support/postgres';
import { exited } from '../helpers';

const WORKERS = 4;
const OPS = 500;

function readLines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

async function sql(url: string, text: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

pgDescribe('PgLedger under contention (real processes, real PostgreSQL)', function () {
  this.timeout(300_000);
  const server = usePostgres().server;
  let dir: string;
  let bundle: string;
  const live = new Set<ChildProcess>();
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-pg-child-'));
    bundle = path.join(dir, 'pg-child.cjs');
    await build({ entryPoints: [path.join(__dirname, '..', 'fixtures', 'pg-child.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: bundle, logLevel: 'error' });
  });
  afterEach(async () => {
    for (const c of live) {
      c.kill('SIGKILL');
      await exited(c);
    }
    live.clear();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function start(args: string[]): ChildProcess {
    const child = spawn(process.execPath, [bundle, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    void exited(child).then(() => live.delete(child));
    return child;
  }

  it(`${WORKERS} processes × ${OPS} operations, SIGKILLed at random and through a database restart: 0 lost, 0 double-counted`, async () => {
    const url = await server().createDatabase();
    await (await PgLedger.open({ url, sweepEveryMs: 0 })).close(); // migrated once up front: workers start faster
    const logs = Array.from({ length: WORKERS }, (_, w) => path.join(dir, `ops-${w}.log`));
    const running: ChildProcess[] = [];
    const finished = Array.from({ length: WORKERS }, () => false);
    let failures = 0;
    const launch = (w: number) => {
      const child = start(['ops', url, String(w), String(OPS), logs[w]!]);
      running[w] = child;
      void exited(child).then((code) => {
        if (code === 0) finished[w] = true;
        else if (code === 1) {
          failures++; // the database went away under it: restarted like a killed one
          launch(w);
        }
      });
    };
    for (let w = 0; w < WORKERS; w++) launch(w);

    const marks = [0.1, 0.2, 0.3, 0.4, 0.55, 0.7, 0.85];
    const kills: number[] = [];
    let restarted = false;
    const deadline = Date.now() + 280_000; // a hang guard only
    while (!finished.every(Boolean)) {
      assert.ok(Date.now() < deadline, `stalled after kills at ${JSON.stringify(kills)}`);
      await new Promise((r) => setTimeout(r, 25));
      const progress = logs.reduce((n, l) => n + readLines(l).length, 0) / (WORKERS * OPS);
      if (!restarted && progress >= 0.5) {
        // Mid-run: the database stops (every connection cut) and comes back; workers fail fast and are restarted.
        server().stopServer();
        await new Promise((r) => setTimeout(r, 300));
        server().startServer();
        restarted = true;
      }
      if (kills.length >= marks.length || progress < marks[kills.length]!) continue;
      const w = Math.floor(Math.random() * WORKERS);
      const victim = running[w]!;
      if (finished[w] || victim.exitCode !== null || victim.signalCode !== null) continue;
      victim.kill('SIGKILL');
      await exited(victim);
      kills.push(progress);
      launch(w);
    }
    assert.ok(kills.length >= 5, `only ${kills.length} kills`);
    assert.ok(restarted);

    const expected = new Set<string>();
    for (let w = 0; w < WORKERS; w++) for (let i = 0; i < OPS; i++) if (i % 5 !== 4) expected.add(`w${w}-${i}`);
    const settled = new Set(logs.flatMap(readLines).filter((l) => l.startsWith('settled ')).map((l) => l.split(' ')[1]!));
    assert.equal(settled.size, expected.size);
    const ids = (await sql(url, 'SELECT id FROM switchboard.calls')).map((r) => String(r.id));
    assert.deepEqual(ids.sort(), [...expected].sort(), 'every settled op recorded exactly once, no released op recorded');
    const usage = Object.fromEntries((await sql(url, "SELECT metric, SUM(used) AS used FROM switchboard.usage WHERE counter = 'shared' GROUP BY metric")).map((r) => [r.metric, Number(r.used)]));
    assert.deepEqual(usage, { requests: expected.size, tokens: expected.size * 10 }, 'aggregates match the call rows: nothing counted twice');
    const spend = (await sql(url, 'SELECT SUM(calls) AS calls, SUM(baseline_usd) AS baseline FROM switchboard.spend'))[0]!;
    assert.deepEqual([Number(spend.calls), Number(spend.baseline)], [expected.size, expected.size]);
    // Only reservations of operations cut short can remain (charged once their TTL passes, swept after 400 days).
    const left = Number((await sql(url, 'SELECT count(*) AS n FROM switchboard.reservations'))[0]!.n);
    assert.ok(left <= kills.length + failures, `${left} reservations left after ${kills.length} kills and ${failures} failures`);
  });

  it('never over-grants when 6 processes race for the last units of a quota and of a team budget', async () => {
    const url = await server().createDatabase();
    await (await PgLedger.open({ url, sweepEveryMs: 0 })).close();
    // 42 of 50 requests already used, and $0.6 of the team's $1: 8 quota units and 4 budget units are left.
    const day = new Date(); day.setUTCHours(0, 0, 0, 0);
    const month = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), 1));
    await sql(url, `INSERT INTO switchboard.usage VALUES ('quota', 'requests', 'day', 'UTC', ${day.getTime()}, 42), ('budget:team:red', 'usd', 'month', 'UTC', ${month.getTime()}, 0.6)`);
    const go = path.join(dir, 'go');
    fs.rmSync(go, { force: true });
    const logs = Array.from({ length: 6 }, (_, w) => path.join(dir, `race-${w}.log`));
    const children = logs.map((log, w) => start(['race', url, String(w), '5', log, go]));
    await Promise.all(children.map((c) => new Promise<void>((resolve) => c.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()))));
    fs.writeFileSync(go, '');
    assert.deepEqual(await Promise.all(children.map(exited)), [0, 0, 0, 0, 0, 0]);
    const lines = logs.flatMap(readLines);
    assert.equal(lines.length, 60);
    assert.equal(lines.filter((l) => l === 'ok quota').length, 8);
    assert.equal(lines.filter((l) => l === 'ok budget').length, 4);
    const used = Object.fromEntries((await sql(url, "SELECT counter, SUM(used) AS used FROM switchboard.usage WHERE counter IN ('quota', 'budget:team:red') GROUP BY counter")).map((r) => [r.counter, Number(r.used)]));
    assert.equal(used.quota, 50);
    assert.ok(Math.abs(used['budget:team:red']! - 1) < 1e-9, `team spent ${used['budget:team:red']}`);
  });
});
