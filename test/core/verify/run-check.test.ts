/**
 * The check runner with real processes: exit codes, a flood of output stopped and capped, a hang stopped with
 * its whole group, a missing program, cancellation, and an environment without keys.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildInvocation } from '../../../src/core/verify/command';
import { checkEnvironment, runCheck } from '../../../src/core/verify/run-check';
import { failureExcerpt, summarizeCheck } from '../../../src/core/verify/summary';
import { isAlive } from '../../support/process';

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('verify: the check runner', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => (dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-verify-run-')))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = () => checkEnvironment(process.env);

  it('passes on exit 0 and fails on anything else, with a one-line summary of node:test output', async () => {
    fs.writeFileSync(path.join(dir, 'ok.test.js'), "require('node:test')('fine', () => {});\n");
    fs.writeFileSync(path.join(dir, 'bad.test.js'), "const assert = require('assert'); require('node:test')('sums', () => assert.strictEqual(1 + 1, 3));\n");
    const ok = await runCheck(buildInvocation('node --test {file}', { file: 'ok.test.js' }), { cwd: dir, env: env() });
    assert.equal(ok.passed, true, ok.output);
    assert.equal(summarizeCheck(ok, 1000), '0 failed, 1 passed');
    const bad = await runCheck(buildInvocation('node --test {file}', { file: 'bad.test.js' }), { cwd: dir, env: env() });
    assert.equal(bad.passed, false);
    assert.equal(bad.exitCode, 1);
    assert.match(summarizeCheck(bad, 1000), /^exit 1: 1 failed, 0 passed/);
    assert.match(failureExcerpt(bad, 'x'), /3/);
  });

  it('a flood of output is stopped, counted as failed, and kept as head and tail only', async () => {
    const inv = buildInvocation(`node -e "process.stdout.write('HEAD\\n'); const b = 'x'.repeat(65536); (function w() { process.stdout.write(b, w); })()"`, { file: 'x' });
    const run = await runCheck(inv, { cwd: dir, env: env(), limits: { maxOutputBytes: 2 * 1024 * 1024, headBytes: 1024, tailBytes: 2048, timeoutMs: 45_000 } });
    assert.equal(run.passed, false);
    assert.equal(run.flooded, true);
    assert.ok(run.output.length < 4096 + 100, `kept ${run.output.length} chars`);
    assert.match(run.output, /^HEAD\n/);
    assert.match(run.output, /bytes of output left out/);
    assert.match(summarizeCheck(run, 1000), /more than \d+ MiB of output and was stopped/);
    await waitUntil(() => !isAlive(run.pid!), 'the flooding process to end');
  });

  it('a hang is stopped at the timeout: SIGTERM, then SIGKILL for what ignores it, the whole group', async () => {
    const pidsFile = path.join(dir, 'pids.json');
    const script = path.join(dir, 'hang.js');
    fs.writeFileSync(script, [
      "const { spawn } = require('child_process');",
      "process.on('SIGTERM', () => {});",
      "const c = spawn(process.execPath, ['-e', \"process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)\"], { stdio: 'ignore' });",
      `require('fs').writeFileSync(${JSON.stringify(pidsFile)}, JSON.stringify([process.pid, c.pid]));`,
      'setInterval(() => {}, 1000);',
    ].join('\n'));
    const run = await runCheck(buildInvocation(`node ${JSON.stringify(script)}`, { file: 'x' }), { cwd: dir, env: env(), limits: { timeoutMs: 1500, killGraceMs: 500 } });
    assert.equal(run.timedOut, true);
    assert.equal(run.passed, false);
    assert.equal(run.signal, 'SIGKILL');
    const pids = JSON.parse(fs.readFileSync(pidsFile, 'utf8')) as number[];
    await waitUntil(() => pids.every((p) => !isAlive(p)), 'the check and its grandchild to be gone');
    assert.throws(() => process.kill(-run.pid!, 0), /ESRCH/);
  });

  it('a background process a passing check leaves behind is ended with it', async () => {
    const pidFile = path.join(dir, 'bg.pid');
    const script = path.join(dir, 'leave.js');
    fs.writeFileSync(script, [
      "const { spawn } = require('child_process');",
      "const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });",
      `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));`,
      'c.unref();',
    ].join('\n'));
    const run = await runCheck(buildInvocation(`node ${JSON.stringify(script)}`, { file: 'x' }), { cwd: dir, env: env() });
    assert.equal(run.passed, true, run.output);
    const bg = Number(fs.readFileSync(pidFile, 'utf8'));
    await waitUntil(() => !isAlive(bg), 'the left-behind process to be gone');
  });

  it('a program that does not exist is a failed check with a plain reason', async () => {
    const run = await runCheck(buildInvocation('no-such-program-xyz {file}', { file: 'a.js' }), { cwd: dir, env: env() });
    assert.equal(run.passed, false);
    assert.match(summarizeCheck(run, 1000), /could not start: .*ENOENT/);
  });

  it('cancellation stops the check', async () => {
    const controller = new AbortController();
    const pending = runCheck(buildInvocation('node -e "setInterval(() => {}, 1000)"', { file: 'x' }), { cwd: dir, env: env(), signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    const run = await pending;
    assert.equal(run.passed, false);
    assert.equal(run.timedOut, false);
  });

  it('the environment keeps PATH and HOME and drops every key variable, named ones too', () => {
    const e = checkEnvironment({ PATH: '/bin', HOME: '/h', LC_ALL: 'C', OPENAI_API_KEY: 'sk-x', GOOGLE_API_KEY: 'g', TOGETHER_AI_API_KEY: 't', HUGGINGFACE_API_TOKEN: 'h', AWS_SECRET_ACCESS_KEY: 'a', NODE_OPTIONS: '--require evil', MY_KEY: 'm' }, ['MY_KEY']);
    assert.deepEqual(Object.keys(e).sort(), ['CI', 'FORCE_COLOR', 'HOME', 'LC_ALL', 'NO_COLOR', 'PATH']);
  });
});
