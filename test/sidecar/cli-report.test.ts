/**
 * `switchboard report` after real delegations: the built dist/sidecar.js in child processes, the real Gemini SDK
 * against the fake provider server, a scratch workspace and SWITCHBOARD_HOME. The report's totals must equal the
 * shared ledger's (a fresh SWITCHBOARD_HOME, so every ledger call is one of this workspace's).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startFakeProviderServer, type FakeProviderServer } from '../fakes/provider-server';
import { SIDECAR, buildOnce, childEnv, makeScratch, type Scratch } from './helpers';

const FAKE_GEMINI_KEY = 'AIzaSy' + 'R'.repeat(33);

function runCli(scratch: Scratch, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SIDECAR, ...args], { cwd: scratch.root, env: childEnv(scratch, env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('CLI: report (dist/sidecar.js after real delegations)', function () {
  this.timeout(90_000);
  let scratch: Scratch;
  let fake: FakeProviderServer;
  let env: Record<string, string>;
  const ws = () => ['--workspace', scratch.workspace];

  before(async () => {
    buildOnce();
    fake = await startFakeProviderServer({ reply: { text: 'export const answer = 42;\n', usage: { inputTokens: 1000, outputTokens: 200 } } });
    scratch = makeScratch();
    env = { SWITCHBOARD_GEMINI_BASE_URL: fake.baseUrl('gemini'), GEMINI_API_KEY: FAKE_GEMINI_KEY };
    const first = await runCli(scratch, ['delegate', 'code', '--prompt', 'answer', '--out', 'src/answer.ts', ...ws()], env);
    assert.equal(first.code, 0, first.stderr);
    const second = await runCli(scratch, ['delegate', 'docs', '--prompt', 'explain', ...ws()], env);
    assert.equal(second.code, 0, second.stderr);
  });
  after(async () => {
    await fake?.close();
    scratch?.cleanup();
  });

  it('--json: history newest first with path and backup id; totals equal the ledger month', async () => {
    const r = await runCli(scratch, ['report', '--json', ...ws()], env);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.history.map((h: { task: string }) => h.task), ['docs', 'code']);
    const code = report.history[1];
    assert.equal(code.provider, 'gemini');
    assert.equal(code.path, 'src/answer.ts');
    assert.match(code.backup_id, /\S/);
    assert.equal(code.input_tokens, 1000);
    assert.ok(code.baseline_usd > code.cost_usd, 'the premium baseline costs more than the free tier');
    assert.equal(report.totals.calls, 2);
    assert.equal(report.totals.calls, report.ledger_month.calls);
    assert.equal(report.totals.spend_usd, report.ledger_month.usd);
    assert.equal(report.totals.baseline_usd, report.ledger_month.baseline_usd);
    assert.equal(report.providers.gemini.calls, 2);
    const today = new Date().toISOString().slice(0, 10);
    assert.equal(report.days[today].calls, 2);
  });

  it('--limit and --cursor page through the history; --since in the future shows nothing', async () => {
    const page1 = JSON.parse((await runCli(scratch, ['report', '--json', '--limit', '1', ...ws()], env)).stdout);
    assert.equal(page1.history.length, 1);
    assert.ok(page1.next_cursor);
    const page2 = JSON.parse((await runCli(scratch, ['report', '--json', '--limit', '1', '--cursor', page1.next_cursor, ...ws()], env)).stdout);
    assert.deepEqual(page2.history.map((h: { task: string }) => h.task), ['code']);
    assert.equal(page2.next_cursor, undefined);
    const future = JSON.parse((await runCli(scratch, ['report', '--json', '--since', '2999-01-01', ...ws()], env)).stdout);
    assert.equal(future.totals.calls, 0);
    assert.deepEqual(future.history, []);
  });

  it('prints a readable report; hostile audit lines do not break it; bad options are one plain line', async () => {
    fs.appendFileSync(path.join(scratch.workspace, '.switchboard', 'audit.jsonl'), '{"op":"delegate","time":"soon","cost_usd":1e400}\n{not json\n' + 'x'.repeat(50_000) + '\n');
    const r = await runCli(scratch, ['report', ...ws()], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Delegations: 2, spent \$0\.0000; the premium baseline would have cost \$\d+\.\d{4}, saved \$\d+\.\d{4}\./);
    assert.match(r.stdout, /gemini\s+2\s+\$/);
    assert.match(r.stdout, /src\/answer\.ts/);
    assert.match(r.stdout, /Ledger, \d{4}-\d{2} \(all workspaces\): 2 call\(s\)/);
    for (const [args, pattern] of [[['--since', 'tuesday'], /not a date/], [['--limit', '0'], /--limit must be/], [['--cursor', 'abc'], /cursor/]] as const) {
      const bad = await runCli(scratch, ['report', ...args, ...ws()], env);
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stderr.trim(), pattern);
      assert.doesNotMatch(bad.stderr, /\n\s+at /);
    }
  });

  it('a signed report index is kept beside the log, its key in SWITCHBOARD_HOME; a forged one shipped with the repository changes nothing', async () => {
    const log = path.join(scratch.workspace, '.switchboard', 'audit.jsonl');
    const index = path.join(scratch.workspace, '.switchboard', 'report-index');
    // Enough history (> 64 KiB) for a report to index it.
    let more = '';
    for (let i = 0; i < 300; i++) more += JSON.stringify({ time: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), op: 'delegate', task: 'tests', provider: 'groq', model: 'm', cost_usd: 0.001, baseline_usd: 0.01, outcome: 'ok', path: 'x'.repeat(150) }) + '\n';
    fs.appendFileSync(log, more);
    const honest = JSON.parse((await runCli(scratch, ['report', '--json', ...ws()], env)).stdout);
    assert.ok(fs.statSync(index).isFile(), 'the report wrote its index');
    assert.equal(fs.statSync(path.join(scratch.switchboardHome, 'report-index.key')).mode & 0o777, 0o600);
    assert.equal(fs.existsSync(path.join(scratch.workspace, '.switchboard', 'report-index.key')), false, 'the key never sits in the workspace');
    assert.deepEqual(JSON.parse((await runCli(scratch, ['report', '--json', ...ws()], env)).stdout), honest, 'the index gives the same report');

    // The attacker knows the log (they ship it) and hashes it right, but cannot sign with this user's key.
    const bytes = fs.readFileSync(log);
    const body = JSON.stringify({
      v: 1, offset: bytes.length, skipping: false, sha256: crypto.createHash('sha256').update(bytes).digest('hex'), count: 302,
      buckets: [[new Date().toISOString().slice(0, 10), [['gemini', 302, 302, 0, 1e6]]]], rows: [],
    });
    fs.writeFileSync(index, crypto.createHmac('sha256', crypto.randomBytes(32)).update(body).digest('hex') + '\n' + body);
    const forged = await runCli(scratch, ['report', '--json', ...ws()], env);
    assert.equal(forged.code, 0, forged.stderr);
    assert.deepEqual(JSON.parse(forged.stdout), honest, 'the figures still come from the log');
  });
});
