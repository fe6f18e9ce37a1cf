/**
 * `switchboard ledger export | import` as a user runs them (the built dist/sidecar.js in a child process): a
 * machine's sql.js ledger moved into a real PostgreSQL and back, idempotently, and hostile files refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SqlJsLedger } from '../../src/core/ledger/sqljs-ledger';
import { PgLedger } from '../../src/core/ledger/pg/pg-ledger';
import { builtInRouterConfig } from '../../src/core/router/config';
import type { Ledger, Principal, QuotaRule } from '../../src/core/ledger/types';
import { pgDescribe, usePostgres } from '../support/postgres';
import { SIDECAR, buildOnce, childEnv, makeScratch, type Scratch } from './helpers';

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(scratch: Scratch, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SIDECAR, ...args], { cwd: scratch.root, env: childEnv(scratch, env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000); // a hang guard only
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const rules: QuotaRule[] = [{ metric: 'requests', window: 'month', limit: 1e6 }];

async function settleCalls(ledger: Ledger, ids: string[], principal?: Principal): Promise<void> {
  for (const id of ids) {
    const r = await ledger.reserve({ providerId: 'openai', rules, amounts: {}, principal });
    assert.ok(r.ok);
    await ledger.settle(r.reservationId, rules, {
      providerId: 'openai', model: 'm', tier: 'paid', ok: true, amounts: {}, inputTokens: 10, outputTokens: 5, costUsd: 0.01, baselineUsd: 0.05, callId: id, principal,
    });
  }
}

pgDescribe('switchboard ledger export / import (sql.js file <-> PostgreSQL)', function () {
  this.timeout(180_000);
  const server = usePostgres().server;
  let scratch: Scratch;
  let url: string;
  before(() => buildOnce());
  beforeEach(async () => {
    scratch = makeScratch({ sample: false });
    url = await server().createDatabase();
  });
  afterEach(() => scratch.cleanup());

  const localFile = () => path.join(scratch.switchboardHome, 'ledger.sqlite');

  it('moves a local history into PostgreSQL and back; importing twice changes nothing, a later export adds only what is new', async () => {
    const local = await SqlJsLedger.open({ file: localFile() });
    await settleCalls(local, ['a1', 'a2', 'a3'], { id: 'alice', team: 'red' });
    await local.close();
    const file = path.join(scratch.root, 'history.json');
    const exported = await runCli(scratch, ['ledger', 'export', '--out', file]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /^Exported 3 call\(s\)/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'the export names principals: owner-only');

    const team = { SWITCHBOARD_LEDGER_URL: url };
    const first = await runCli(scratch, ['ledger', 'import', file, '--json'], team);
    assert.equal(first.code, 0, first.stderr);
    // 4 counters: the provider's requests/month, and its provider, principal and team budget counters.
    assert.deepEqual(JSON.parse(first.stdout), { source: JSON.parse(fs.readFileSync(file, 'utf8')).source, calls: 3, counters: 4, months: 1, ownHistory: false, into: url });
    const second = await runCli(scratch, ['ledger', 'import', file, '--json'], team);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual([JSON.parse(second.stdout).calls, JSON.parse(second.stdout).counters, JSON.parse(second.stdout).months], [0, 0, 0]);

    const shared = await PgLedger.open({ url, sweepEveryMs: 0 });
    try {
      assert.deepEqual((await shared.quota('openai', rules)).map((s) => s.used), [3]);
      const spend = await shared.monthSpend();
      assert.equal(spend.calls, 3);
      assert.ok(Math.abs(spend.usd - 0.03) < 1e-9);
      // Alice's team budget sees the moved spend.
      const r = await shared.reserve({ providerId: 'openai', rules: [], amounts: { usd: 0.98 }, principal: { id: 'alice', team: 'red' }, budgets: [{ scope: 'team', limitUsd: 1, window: 'month' }] });
      assert.equal(r.ok, false);
      // The team works on; the laptop makes one more call and exports again: only that call is added.
      await settleCalls(shared, ['t1', 't2'], { id: 'bob', team: 'red' });
    } finally {
      await shared.close();
    }
    const laptop = await SqlJsLedger.open({ file: localFile() });
    await settleCalls(laptop, ['a4']);
    await laptop.close();
    assert.equal((await runCli(scratch, ['ledger', 'export', '--out', file, '--local'], team)).code, 0);
    const third = await runCli(scratch, ['ledger', 'import', file, '--json'], team);
    assert.deepEqual([JSON.parse(third.stdout).calls, JSON.parse(third.stdout).months], [1, 1]);

    // And back: the team's history into the laptop's file. Its own four calls are not counted again.
    const back = path.join(scratch.root, 'team.json');
    assert.equal((await runCli(scratch, ['ledger', 'export', '--out', back], team)).code, 0);
    const home = await runCli(scratch, ['ledger', 'import', back, '--json']);
    assert.equal(home.code, 0, home.stderr);
    assert.equal(JSON.parse(home.stdout).calls, 2);
    const after = await SqlJsLedger.open({ file: localFile() });
    try {
      assert.deepEqual((await after.quota('openai', rules)).map((s) => s.used), [6], '4 own + 2 of the team, none twice');
      assert.equal((await after.monthSpend()).calls, 6);
    } finally {
      await after.close();
    }
    const ownAgain = await runCli(scratch, ['ledger', 'import', back]);
    assert.equal(ownAgain.code, 0);
    assert.match(ownAgain.stdout, /^Imported into .*: 0 new call\(s\), 0 usage counter\(s\) and 0 month\(s\)/);
  });

  it('switchboard quota reads the PostgreSQL ledger when SWITCHBOARD_LEDGER_URL is set (and the file otherwise)', async () => {
    const gemini = builtInRouterConfig().providers.find((p) => p.id === 'gemini')!;
    const shared = await PgLedger.open({ url, sweepEveryMs: 0 });
    try {
      for (let i = 0; i < 7; i++) {
        const r = await shared.reserve({ providerId: 'gemini', rules: gemini.quotas, amounts: {} });
        assert.ok(r.ok);
        await shared.settle(r.reservationId, gemini.quotas, { providerId: 'gemini', model: 'm', tier: 'free', ok: true, amounts: {}, inputTokens: 1, outputTokens: 1, costUsd: 0, baselineUsd: 0.01 });
      }
      for (let i = 0; i < 5; i++) await shared.recordOutcome('huggingface', false);
    } finally {
      await shared.close();
    }
    const usedOf = (json: { providers: Array<{ id: string; quotas: Array<{ used: number }> }> }) => json.providers.find((p) => p.id === 'gemini')!.quotas[0]!.used;
    const team = await runCli(scratch, ['quota', '--json', '--workspace', scratch.workspace], { SWITCHBOARD_LEDGER_URL: url });
    assert.equal(team.code, 0, team.stderr);
    const teamJson = JSON.parse(team.stdout);
    assert.equal(usedOf(teamJson), 7);
    assert.equal(teamJson.month.calls, 7);
    assert.equal(teamJson.providers.find((p: { id: string }) => p.id === 'huggingface').circuit, 'open', 'circuits are shared through the database');
    const local = JSON.parse((await runCli(scratch, ['quota', '--json', '--workspace', scratch.workspace])).stdout);
    assert.equal(usedOf(local), 0);
    assert.ok(!fs.existsSync(localFile()) || local.month.calls === 0);
  });

  it('refuses a hostile or damaged file with one plain line, changing nothing', async () => {
    const team = { SWITCHBOARD_LEDGER_URL: url };
    const cases: Array<[string, string, RegExp]> = [
      ['garbage.json', '{"format": "switchboard-ledger-history", "version": 1', /is not JSON/],
      ['negative.json', JSON.stringify({ format: 'switchboard-ledger-history', version: 1, source: 'x', exported_at: 'now', calls: [], usage: [{ counter: 'openai', metric: 'requests', win: 'day', tz: 'UTC', start_ms: 0, used: -1e9 }], spend: [] }), /usage\.0\.used/],
      ['extra.json', JSON.stringify({ format: 'switchboard-ledger-history', version: 1, source: 'x', exported_at: 'now', calls: [], usage: [], spend: [], sql: 'DROP TABLE switchboard.calls' }), /not a Switchboard ledger export/],
      ['other.json', JSON.stringify({ hello: 'world' }), /format/],
    ];
    for (const [name, body, why] of cases) {
      fs.writeFileSync(path.join(scratch.root, name), body);
      const r = await runCli(scratch, ['ledger', 'import', name], team);
      assert.equal(r.code, 1, `${name}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr.trim(), why);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const missing = await runCli(scratch, ['ledger', 'import', 'nope.json'], team);
    assert.match(missing.stderr, /Cannot read nope\.json: ENOENT/);
    const bad = await runCli(scratch, ['ledger', 'export'], { SWITCHBOARD_LEDGER_URL: 'mysql://user:hunter2@db/x' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /SWITCHBOARD_LEDGER_URL must be a postgres:\/\//);
    assert.ok(!bad.stderr.includes('hunter2'), 'never echoes the URL (it may hold a password)');
    // A database that is not there: a clear, prompt failure naming it without its password.
    const down = await runCli(scratch, ['ledger', 'export'], { SWITCHBOARD_LEDGER_URL: `postgres://sb:s3cret@127.0.0.1:${server().port + 1}/none` });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /shared ledger at postgres:\/\/sb@127\.0\.0\.1:\d+\/none is unreachable/);
    assert.ok(!down.stderr.includes('s3cret'));
  });
});
