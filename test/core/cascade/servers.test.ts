import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ServerCascade, maskServerSecrets, type McpServer } from '../../../src/core/cascade';
import { lineOf, scratchWorkspace, write } from './helpers';

describe('MCP server cascade', () => {
  let s: ReturnType<typeof scratchWorkspace>;
  beforeEach(() => { s = scratchWorkspace(); });
  afterEach(() => s.cleanup());

  const load = (env: NodeJS.ProcessEnv = {}) => new ServerCascade({ workspace: s.workspace, env: { ...s.env, ...env } }).load();
  const byId = (servers: McpServer[]) => Object.fromEntries(servers.map((x) => [x.id, x]));

  it('loads the sample workspace: project files, .mcp.json, .vscode/mcp.json, docker and npx recipes', () => {
    const r = load();
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(r.servers.map((x) => [x.id, x.layer, x.source.file]), [
      ['context7', 'project', '.mcp/servers/optional.json'],
      ['fetch', 'docker', '.mcp/discovery-config.yaml'],
      ['memory', 'project', '.vscode/mcp.json'],
      ['perplexity', 'project', '.mcp/servers/optional.json'],
      ['playwright', 'project', '.mcp.json'],
      ['sentry', 'project', '.mcp/servers/optional.json'],
      ['sequential-thinking', 'npx', '.mcp/discovery-config.yaml'],
      ['zen', 'project', '.mcp/servers/core.json'],
    ]);
  });

  it('marks optional.json servers optional and off unless enabled in the discovery config', () => {
    const m = byId(load().servers);
    assert.deepEqual([m.context7!.optional, m.context7!.enabled], [true, true]); // enabled: [context7]
    assert.deepEqual([m.perplexity!.optional, m.perplexity!.enabled], [true, false]);
    assert.deepEqual([m.sentry!.optional, m.sentry!.enabled], [true, false]);
    assert.deepEqual([m.zen!.optional, m.zen!.enabled], [false, true]);
  });

  it('keeps the Claude Code server shape and the source line of each server', () => {
    const m = byId(load().servers);
    const zen = m.zen!;
    assert.equal(zen.type, 'stdio');
    assert.equal(zen.command, 'uvx');
    assert.deepEqual(zen.env, { GEMINI_API_KEY: '${GEMINI_API_KEY}', OPENAI_API_KEY: '${OPENAI_API_KEY}' });
    assert.equal(zen.source.line, lineOf(path.join(s.workspace, '.mcp/servers/core.json'), '"zen"'));
    assert.equal(m.memory!.source.line, lineOf(path.join(s.workspace, '.vscode/mcp.json'), '"memory"'));
    assert.deepEqual(zen.timeouts, { start_ms: 60000, health_ms: 3000 });
  });

  it('builds docker and npx command lines from the recipes; a file definition hides the recipe', () => {
    const m = byId(load().servers);
    assert.deepEqual([m.fetch!.command, m.fetch!.args], ['docker', ['run', '-i', '--rm', 'mcp/fetch']]);
    assert.deepEqual([m['sequential-thinking']!.command, m['sequential-thinking']!.args], ['npx', ['-y', '@modelcontextprotocol/server-sequential-thinking']]);
    const cfg = path.join(s.workspace, '.mcp/discovery-config.yaml');
    assert.deepEqual(m.sentry!.hides, [{ layer: 'docker', file: '.mcp/discovery-config.yaml', line: lineOf(cfg, '    docker:') }]);
  });

  it('user servers (~/.claude/mcp/servers, ~/.claude.json user and local scope) override project ones', () => {
    write(s.home, '.claude/mcp/servers/mine.json', JSON.stringify({ mcpServers: { zen: { command: 'zen-local' } } }, null, 2));
    write(s.home, '.claude.json', JSON.stringify({
      numStartups: 12,
      mcpServers: { playwright: { command: 'pw-user' } },
      projects: { [s.workspace]: { mcpServers: { memory: { type: 'http', url: 'http://127.0.0.1:9/mcp' } } }, '/elsewhere': { mcpServers: { other: { command: 'x' } } } },
    }, null, 2));
    const r = load();
    assert.deepEqual(r.diagnostics, []);
    const m = byId(r.servers);
    assert.deepEqual([m.zen!.layer, m.zen!.command, m.zen!.source.file], ['user', 'zen-local', '~/.claude/mcp/servers/mine.json']);
    assert.deepEqual(m.zen!.hides.map((h) => h.file), ['.mcp/servers/core.json']);
    assert.deepEqual([m.playwright!.layer, m.playwright!.source.file], ['user', '~/.claude.json']);
    assert.deepEqual([m.memory!.layer, m.memory!.url, m.memory!.hides[0]!.file], ['user', 'http://127.0.0.1:9/mcp', '.vscode/mcp.json']);
    assert.equal(m.other, undefined, "another project's local servers are not ours");
  });

  it('external: a lock file with a live pid wins; a stale one is skipped', () => {
    const dead = spawnSync(process.execPath, ['-e', ''], { timeout: 10000 }).pid!;
    write(s.env.SWITCHBOARD_HOME!, 'servers/zen.lock', JSON.stringify({ pid: process.pid, port: 4123, startedAt: '2026-01-01T00:00:00Z' }));
    write(s.env.SWITCHBOARD_HOME!, 'servers/context7.lock', JSON.stringify({ pid: dead, url: 'http://127.0.0.1:1/mcp' }));
    const m = byId(load().servers);
    assert.deepEqual([m.zen!.layer, m.zen!.url, m.zen!.pid, m.zen!.source.file], ['external', 'http://127.0.0.1:4123/mcp', process.pid, '$SWITCHBOARD_HOME/servers/zen.lock']);
    assert.deepEqual(m.zen!.hides.map((h) => h.layer), ['project']);
    assert.equal(m.context7!.layer, 'project');
  });

  it('external: SWITCHBOARD_MCP_<NAME>_URL matches a server ignoring case and -/_', () => {
    const m = byId(load({ SWITCHBOARD_MCP_SEQUENTIAL_THINKING_URL: 'http://127.0.0.1:5000/mcp', SWITCHBOARD_MCP_BRAND_NEW_URL: 'http://127.0.0.1:5001/mcp' }).servers);
    assert.deepEqual([m['sequential-thinking']!.layer, m['sequential-thinking']!.url], ['external', 'http://127.0.0.1:5000/mcp']);
    assert.equal(m['sequential-thinking']!.source.file, '$SWITCHBOARD_MCP_SEQUENTIAL_THINKING_URL');
    assert.equal(m['brand-new']!.layer, 'external');
  });

  it('anti_duplication.reuse_running: false ignores running instances', () => {
    write(s.workspace, '.mcp/discovery-config.yaml', 'anti_duplication:\n  reuse_running: false\n');
    assert.equal(byId(load({ SWITCHBOARD_MCP_ZEN_URL: 'http://127.0.0.1:5000/mcp' }).servers).zen!.layer, 'project');
  });

  it('a per-server strategy_order prefers a recipe over the files', () => {
    write(s.workspace, '.mcp/discovery-config.yaml', 'servers:\n  zen:\n    strategy_order: [docker]\n    docker:\n      image: zen/mcp\n');
    const zen = byId(load().servers).zen!;
    assert.deepEqual([zen.layer, zen.command], ['docker', 'docker']);
    assert.deepEqual(zen.hides.map((h) => h.layer), ['project']);
  });

  it('two names for the same command start once (warning at the later one)', () => {
    const f = write(s.workspace, '.mcp/servers/extra.json', JSON.stringify({ mcpServers: { playwright2: { command: 'npx', args: ['-y', '@playwright/mcp@latest'] } } }, null, 2));
    const r = load();
    const m = byId(r.servers);
    assert.deepEqual([m.playwright2!.duplicateOf, m.playwright2!.enabled], ['playwright', false]);
    assert.equal(m.playwright!.enabled, true);
    assert.deepEqual(r.diagnostics.map((d) => [d.file, d.line, d.severity]), [['.mcp/servers/extra.json', lineOf(f, 'playwright2'), 'warning']]);
  });

  it('disabled servers are listed but off; unknown names in enabled/disabled are warnings', () => {
    write(s.workspace, '.mcp/discovery-config.yaml', 'enabled: [sentry, nope]\ndisabled: [zen]\n');
    const r = load();
    const m = byId(r.servers);
    assert.equal(m.zen!.enabled, false);
    assert.equal(m.sentry!.enabled, true);
    assert.deepEqual(r.diagnostics.map((d) => [d.line, d.message]), [[1, 'enabled: no server is named "nope"']]);
  });

  it('masks secret env and header values for display, keeping ${VAR} references', () => {
    const masked = maskServerSecrets({ env: { API_KEY: 'abc123', LOG_LEVEL: 'info', TOKEN: '${TOKEN}', OTHER: 'sk-abcdefghijklmnopqrstuvwx' }, headers: { Authorization: 'Bearer xyz' } });
    assert.deepEqual(masked, { env: { API_KEY: '[REDACTED]', LOG_LEVEL: 'info', TOKEN: '${TOKEN}', OTHER: '[REDACTED]' }, headers: { Authorization: '[REDACTED]' } });
  });
});
