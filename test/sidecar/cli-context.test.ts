import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const REPO = path.resolve(__dirname, '..', '..');
const SIDECAR = path.join(REPO, 'dist', 'sidecar.js');
const SAMPLE = path.join(REPO, 'media', 'sample-workspace');

interface Run { code: number | null; stdout: string; stderr: string }

describe('CLI: switchboard context [--check]', function () {
  this.timeout(60_000);
  let root: string;
  let workspace: string;
  let env: NodeJS.ProcessEnv;
  const contextFile = () => path.join(workspace, 'PROJECT_CONTEXT.md');

  before(() => {
    // `npm test` builds first; a bare mocha run builds here when the bundle is missing.
    if (!fs.existsSync(SIDECAR)) execFileSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { cwd: REPO, stdio: 'inherit', timeout: 60_000 });
  });
  beforeEach(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-cli-context-')));
    workspace = path.join(root, 'ws');
    fs.cpSync(SAMPLE, workspace, { recursive: true, filter: (src) => path.basename(src) !== '.switchboard' });
    fs.mkdirSync(path.join(root, 'home'));
    env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_')));
    Object.assign(env, { HOME: path.join(root, 'home'), SWITCHBOARD_HOME: path.join(root, 'sb') });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  function run(...args: string[]): Run {
    const r = spawnSync(process.execPath, [SIDECAR, 'context', '--workspace', workspace, ...args], { cwd: root, env, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('--check exits 1 with one plain line while the file is missing or stale, 0 when current; it never writes', () => {
    const missing = run('--check');
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'switchboard: PROJECT_CONTEXT.md does not exist; run `switchboard context` to generate it\n');
    assert.equal(fs.existsSync(contextFile()), false);

    const created = run();
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^Created PROJECT_CONTEXT\.md; backup \S+ \(`switchboard backups restore \S+` undoes it\)\.\n$/);
    const bytes = fs.readFileSync(contextFile(), 'utf8');
    assert.match(bytes, /^# Project context: ws$/m);

    const current = run('--check');
    assert.equal(current.code, 0, current.stderr);
    assert.equal(current.stdout, 'PROJECT_CONTEXT.md is up to date.\n');
    assert.equal(current.stderr, '');

    // The state changes (a new agent): stale, and --check leaves the file alone.
    fs.writeFileSync(path.join(workspace, '.agents', 'core', 'release-manager.yaml'),
      'metadata:\n  id: release-manager\n  version: 1.0.0\n  description: Cuts releases\n  category: ops\nruntime:\n  model: sonnet\nimplementation:\n  type: markdown\n  source: Cut the release.\n');
    const stale = run('--check');
    assert.equal(stale.code, 1);
    assert.equal(stale.stderr, 'switchboard: PROJECT_CONTEXT.md is stale (Agents changed); run `switchboard context` to regenerate it\n');
    assert.equal(fs.readFileSync(contextFile(), 'utf8'), bytes);
  });

  it('regenerating an unchanged state writes nothing (mtime kept); a change says what changed', () => {
    assert.equal(run().code, 0);
    const past = new Date('2001-01-01T00:00:00Z');
    fs.utimesSync(contextFile(), past, past);
    const again = run();
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'PROJECT_CONTEXT.md is up to date; nothing written.\n');
    assert.equal(fs.statSync(contextFile()).mtimeMs, past.getTime());

    fs.mkdirSync(path.join(workspace, '.git'));
    fs.writeFileSync(path.join(workspace, '.git', 'HEAD'), 'ref: refs/heads/topic\n');
    const changed = run();
    assert.match(changed.stdout, /^Updated PROJECT_CONTEXT\.md: title changed; backup (\S+) /);
    assert.match(fs.readFileSync(contextFile(), 'utf8'), /^- Branch: `topic`$/m);
    // The backup restores through the CLI the user was told about.
    const id = /backup (\S+) /.exec(changed.stdout)![1]!;
    const backups = fs.readdirSync(path.join(workspace, '.switchboard', 'backups', 'records'), { recursive: true }).map(String);
    assert.ok(backups.some((f) => f.includes(id)), `backup ${id} recorded`);
  });

  it('--json is stable machine output (and --check --json still exits 1 when stale)', () => {
    const stale = run('--check', '--json');
    assert.equal(stale.code, 1);
    assert.deepEqual(JSON.parse(stale.stdout), {
      changed: false, stale: true, path: 'PROJECT_CONTEXT.md', existed: false,
      sections: ['(header)', 'Agents', 'MCP servers', 'Providers and quota left', 'Recent delegations', 'Notes'],
    });
    const written = JSON.parse(run('--json').stdout) as { changed: boolean; backupId: string };
    assert.equal(written.changed, true);
    assert.match(written.backupId, /\S/);
    assert.deepEqual(JSON.parse(run('--json').stdout), { changed: false, stale: false, path: 'PROJECT_CONTEXT.md', existed: true, sections: [] });
  });

  it('a missing workspace or an unknown option is one plain line and exit 1', () => {
    const r = spawnSync(process.execPath, [SIDECAR, 'context', '--workspace', path.join(root, 'nope')], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /^switchboard: --workspace .*nope: not a directory\n$/);
    const bad = run('--frobnicate');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^switchboard: Unknown option '--frobnicate'/);
  });
});
