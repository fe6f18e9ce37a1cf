/**
 * Verified delegation end to end: `node dist/sidecar.js delegate … --out` and the MCP `delegate` tool over real
 * stdio, the real router, ledger and SDKs (@google/genai, together-ai) against the fake provider server, real
 * check commands (node --test) on the real files of small projects from test/fixtures/verify-projects.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { answerFor, copyProject, verifyProjects, type VerifyProject } from '../fakes/verify-projects';
import { startFakeProviderServer, type FakeProviderServer } from '../fakes/provider-server';
import { buildOnce, SIDECAR, textOf } from './helpers';
import { isAlive } from '../support/process';

const GEMINI_KEY = 'AIza' + 'g'.repeat(35);
const TOGETHER_KEY = 'tgp_v1_' + 't'.repeat(40);
const CORP_KEY = 'corp-secret-' + 'c'.repeat(30);

interface Env {
  root: string;
  workspace: string;
  home: string;
  sb: string;
  project: VerifyProject;
}

function makeEnv(projectName = 'clamp'): Env {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-verify-')));
  const project = verifyProjects().find((p) => p.name === projectName)!;
  const workspace = copyProject(project, path.join(root, 'workspace'));
  const home = path.join(root, 'home');
  const sb = path.join(root, 'sb');
  fs.mkdirSync(home);
  fs.mkdirSync(sb);
  return { root, workspace, home, sb, project };
}

function childEnv(e: Env, fake: FakeProviderServer, options: { trusted?: boolean; extra?: Record<string, string> } = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: e.home,
    SWITCHBOARD_HOME: e.sb,
    SWITCHBOARD_LOCAL_BASE_URL: 'http://127.0.0.1:9/v1',
    SWITCHBOARD_GEMINI_BASE_URL: fake.baseUrl('gemini'),
    SWITCHBOARD_TOGETHER_BASE_URL: fake.baseUrl('together'),
    GEMINI_API_KEY: GEMINI_KEY,
    TOGETHER_API_KEY: TOGETHER_KEY,
    // The editor's workspace trust, as the extension passes it to its sidecar.
    ...(options.trusted === false ? {} : { SWITCHBOARD_TRUSTED_FOLDERS: e.workspace }),
    ...options.extra,
  };
}

function userRouter(e: Env, yaml: string): void {
  fs.writeFileSync(path.join(e.sb, 'router.yaml'), yaml);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>, cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SIDECAR, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function delegateArgs(e: Env, extra: string[] = []): string[] {
  return ['delegate', 'tests', '--workspace', e.workspace, '--file', e.project.source, '--out', e.project.target, '--json', ...extra];
}

function requestText(r: { body: string }): string {
  return r.body;
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('verified delegation (real checks, real SDKs, fake provider server)', function () {
  this.timeout(180_000);
  let fake: FakeProviderServer;
  const envs: Env[] = [];
  const fresh = (name?: string) => {
    const e = makeEnv(name);
    envs.push(e);
    return e;
  };

  before(async () => {
    buildOnce();
    fake = await startFakeProviderServer({ reply: { text: 'unused', usage: null } });
  });
  after(async () => {
    await fake?.close();
    for (const e of envs) fs.rmSync(e.root, { recursive: true, force: true });
  });
  beforeEach(() => {
    fake.reset();
    fake.setReply({ text: 'UNSCRIPTED', usage: null });
  });

  it('passes the first time: written, verification passed, the detected command and why', async () => {
    const e = fresh();
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'good') });
    const r = await cli(delegateArgs(e), childEnv(e, fake), e.root);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.verification.status, 'passed');
    assert.equal(out.verification.command, `node --test ${e.project.target}`);
    assert.match(out.verification.origin, /^detected: package\.json tests with node --test/);
    assert.deepEqual(out.verification.attempts.map((a: { provider: string; passed: boolean }) => [a.provider, a.passed]), [['gemini', true]]);
    assert.equal(fs.readFileSync(path.join(e.workspace, e.project.target), 'utf8'), answerFor(e.project, 'good'));
    assert.equal(fake.count('gemini'), 1);
    assert.equal(fake.count('together'), 0);
  });

  it('repairs on the same provider: the failing answer and the check\'s failure text go back to it', async () => {
    const e = fresh('roman');
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'wrong') });
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'good') });
    const r = await cli(delegateArgs(e), childEnv(e, fake), e.root);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.verification.status, 'passed');
    assert.deepEqual(out.verification.attempts.map((a: { provider: string; passed: boolean; repair: boolean }) => [a.provider, a.passed, a.repair]), [['gemini', false, false], ['gemini', true, true]]);
    assert.match(out.verification.attempts[0].summary, /^exit 1: 1 failed, 4 passed/);
    const requests = fake.completions('gemini');
    assert.equal(requests.length, 2);
    const repair = requestText(requests[1]!);
    assert.ok(repair.includes(JSON.stringify('MMMCMXCIX?').slice(1, -1)) || repair.includes('MMMCMXCIX?'), 'the failing answer is in the repair request');
    assert.match(repair, /check failed/);
    assert.match(repair, /Expected values to be strictly equal|AssertionError/, 'the check\'s failure text is in the repair request');
    assert.match(repair, /node --test test\/roman\.test\.js/);
    assert.equal(fs.readFileSync(path.join(e.workspace, e.project.target), 'utf8'), answerFor(e.project, 'good'));
  });

  it('escalates to the next provider after the repair also fails; every attempt is in the ledger and the audit log', async () => {
    const e = fresh('fizzbuzz');
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'wrong') });
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'broken') });
    fake.enqueue('together', { kind: 'ok', text: answerFor(e.project, 'good') });
    const r = await cli(delegateArgs(e), childEnv(e, fake), e.root);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.verification.attempts.map((a: { provider: string; passed: boolean }) => [a.provider, a.passed]), [['gemini', false], ['gemini', false], ['together', true]]);
    assert.equal(out.provider, 'together');
    assert.equal(fs.readFileSync(path.join(e.workspace, e.project.target), 'utf8'), answerFor(e.project, 'good'));
    const audit = fs.readFileSync(path.join(e.workspace, '.switchboard', 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const checks = audit.filter((a) => a.op === 'delegate' && a.verification);
    assert.deepEqual(checks.map((a) => [a.provider, a.verification.passed]), [['gemini', false], ['gemini', false], ['together', true]]);
    const report = await cli(['quota', '--json', '--workspace', e.workspace], childEnv(e, fake), e.root);
    assert.equal(report.code, 0, report.stderr);
    const quota = JSON.parse(report.stdout) as { providers: Array<{ id: string; quotas: Array<{ used: number }> }> };
    assert.equal(quota.providers.find((p) => p.id === 'gemini')!.quotas[0]!.used, 2, 'both gemini generations are counted');
    assert.equal(quota.providers.find((p) => p.id === 'together')!.quotas[0]!.used, 1);
    // The usage report carries each attempt's check, newest first.
    const usage = await cli(['report', '--json', '--workspace', e.workspace], childEnv(e, fake), e.root);
    assert.equal(usage.code, 0, usage.stderr);
    const history = (JSON.parse(usage.stdout) as { history: Array<{ provider: string; verified?: string; check?: string }> }).history;
    assert.deepEqual(history.map((h) => [h.provider, h.verified]), [['together', 'passed'], ['gemini', 'failed'], ['gemini', 'failed']]);
    assert.match(history[1]!.check!, /^exit 1: /);
  });

  it('all attempts fail: exit 1 with the last summary, an existing target byte-identical, a new one absent', async () => {
    const e = fresh('camel');
    const target = path.join(e.workspace, e.project.target);
    const original = Buffer.from('// hand-written, keep me\r\n\u00e9\u0000 bytes as they were\n', 'utf8');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, original);
    for (const route of ['gemini', 'gemini', 'together', 'together', 'openai']) fake.enqueue(route, { kind: 'ok', text: answerFor(e.project, 'wrong') });
    // A paid provider with a key is still never tried without allow_paid.
    const paid = { OPENAI_API_KEY: 'sk-' + 'p'.repeat(40), SWITCHBOARD_OPENAI_BASE_URL: fake.baseUrl('openai') };
    userRouter(e, 'verify:\n  max_attempts: 5\n');
    const r = await cli(delegateArgs(e), childEnv(e, fake, { extra: paid }), e.root);
    assert.equal(r.code, 1, r.stdout);
    assert.equal(fake.count('openai'), 0, 'no paid call without allow_paid');
    assert.equal(fake.count('together'), 2, 'together got its answer and a repair');
    assert.match(r.stderr, /not written: tests failed after 4 attempts, gemini → together: exit 1: 1 failed, 2 passed/);
    assert.match(r.stderr, /is unchanged/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(fs.readFileSync(target), original);

    fs.rmSync(target);
    fake.reset();
    for (const route of ['gemini', 'gemini', 'together', 'together']) fake.enqueue(route, { kind: 'ok', text: answerFor(e.project, 'broken') });
    const again = await cli(delegateArgs(e), childEnv(e, fake), e.root);
    assert.equal(again.code, 1, again.stdout);
    assert.equal(fs.existsSync(target), false, 'a target that did not exist does not exist afterwards');
  });

  it('--no-verify writes the first answer and says verification was skipped', async () => {
    const e = fresh();
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'wrong') });
    const r = await cli(delegateArgs(e, ['--no-verify']), childEnv(e, fake), e.root);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.verification.status, 'skipped');
    assert.match(out.verification.reason, /turned off/);
    assert.equal(fs.readFileSync(path.join(e.workspace, e.project.target), 'utf8'), answerFor(e.project, 'wrong'));
    const usage = await cli(['report', '--json', '--workspace', e.workspace], childEnv(e, fake), e.root);
    const [row] = (JSON.parse(usage.stdout) as { history: Array<{ verified?: string; check?: string }> }).history;
    assert.equal(row!.verified, 'not_run', usage.stderr);
    assert.match(row!.check!, /turned off/);
  });

  it('an untrusted folder never runs a configured command: the write happens, verification skipped with how to trust', async () => {
    const e = fresh();
    const marker = path.join(e.root, 'MARKER');
    fs.writeFileSync(path.join(e.workspace, 'make-marker.js'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
    fs.mkdirSync(path.join(e.workspace, '.mcp'), { recursive: true });
    fs.writeFileSync(path.join(e.workspace, '.mcp', 'router.yaml'), 'verify:\n  tests: node make-marker.js {file}\n');
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'good') });
    const r = await cli(delegateArgs(e), childEnv(e, fake, { trusted: false }), e.root);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.verification.status, 'skipped');
    assert.match(out.verification.reason, /not trusted.*switchboard trust --workspace/);
    assert.equal(out.verification.command, 'node make-marker.js {file}');
    assert.equal(fs.existsSync(marker), false, 'the project\'s command did not run');
    assert.ok(fs.existsSync(path.join(e.workspace, e.project.target)), 'the answer is written');

    // Trusted, the same command runs (and is pinned); changed afterwards, it needs trust again.
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'good') });
    const trusted = await cli(delegateArgs(e), childEnv(e, fake), e.root);
    assert.equal(JSON.parse(trusted.stdout).verification.status, 'passed', trusted.stderr);
    assert.equal(fs.readFileSync(marker, 'utf8'), 'ran');
    fs.rmSync(marker);
    fs.writeFileSync(path.join(e.workspace, '.mcp', 'router.yaml'), 'verify:\n  tests: node make-marker.js {file} --changed\n');
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'good') });
    const changed = await cli(delegateArgs(e), childEnv(e, fake), e.root);
    const v = JSON.parse(changed.stdout).verification;
    assert.equal(v.status, 'skipped', changed.stderr);
    assert.match(v.reason, /changed since this folder was trusted/);
    assert.equal(fs.existsSync(marker), false);
  });

  it('the check runs without the keys Switchboard manages in its environment, cwd the workspace', async () => {
    const e = fresh();
    const dump = path.join(e.root, 'env.json');
    const script = path.join(e.root, 'dump-env.js');
    fs.writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(dump)}, JSON.stringify({ env: process.env, cwd: process.cwd(), argv: process.argv.slice(2) }));\n`);
    userRouter(e, `providers:\n  - id: corp\n    kind: openai-compatible\n    tier: free\n    apiKeyEnv: CORP_LLM_KEY\n    baseUrl: http://127.0.0.1:9/v1\n    disabled: true\nverify:\n  tests: node ${JSON.stringify(script)} {file}\n`);
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'good') });
    const r = await cli(delegateArgs(e), childEnv(e, fake, { extra: { CORP_LLM_KEY: CORP_KEY, HF_TOKEN: 'hf_' + 'h'.repeat(34), OPENAI_API_KEY: 'sk-' + 'o'.repeat(40), SOME_OTHER_SECRET: 'x' } }), e.root);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).verification.status, 'passed');
    const seen = JSON.parse(fs.readFileSync(dump, 'utf8')) as { env: Record<string, string>; cwd: string; argv: string[] };
    for (const name of ['GEMINI_API_KEY', 'TOGETHER_API_KEY', 'HF_TOKEN', 'OPENAI_API_KEY', 'CORP_LLM_KEY', 'SOME_OTHER_SECRET', 'SWITCHBOARD_GEMINI_BASE_URL']) {
      assert.equal(seen.env[name], undefined, `${name} must not reach the check`);
    }
    const all = JSON.stringify(seen.env);
    for (const secret of [GEMINI_KEY, TOGETHER_KEY, CORP_KEY]) assert.ok(!all.includes(secret));
    assert.equal(seen.env.PATH, process.env.PATH);
    assert.equal(seen.env.CI, '1');
    assert.equal(seen.cwd, e.workspace);
    assert.deepEqual(seen.argv, [e.project.target]);
  });

  it('a hung check is stopped at its timeout with its whole process group, and counts as a failed attempt', async () => {
    const e = fresh();
    const pids = path.join(e.root, 'pids');
    const script = path.join(e.root, 'hang.js');
    // The check starts a grandchild that ignores SIGTERM, then both wait forever.
    fs.writeFileSync(script, [
      "const { spawn } = require('child_process');",
      "const fs = require('fs');",
      "const child = spawn(process.execPath, ['-e', \"process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)\"], { stdio: 'ignore' });",
      `fs.writeFileSync(${JSON.stringify(pids)}, JSON.stringify([process.pid, child.pid]));`,
      'setInterval(() => {}, 1000);',
    ].join('\n'));
    userRouter(e, `verify:\n  tests: node ${JSON.stringify(script)} {file}\n  timeout_s: 2\n  max_attempts: 1\n`);
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'good') });
    const r = await cli(delegateArgs(e), childEnv(e, fake), e.root);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /did not finish within 2 s and was stopped/);
    assert.equal(fs.existsSync(path.join(e.workspace, e.project.target)), false);
    const [leader, grandchild] = JSON.parse(fs.readFileSync(pids, 'utf8')) as number[];
    await waitUntil(() => !isAlive(leader!) && !isAlive(grandchild!), 'the check\'s process group to be gone');
    assert.throws(() => process.kill(-leader!, 0), /ESRCH/, 'no process is left in the check\'s group');
  });

  it('propose (the editor\'s proposals): verified at the target, the accepted text returned, the target left as it was', async () => {
    const e = fresh('clamp');
    const target = path.join(e.workspace, e.project.target);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, 'ORIGINAL\n');
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'wrong') });
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'good') });
    const transport = new StdioClientTransport({ command: process.execPath, args: [SIDECAR, 'serve', '--workspace', e.workspace], env: childEnv(e, fake), cwd: e.root, stderr: 'pipe' });
    const client = new Client({ name: 'verify-tests', version: '1.0.0' });
    await client.connect(transport, { timeout: 20_000 });
    try {
      const r = await client.callTool({ name: 'delegate', arguments: { task: 'tests', prompt: 'Write tests.', files: [e.project.source], output_path: e.project.target, propose: true } }, undefined, { timeout: 120_000 });
      assert.equal(r.isError, undefined, textOf(r));
      const blocks = r.content as Array<{ text: string }>;
      assert.equal(blocks[0]!.text, answerFor(e.project, 'good'), 'the first block is the accepted file');
      assert.match(blocks[1]!.text, /tests pass \(2 attempts, gemini\)/);
      assert.equal(fs.readFileSync(target, 'utf8'), 'ORIGINAL\n');
      assert.equal((r.structuredContent as { backup_id?: string }).backup_id, undefined);
    } finally {
      await client.close();
    }
  });

  it('over MCP: progress per attempt, and the text says "tests pass (2 attempts, gemini)"', async () => {
    const e = fresh('wordcount');
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'broken') });
    fake.enqueue('gemini', { kind: 'ok', text: answerFor(e.project, 'good') });
    const transport = new StdioClientTransport({ command: process.execPath, args: [SIDECAR, 'serve', '--workspace', e.workspace], env: childEnv(e, fake), cwd: e.root, stderr: 'pipe' });
    const client = new Client({ name: 'verify-tests', version: '1.0.0' });
    await client.connect(transport, { timeout: 20_000 });
    try {
      const progress: string[] = [];
      const r = await client.callTool(
        { name: 'delegate', arguments: { task: 'tests', prompt: 'Write tests.', files: [e.project.source], output_path: e.project.target } },
        undefined,
        { timeout: 120_000, onprogress: (p) => p.message && progress.push(p.message) },
      );
      assert.equal(r.isError, undefined, textOf(r));
      assert.match(textOf(r), /tests pass \(2 attempts, gemini\): node --test test\/word-count\.test\.js/);
      const v = (r.structuredContent as { verification: { status: string; attempts: unknown[] } }).verification;
      assert.equal(v.status, 'passed');
      assert.ok(progress.some((m) => /^attempt 1 \(gemini\): check failed/.test(m)), progress.join('\n'));
      assert.ok(progress.some((m) => /^attempt 2 \(gemini, repair\): check passed/.test(m)), progress.join('\n'));
    } finally {
      await client.close();
    }
  });
});
