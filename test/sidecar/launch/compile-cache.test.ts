import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheFileName } from '../../../src/sidecar/launch/compile-cache';
import { buildOnce, REPO, SIDECAR } from '../helpers';

/** A bundle in the launcher's shape: one function expression taking Node's module-wrapper arguments. */
const BUNDLE = `(function (exports, require, module, __filename, __dirname) {'use strict';
  const path = require('node:path');
  globalThis.__compileCacheProbe = { file: __filename, dir: __dirname, sep: path.sep, sum: [1, 2, 3].reduce((a, b) => a + b, 0) };
})`;

interface Started {
  outcome: string;
  cacheFile?: string;
  probe?: { file: string; dir: string; sum: number };
}

describe('sidecar launcher: V8 code cache', function () {
  this.timeout(60_000);
  let root: string;
  let bundlePath: string;
  let cacheDir: string;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-compile-cache-'));
    bundlePath = path.join(root, 'bundle.js');
    fs.writeFileSync(bundlePath, BUNDLE);
    cacheDir = path.join(root, 'home', 'cache', 'compile');
    fs.mkdirSync(path.join(root, 'home'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** One start in a fresh process (V8's in-memory script cache would otherwise answer instead of the file). */
  const start = (opts: { id?: string; save?: boolean; cacheDir?: string | null } = {}): Started => {
    const args = { bundlePath, bundleId: opts.id ?? 'abc123', cacheDir: opts.cacheDir === null ? undefined : (opts.cacheDir ?? cacheDir), filename: path.join(root, 'sidecar.js'), save: opts.save };
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'start-bundle.ts'), JSON.stringify(args)], { encoding: 'utf8', timeout: 60_000, cwd: REPO });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Started;
  };

  it('runs the bundle with __filename, __dirname and require as a module would see them', () => {
    const { probe } = start();
    assert.deepEqual(probe, { file: path.join(root, 'sidecar.js'), dir: root, sep: path.sep, sum: 6 });
  });

  it('misses, saves an owner-only cache, then hits it', () => {
    const first = start();
    assert.equal(first.outcome, 'miss');
    assert.equal(fs.existsSync(first.cacheFile!), false, 'nothing is written before saveCache');
    assert.equal(start({ save: true }).outcome, 'miss');
    const st = fs.statSync(first.cacheFile!);
    assert.ok(st.size > 0);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(fs.statSync(cacheDir).mode & 0o777, 0o700);
    assert.deepEqual(fs.readdirSync(cacheDir), [path.basename(first.cacheFile!)], 'no temp file left');
    const second = start();
    assert.equal(second.outcome, 'hit');
    assert.equal(second.probe?.sum, 6);
  });

  for (const [name, bytes] of [
    ['garbage', () => Buffer.from('not a V8 code cache at all')],
    ['a truncated cache', (valid: Buffer) => valid.subarray(0, Math.floor(valid.length / 2))],
    ['a cache with flipped bytes', (valid: Buffer) => Buffer.from(valid.map((b, i) => (i > 16 ? b ^ 0xff : b)))],
    ['an empty file', () => Buffer.alloc(0)],
  ] as Array<[string, (valid: Buffer) => Buffer]>) {
    it(`rejects ${name}, still runs the bundle, and replaces it with a good cache`, () => {
      const first = start({ save: true });
      const valid = fs.readFileSync(first.cacheFile!);
      fs.writeFileSync(first.cacheFile!, bytes(valid));
      const second = start({ save: true });
      assert.equal(second.outcome, 'rejected');
      assert.equal(second.probe?.sum, 6, 'the bundle ran from source');
      assert.equal(start().outcome, 'hit');
    });
  }

  it('keys the cache by bundle id, Node version and architecture', () => {
    assert.equal(cacheFileName('deadbeef-serve', 'v20.20.2', 'x64'), 'deadbeef-serve-node20.20.2-x64.bin');
    const a = start({ id: 'one', save: true });
    const b = start({ id: 'two' });
    assert.equal(b.outcome, 'miss', "another bundle never reads the first one's cache");
    assert.notEqual(a.cacheFile, b.cacheFile);
  });

  it('keeps only the newest few cache files', () => {
    for (let i = 0; i < 6; i++) {
      const run = start({ id: `build${i}`, save: true });
      fs.utimesSync(run.cacheFile!, new Date(), new Date(Date.now() + i * 1000)); // later builds newer
    }
    const left = fs.readdirSync(cacheDir).sort();
    assert.equal(left.length, 4, left.join(', '));
    assert.ok(left.some((f) => f.startsWith('build5-')));
    assert.ok(!left.some((f) => f.startsWith('build0-')));
  });

  it('runs without a cache when the folder cannot be written (a file stands where it would go)', () => {
    fs.mkdirSync(path.dirname(cacheDir), { recursive: true });
    fs.writeFileSync(cacheDir, 'a file, not a folder');
    const run = start({ save: true });
    assert.equal(run.outcome, 'miss');
    assert.equal(run.probe?.sum, 6);
    assert.equal(fs.readFileSync(cacheDir, 'utf8'), 'a file, not a folder', 'nothing overwritten');
  });

  it('runs without a cache when none is configured', () => {
    const run = start({ cacheDir: null, save: true });
    assert.equal(run.outcome, 'off');
    assert.equal(fs.existsSync(path.join(root, 'home', 'cache')), false);
  });

  it('never brings back a state folder removed while the process ran (a scratch $SWITCHBOARD_HOME cleaned up)', () => {
    const home = path.join(root, 'home');
    const args = { bundlePath, bundleId: 'gone', cacheDir, filename: path.join(root, 'sidecar.js') };
    // The child starts, then its state folder goes, then it saves: nothing may appear.
    const script = `const { runBundle } = require(${JSON.stringify(path.join(REPO, 'src/sidecar/launch/compile-cache.ts'))});
      const started = runBundle(${JSON.stringify(args)});
      require('node:fs').rmSync(${JSON.stringify(home)}, { recursive: true });
      started.saveCache();
      process.stdout.write(started.outcome);`;
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { encoding: 'utf8', timeout: 60_000, cwd: REPO });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'miss');
    assert.equal(fs.existsSync(home), false);
  });

  it('creates the state folder on a first run that finds none', () => {
    fs.rmSync(path.join(root, 'home'), { recursive: true });
    start({ save: true });
    assert.equal(start().outcome, 'hit');
  });

  describe('dist/sidecar.js', () => {
    before(function () {
      this.timeout(180_000);
      buildOnce();
    });

    it('fills the cache in $SWITCHBOARD_HOME on the first start, uses it on the next, and honours NODE_DISABLE_COMPILE_CACHE', () => {
      const home = path.join(root, 'user');
      fs.mkdirSync(home);
      const run = (args: string[], env: Record<string, string> = {}) => {
        const r = spawnSync(process.execPath, [SIDECAR, ...args], {
          env: { PATH: process.env.PATH ?? '', HOME: home, SWITCHBOARD_HOME: path.join(home, '.sb'), SWITCHBOARD_DEBUG: '1', ...env },
          encoding: 'utf8',
          timeout: 30_000,
        });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^(switchboard \d+\.\d+\.\d+|Usage: switchboard|switchboard demo: )/);
        return /compile cache (\w+)/.exec(r.stderr)?.[1];
      };
      assert.equal(run(['--version']), 'miss');
      const dir = path.join(home, '.sb', 'cache', 'compile');
      assert.equal(fs.readdirSync(dir).length, 1);
      assert.equal(run(['--version']), 'hit');
      assert.equal(run(['--version'], { NODE_DISABLE_COMPILE_CACHE: '1' }), 'off');
      assert.equal(run(['demo', '--help']), 'off', 'the demo writes nothing outside its scratch folder');
      // `--help` runs as the CLI too; `serve` keeps its own cache, so a CLI command never evicts what it compiled.
      assert.equal(run(['--help']), 'hit');
      const serve = spawnSync(process.execPath, [SIDECAR, 'serve', '--workspace', root], {
        env: { PATH: process.env.PATH ?? '', HOME: home, SWITCHBOARD_HOME: path.join(home, '.sb'), SWITCHBOARD_DEBUG: '1' },
        input: '',
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.match(serve.stderr, /compile cache miss .*-serve-node/);
      assert.equal(fs.readdirSync(dir).length, 2, fs.readdirSync(dir).join(', '));
    });
  });
});
