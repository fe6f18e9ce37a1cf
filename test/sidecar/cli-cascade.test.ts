import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const SIDECAR = path.join(ROOT, 'dist', 'sidecar.js');
const FIXTURE = path.join(ROOT, 'media', 'sample-workspace');

interface Run { code: number | null; stdout: string; stderr: string }

describe('CLI: switchboard agents / servers', function () {
  this.timeout(60_000);
  let tmp: string;
  let home: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    // `npm test` builds first; a bare `mocha` run builds here when the bundle is missing.
    if (!fs.existsSync(SIDECAR)) execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'inherit', timeout: 60_000 });
  });
  beforeEach(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-cli-cascade-')));
    home = path.join(tmp, 'home');
    fs.mkdirSync(path.join(home, '.claude', 'agents'), { recursive: true });
    fs.writeFileSync(path.join(home, '.claude', 'agents', 'code-reviewer.md'), '---\nname: code-reviewer\ndescription: My reviewer\ntools: Read, Grep\nmodel: opus\n---\nBe strict.\n');
    env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_')));
    Object.assign(env, { HOME: home, SWITCHBOARD_HOME: path.join(home, '.switchboard') });
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function run(args: string[], cwd = FIXTURE): Run {
    const r = spawnSync(process.execPath, [SIDECAR, ...args], { cwd, env, encoding: 'utf8', timeout: 20_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('agents --json: the user code-reviewer wins and shows what it hides', () => {
    const r = run(['agents', '--json', '--workspace', FIXTURE], tmp);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { agents: Array<{ id: string; layer: string; source: { file: string; line: number }; hides: Array<{ layer: string; file: string; line: number }> }>; diagnostics: unknown[] };
    assert.deepEqual(out.diagnostics, []);
    const cr = out.agents.find((a) => a.id === 'code-reviewer')!;
    assert.equal(cr.layer, 'user');
    assert.deepEqual(cr.source.file, '~/.claude/agents/code-reviewer.md');
    assert.deepEqual(cr.hides.map((h) => [h.layer, h.file]), [['core', '.agents/core/code-reviewer.yaml'], ['bundled', '(bundled)/code-reviewer.md']]);
    assert.deepEqual(out.agents.map((a) => a.id), ['ai-engineer', 'code-reviewer', 'docs-writer', 'journey-orchestrator', 'test-writer']);
  });

  it('agents (human): a table with layer, source file:line and what overrides what', () => {
    const r = run(['agents']); // the workspace defaults to the current directory
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID\s+LAYER\s+MODEL\s+FORMAT\s+SOURCE\s+NOTE$/m);
    assert.match(r.stdout, /^code-reviewer\s+user\s+opus\s+markdown\s+~\/\.claude\/agents\/code-reviewer\.md:2\s+overrides core, bundled$/m);
    assert.match(r.stdout, /^\s+↳ overridden\s+core\s+\.agents\/core\/code-reviewer\.yaml:\d+$/m);
    assert.match(r.stdout, /^ai-engineer\s+core\s+opus\s+yaml\s+\.agents\/core\/ai-engineer\.yaml:2$/m);
    assert.ok(!r.stdout.includes(tmp), 'no absolute temp paths in human output');
    assert.equal(r.stderr, '');
  });

  it('servers --json: optional servers marked, .mcp.json and .vscode/mcp.json with their layer', () => {
    const r = run(['servers', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { servers: Array<{ id: string; layer: string; optional: boolean; enabled: boolean; source: { file: string } }>; diagnostics: unknown[] };
    const m = Object.fromEntries(out.servers.map((x) => [x.id, x]));
    for (const id of ['context7', 'perplexity', 'sentry']) assert.equal(m[id]!.optional, true, id);
    assert.equal(m.perplexity!.enabled, false);
    assert.equal(m.zen!.optional, false);
    assert.deepEqual([m.playwright!.layer, m.playwright!.source.file], ['project', '.mcp.json']);
    assert.deepEqual([m.memory!.layer, m.memory!.source.file], ['project', '.vscode/mcp.json']);
  });

  it('servers (human): status column and overrides', () => {
    const r = run(['servers']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^perplexity\s+project\s+optional \(off\)\s+npx -y server-perplexity-ask\s+\.mcp\/servers\/optional\.json:\d+$/m);
    assert.match(r.stdout, /^sentry\s+project\s+optional \(off\).*overrides docker$/m);
    assert.match(r.stdout, /^zen\s+project\s+enabled\s+uvx /m);
  });

  it('diagnostics go to stderr as file:line:col, the rest is listed, exit 0', () => {
    const ws = path.join(tmp, 'ws');
    fs.cpSync(FIXTURE, ws, { recursive: true });
    fs.writeFileSync(path.join(ws, '.agents/core/bad.yaml'), 'metadata:\n  id: bad\n description: x\n');
    fs.writeFileSync(path.join(ws, '.mcp/servers/extra.json'), '{\n  "mcpServers": {\n    "hollow": {}\n  }\n}\n');
    const a = run(['agents', '--workspace', ws]);
    assert.equal(a.code, 0);
    assert.equal(a.stderr, '.agents/core/bad.yaml:3:1: error: All mapping items must start at the same column\n');
    assert.match(a.stdout, /1 error\(s\), 0 warning\(s\) \(on stderr\)/);
    assert.match(a.stdout, /^journey-orchestrator\s/m);
    const s = run(['servers', '--workspace', ws, '--json']);
    assert.equal(s.code, 0);
    const out = JSON.parse(s.stdout) as { diagnostics: Array<{ file: string; line: number }> };
    assert.deepEqual(out.diagnostics.map((d) => [d.file, d.line]), [['.mcp/servers/extra.json', 3]]);
  });

  it('never prints a literal key from a server env, in either output', () => {
    const ws = path.join(tmp, 'ws');
    fs.cpSync(FIXTURE, ws, { recursive: true });
    const key = 'pplx-' + 'a1b2c3d4e5f6g7h8i9j0';
    fs.writeFileSync(path.join(ws, '.mcp.json'), JSON.stringify({ mcpServers: { p: { command: 'npx', args: ['-y', 'server-perplexity-ask'], env: { PERPLEXITY_API_KEY: key } } } }));
    for (const args of [['servers', '--workspace', ws], ['servers', '--json', '--workspace', ws]]) {
      const r = run(args);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.includes(key) && !r.stderr.includes(key), args.join(' '));
    }
    const json = JSON.parse(run(['servers', '--json', '--workspace', ws]).stdout) as { servers: Array<{ id: string; env?: Record<string, string> }> };
    assert.deepEqual(json.servers.find((x) => x.id === 'p')!.env, { PERPLEXITY_API_KEY: '[REDACTED]' });
  });

  it('--workspace that is not a directory: exit 1 and one plain line', () => {
    for (const cmd of ['agents', 'servers']) {
      const r = run([cmd, '--workspace', path.join(tmp, 'missing')]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `switchboard: --workspace ${path.join(tmp, 'missing')}: not a directory\n`);
    }
  });

  it('an unknown option: exit 1 and one plain line', () => {
    const r = run(['agents', '--check']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /^switchboard: .*--check/);
  });
});
