/**
 * `switchboard demo` as the README runs it: `node dist/sidecar.js demo`, offline, with HOME, SWITCHBOARD_HOME and
 * TMPDIR moved to temp folders this test watches. Real child processes all the way (demo → sidecar over stdio).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SLUGIFY_TESTS } from '../../src/sidecar/demo/simulated-provider';
import { REPO, SIDECAR, buildOnce } from './helpers';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(command: string, args: string[], options: { env: Record<string, string>; cwd: string }): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function listTree(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String);
}

describe('switchboard demo (offline, simulated provider, scratch workspace)', function () {
  this.timeout(90_000);
  let root: string;
  let home: string;
  let switchboardHome: string;
  let tmp: string;
  let env: Record<string, string>;

  before(() => {
    buildOnce();
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-demo-test-')));
    home = path.join(root, 'home');
    switchboardHome = path.join(root, 'switchboard-home');
    tmp = path.join(root, 'tmp');
    for (const d of [home, switchboardHome, tmp]) fs.mkdirSync(d);
    env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      SWITCHBOARD_HOME: switchboardHome,
      TMPDIR: tmp,
      // Real-looking keys in the user's shell must not reach the demo's sidecar (together would then be usable).
      TOGETHER_API_KEY: 'tgp_v1_' + 'u'.repeat(40),
      OPENAI_API_KEY: 'sk-proj-' + 'u'.repeat(40),
    };
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('--json: delegates to the simulated provider, verifies (draft fails, repair passes), writes with a backup, rolls back, touching nothing outside its scratch folder', async () => {
    const r = await run(process.execPath, [SIDECAR, 'demo', '--json'], { env, cwd: root });
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);

    assert.equal(s.simulated, true);
    assert.match(s.provider_note, /^simulated Gemini provider on 127\.0\.0\.1/);
    assert.equal(s.simulated_requests, 2, 'the first answer and its repair');
    assert.equal(s.delegate.verification.status, 'passed');
    assert.match(s.delegate.verification.command, /^node --import file:\S+\/tsx\/dist\/loader\.mjs --test test\/slugify\.test\.ts$/);
    assert.deepEqual(s.delegate.verification.attempts.map((a: { provider: string; passed: boolean; repair: boolean }) => [a.provider, a.passed, a.repair]), [['gemini', false, false], ['gemini', true, true]]);
    assert.match(s.delegate.verification.attempts[0].summary, /^exit 1: 1 failed, 6 passed: not ok \d+ - removes accents/);
    assert.equal(s.sidecar_tools.length, 11);

    assert.equal(s.delegate.provider, 'gemini');
    assert.equal(s.delegate.tier, 'free');
    assert.equal(s.delegate.cost_usd, 0);
    assert.ok(s.delegate.input_tokens > 100 && s.delegate.output_tokens > 100, JSON.stringify(s.delegate));
    assert.ok(s.delegate.skipped.some((x: string) => /^together: no API key/.test(x)), `the user's Together key was not passed on: ${s.delegate.skipped}`);
    assert.match(s.delegate.text, /^created test\/slugify\.test\.ts .*tests pass \(2 attempts, gemini\)/);

    assert.equal(s.written.path, 'test/slugify.test.ts');
    assert.equal(s.written.bytes, Buffer.byteLength(SLUGIFY_TESTS));
    assert.match(s.written.backup_id, /\S{6,}/);
    assert.equal(s.delegate.backup_id, s.written.backup_id);

    const gemini = s.quota.providers.find((p: { id: string }) => p.id === 'gemini');
    assert.deepEqual(gemini.quotas.map((q: { metric: string; window: string; limit: number; left: number }) => [q.metric, q.window, q.limit, q.left]), [['requests', 'day', 1500, 1498]]);
    assert.deepEqual(s.quota.providers.map((p: { id: string }) => p.id), ['gemini', 'together', 'huggingface', 'openai']);
    assert.equal(s.quota.month.calls, 2, 'both generations are in the ledger');
    assert.ok(s.quota.month.baseline_usd > 0, 'a saving against the premium baseline is shown');

    assert.equal(s.rollback.deleted, true);
    assert.equal(s.rollback.file_exists_after, false);
    assert.equal(s.rollback.restored_from, s.written.backup_id);
    const ids = s.backups.map((b: { id: string }) => b.id);
    assert.equal(ids.length, 3, 'the rollback, the repaired answer, the draft');
    assert.equal(ids[0], s.rollback.backup_id, 'newest first: the rollback');
    assert.equal(ids[2], s.written.backup_id, 'the backup of the state before the delegation is the oldest');

    // The scratch folder is kept (default) under the temp dir, with the file really gone.
    assert.equal(s.scratch_kept, true);
    assert.ok(s.scratch_dir.startsWith(tmp + path.sep), s.scratch_dir);
    assert.equal(fs.existsSync(path.join(s.workspace, 'test', 'slugify.test.ts')), false);
    assert.ok(fs.existsSync(path.join(s.workspace, 'src', 'slugify.ts')));
    assert.ok(fs.existsSync(path.join(s.scratch_dir, 'switchboard-home', 'ledger.sqlite')), 'the ledger lives in the scratch folder');

    assert.deepEqual(listTree(home), [], '$HOME untouched');
    assert.deepEqual(listTree(switchboardHome), [], '$SWITCHBOARD_HOME untouched');
    assert.deepEqual(fs.readdirSync(tmp), [path.basename(s.scratch_dir)], 'nothing else in the temp dir');
    fs.rmSync(s.scratch_dir, { recursive: true, force: true });
  });

  it('readable output: every line about the provider says simulated; --clean removes the scratch folder', async () => {
    const r = await run(process.execPath, [SIDECAR, 'demo', '--clean'], { env, cwd: root });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const aboutProvider = lines.filter((l) => /gemini/i.test(l));
    assert.ok(aboutProvider.length >= 3, r.stdout);
    for (const line of aboutProvider) assert.match(line, /simulated/i, `line about the provider without the label: ${line}`);
    assert.match(r.stdout, /Routed to gemini \(simulated\) · model gemini-2\.5-flash · tier free/);
    assert.match(r.stdout, /saved \$\d+\.\d{4}\)/);
    assert.match(r.stdout, /wrote test\/slugify\.test\.ts \(\d+ bytes\) with backup \S+/);
    assert.match(r.stdout, /^\s+PROVIDER\s+TIER\s+KEY\s+QUOTA/m);
    assert.match(r.stdout, /gemini \(simulated\)\s+free\s+yes\s+requests\/day\s+2 \/ 1500/);
    assert.match(r.stdout, /verified: the simulated model's first answer failed the sample's check \(exit 1: 1 failed, 6 passed: not ok \d+ - removes accents\); sent back with the check's output, its repair passed/);
    assert.match(r.stdout, /test\/slugify\.test\.ts removed: it did not exist before the delegation/);
    assert.match(r.stdout, /Scratch folder removed \(--clean\)/);
    assert.doesNotMatch(r.stdout, /u{40}/, 'no key from the environment is printed');
    assert.deepEqual(listTree(tmp), [], 'scratch folder removed');
    assert.deepEqual(listTree(home), []);
    assert.deepEqual(listTree(switchboardHome), []);
  });

  it('the simulated answer is a real test file: it passes against the sample slugify.ts', async () => {
    const ws = path.join(root, 'check');
    fs.cpSync(path.join(REPO, 'media', 'sample-workspace'), ws, { recursive: true });
    fs.mkdirSync(path.join(ws, 'test'));
    fs.writeFileSync(path.join(ws, 'test', 'slugify.test.ts'), SLUGIFY_TESTS);
    const r = await run(process.execPath, [path.join(REPO, 'node_modules', 'tsx', 'dist', 'cli.mjs'), '--test', 'test/slugify.test.ts'], { env: { ...env, TMPDIR: os.tmpdir() }, cwd: ws });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /# pass 7\n# fail 0/);
  });
});
