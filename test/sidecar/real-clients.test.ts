/**
 * The sidecar with real MCP clients, installed by scripts/install-mcp-clients.sh (outside package.json):
 * the MCP Inspector CLI and the Claude Code CLI. Without them the suite is skipped locally and FAILS under
 * CI=true, so CI cannot pass without having run them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildOnce, makeScratch, SIDECAR, type Scratch } from './helpers';

const CLIENTS_BIN = path.join(process.env.SWITCHBOARD_CLIENTS_DIR ?? path.join(os.homedir(), '.cache', 'switchboard', 'mcp-clients'), 'bin');
const INSPECTOR = path.join(CLIENTS_BIN, 'mcp-inspector');
const CLAUDE = path.join(CLIENTS_BIN, 'claude');

function requireTool(ctx: Mocha.Context, file: string): void {
  if (fs.existsSync(file)) return;
  const how = `${path.basename(file)} not installed at ${file}; run scripts/install-mcp-clients.sh`;
  if (process.env.CI === 'true') assert.fail(how);
  ctx.skip();
}

function run(cmd: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { ...options, encoding: 'utf8', timeout: 90_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('real MCP clients: MCP Inspector CLI', function () {
  this.timeout(120_000);
  let scratch: Scratch;
  before(function () {
    requireTool(this, INSPECTOR);
    buildOnce();
    scratch = makeScratch();
  });
  after(() => scratch?.cleanup());

  function inspector(method: string, extra: string[] = []) {
    // HOME moves the inspector's own catalog; -e gives the sidecar its state folders.
    const env = { ...process.env, HOME: scratch.home, SWITCHBOARD_HOME: scratch.switchboardHome };
    const args = ['--cli', '-e', `HOME=${scratch.home}`, '-e', `SWITCHBOARD_HOME=${scratch.switchboardHome}`, process.execPath, SIDECAR, 'serve', '--workspace', scratch.workspace, '--method', method, ...extra];
    return run(INSPECTOR, args, { cwd: scratch.root, env });
  }

  it('tools/list lists the eleven tools', () => {
    const r = inspector('tools/list');
    assert.equal(r.status, 0, r.stderr);
    const { tools } = JSON.parse(r.stdout) as { tools: Array<{ name: string; outputSchema?: unknown }> };
    assert.deepEqual(
      tools.map((t) => t.name).sort(),
      ['delegate', 'list_agents', 'list_backups', 'list_servers', 'project_context', 'quota_status', 'read_file', 'restore_backup', 'search_registry', 'usage_report', 'write_file'],
    );
    assert.ok(tools.every((t) => t.outputSchema));
  });

  it('tools/call quota_status answers with structured content', () => {
    const r = inspector('tools/call', ['--tool-name', 'quota_status']);
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { isError?: boolean; structuredContent?: { providers: Array<{ id: string }> }; content: Array<{ text: string }> };
    assert.notEqual(result.isError, true, r.stdout);
    assert.ok(result.structuredContent?.providers.some((p) => p.id === 'gemini'), r.stdout);
    assert.match(result.content[0]!.text, /gemini/);
  });
});

describe('real MCP clients: Claude Code CLI', function () {
  this.timeout(180_000);
  let scratch: Scratch;
  let env: NodeJS.ProcessEnv;
  before(function () {
    requireTool(this, CLAUDE);
    buildOnce();
    scratch = makeScratch();
    env = { ...process.env, HOME: scratch.home, SWITCHBOARD_HOME: scratch.switchboardHome };
    delete env.ANTHROPIC_API_KEY;
  });
  after(() => scratch?.cleanup());

  it('`switchboard install claude --scope local` then `claude mcp list` shows it ✔ Connected', () => {
    const install = run(process.execPath, [SIDECAR, 'install', 'claude', '--scope', 'local', '--claude-bin', CLAUDE], { cwd: scratch.workspace, env });
    assert.equal(install.status, 0, install.stderr);
    assert.match(install.stdout, /claude mcp list/, 'prints how to verify');
    const claudeJson = fs.readFileSync(path.join(scratch.home, '.claude.json'), 'utf8');
    assert.match(claudeJson, /"switchboard"/);

    const list = run(CLAUDE, ['mcp', 'list'], { cwd: scratch.workspace, env });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /switchboard: .*sidecar\.js serve - ✔ Connected/, list.stdout);
  });

  it('installing again replaces the entry instead of failing', () => {
    const again = run(process.execPath, [SIDECAR, 'install', 'claude', '--scope', 'local', '--claude-bin', CLAUDE, '--json'], { cwd: scratch.workspace, env });
    assert.equal(again.status, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { scope: string }).scope, 'local');
    const list = run(CLAUDE, ['mcp', 'list'], { cwd: scratch.workspace, env });
    assert.equal(list.stdout.match(/switchboard:/g)?.length, 1, list.stdout);
  });
});

describe('switchboard install claude --scope project', function () {
  this.timeout(60_000);
  let scratch: Scratch;
  before(() => {
    buildOnce();
    scratch = makeScratch();
  });
  after(() => scratch?.cleanup());

  it('merges into .mcp.json keeping the other servers, with a backup first', () => {
    const file = path.join(scratch.workspace, '.mcp.json');
    const before = JSON.parse(fs.readFileSync(file, 'utf8')) as { mcpServers: Record<string, unknown> };
    const others = Object.keys(before.mcpServers);
    assert.ok(others.length > 0, 'the sample has a server in .mcp.json');
    const r = run(process.execPath, [SIDECAR, 'install', 'claude', '--scope', 'project', '--json'], { cwd: scratch.workspace, env: { ...process.env, HOME: scratch.home } });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { backup_id: string; file: string };
    assert.equal(out.file, '.mcp.json');
    const after = JSON.parse(fs.readFileSync(file, 'utf8')) as { mcpServers: Record<string, { command: string; args: string[] }> };
    for (const name of others) assert.deepEqual(after.mcpServers[name], before.mcpServers[name]);
    assert.equal(after.mcpServers.switchboard!.command, 'node');
    assert.deepEqual(after.mcpServers.switchboard!.args.slice(-1), ['serve']);

    assert.ok(fs.readFileSync(path.join(scratch.workspace, '.switchboard', 'audit.jsonl'), 'utf8').includes(out.backup_id));
  });

  it('a broken .mcp.json is reported with its line and left unchanged', () => {
    const file = path.join(scratch.workspace, '.mcp.json');
    fs.writeFileSync(file, '{\n  "mcpServers": {\n    "x": \n}\n');
    const r = run(process.execPath, [SIDECAR, 'install', 'claude', '--scope', 'project'], { cwd: scratch.workspace, env: { ...process.env, HOME: scratch.home } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^switchboard: \.mcp\.json:\d+:\d+: .*nothing was changed\n$/);
    assert.equal(fs.readFileSync(file, 'utf8'), '{\n  "mcpServers": {\n    "x": \n}\n');
  });
});
