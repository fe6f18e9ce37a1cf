/**
 * Check command templates: split without a shell, `{file}` always one argument, quoted for a shell when one is
 * needed — exercised with real processes (node, /bin/sh) on hostile file names, Windows-style ones included.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildInvocation, needsShell, quoteCmd, splitTemplate } from '../../../src/core/verify/command';
import { checkEnvironment, runCheck } from '../../../src/core/verify/run-check';

const HOSTILE = [
  'test\\unit tests\\my file.test.js',
  'C:\\Users\\Dev Team\\proj\\test\\a;b.test.js',
  "test/it's \"quoted\".test.js",
  'test/$(touch PWNED) `touch PWNED2`; touch PWNED3 && echo.test.js',
  'test/-rf --require=evil.js',
  'test/per%PATH%cent!.test.js',
];

describe('verify: check command templates', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-verify-cmd-')));
    fs.writeFileSync(path.join(dir, 'print-args.js'), "require('fs').writeFileSync('args.json', JSON.stringify(process.argv.slice(2)));\n");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('splits like a POSIX shell, keeps Windows backslashes as written, and knows when a shell is needed', () => {
    assert.deepEqual(splitTemplate('npx vitest run {file}').map((w) => w.text), ['npx', 'vitest', 'run', '{file}']);
    assert.deepEqual(splitTemplate('"C:\\Program Files\\node.exe" --test {file}').map((w) => w.text), ['C:\\Program Files\\node.exe', '--test', '{file}']);
    assert.deepEqual(splitTemplate("node -e 'a b' --x=\"{file}\"").map((w) => w.text), ['node', '-e', 'a b', '--x={file}']);
    assert.equal(needsShell('npx vitest run {file}'), false);
    assert.equal(needsShell('npm run -s typecheck && npx vitest run {file}'), true);
    assert.equal(needsShell('FOO=1 node --test {file}'), true);
    assert.equal(needsShell('node --test {file} | tee out'), true);
    assert.equal(needsShell("node -e 'a && b' {file}"), false, 'operators inside quotes are arguments');
    assert.throws(() => splitTemplate('node "unterminated {file}'), /unterminated " quote/);
  });

  for (const file of HOSTILE) {
    it(`without a shell, ${JSON.stringify(file)} is exactly one argument`, async () => {
      const inv = buildInvocation('node print-args.js --flag {file}', { file });
      assert.equal(inv.kind, 'argv');
      const run = await runCheck(inv, { cwd: dir, env: checkEnvironment(process.env) });
      assert.equal(run.passed, true, run.output);
      const args = JSON.parse(fs.readFileSync(path.join(dir, 'args.json'), 'utf8')) as string[];
      assert.deepEqual(args, ['--flag', file.startsWith('-') ? `./${file}` : file]);
      for (const marker of ['PWNED', 'PWNED2', 'PWNED3']) assert.equal(fs.existsSync(path.join(dir, marker)), false);
    });

    it(`through /bin/sh, ${JSON.stringify(file)} is quoted into one word and runs nothing`, async function () {
      if (process.platform === 'win32') this.skip();
      const inv = buildInvocation('true && node print-args.js {file}', { file }, 'linux');
      assert.equal(inv.kind, 'shell');
      const run = await runCheck(inv, { cwd: dir, env: checkEnvironment(process.env) });
      assert.equal(run.passed, true, run.output);
      const args = JSON.parse(fs.readFileSync(path.join(dir, 'args.json'), 'utf8')) as string[];
      assert.deepEqual(args, [file.startsWith('-') ? `./${file}` : file]);
      for (const marker of ['PWNED', 'PWNED2', 'PWNED3']) assert.equal(fs.existsSync(path.join(dir, marker)), false);
    });
  }

  it('for cmd.exe, a Windows path is double-quoted; names cmd cannot quote safely are refused', () => {
    const inv = buildInvocation('npm run lint && npx jest {file}', { file: 'C:\\Users\\Dev Team\\a;b.test.js' }, 'win32');
    assert.equal(inv.kind, 'shell');
    assert.equal((inv as { script: string }).script, 'npm run lint && npx jest "C:\\Users\\Dev Team\\a;b.test.js"');
    assert.throws(() => quoteCmd('a"b.js'), /cannot be quoted safely/);
    assert.throws(() => quoteCmd('per%PATH%cent.js'), /cannot be quoted safely/);
    assert.throws(() => buildInvocation('x && y {file}', { file: 'a!b.js' }, 'win32'), /cannot be quoted safely/);
  });

  it('{dir} is the file\'s folder, one argument too', () => {
    const inv = buildInvocation('go test ./{dir}', { file: 'pkg/my dir/x_test.go', dir: 'pkg/my dir' });
    assert.deepEqual((inv as { argv: string[] }).argv, ['go', 'test', './pkg/my dir']);
  });
});
