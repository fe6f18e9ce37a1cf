/**
 * The team server with the real Claude Code CLI and MCP Inspector CLI (installed by
 * scripts/install-mcp-clients.sh), and a local sidecar that routes through it (`kind: switchboard`).
 * Without the CLIs these cases are skipped locally and FAIL under CI=true.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startFakeProviderServer, type FakeProviderServer } from '../../fakes/provider-server';
import { buildOnce, connectSidecar, makeScratch, textOf, type Scratch } from '../helpers';
import { serverEnv, startTeamServer, waitFor, writeTokensFile, type TeamServer } from './helpers';

const CLIENTS_BIN = path.join(process.env.SWITCHBOARD_CLIENTS_DIR ?? path.join(os.homedir(), '.cache', 'switchboard', 'mcp-clients'), 'bin');
const CLAUDE = path.join(CLIENTS_BIN, 'claude');
const INSPECTOR = path.join(CLIENTS_BIN, 'mcp-inspector');
const TOKEN = 'sbt_team_' + 't'.repeat(40);

function requireTool(ctx: Mocha.Context, file: string): void {
  if (fs.existsSync(file)) return;
  if (process.env.CI === 'true') assert.fail(`${path.basename(file)} not installed at ${file}; run scripts/install-mcp-clients.sh`);
  ctx.skip();
}

function run(cmd: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { ...options, encoding: 'utf8', timeout: 90_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('team server with real clients', function () {
  this.timeout(180_000);
  let scratch: Scratch;
  let fake: FakeProviderServer;
  let server: TeamServer;

  before(async () => {
    buildOnce();
    scratch = makeScratch();
    fake = await startFakeProviderServer({ reply: { text: '# Generated on the team server\n', usage: { inputTokens: 50, outputTokens: 10 } } });
    const tokensFile = path.join(scratch.root, 'tokens.json');
    writeTokensFile(tokensFile, [{ id: 'dev1', token: TOKEN, team: 'core' }]);
    const teamHome = path.join(scratch.root, 'team-home');
    fs.mkdirSync(teamHome);
    server = await startTeamServer({ ...serverEnv({ ...scratch, switchboardHome: teamHome }, fake), SWITCHBOARD_TOKENS_FILE: tokensFile });
  });
  after(async () => {
    await server?.stop();
    await fake?.close();
    scratch?.cleanup();
  });

  it('`claude mcp add --transport http … --header "Authorization: Bearer …"` then `claude mcp list` shows ✔ Connected', async function () {
    requireTool(this, CLAUDE);
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: scratch.home };
    delete env.ANTHROPIC_API_KEY;
    const add = run(CLAUDE, ['mcp', 'add', '--transport', 'http', 'team', server.mcpUrl, '--header', `Authorization: Bearer ${TOKEN}`], { cwd: scratch.workspace, env });
    assert.equal(add.status, 0, add.stderr + add.stdout);
    const bad = run(CLAUDE, ['mcp', 'add', '--transport', 'http', 'team-bad', server.mcpUrl, '--header', 'Authorization: Bearer wrong-token-value'], { cwd: scratch.workspace, env });
    assert.equal(bad.status, 0, bad.stderr);
    const list = run(CLAUDE, ['mcp', 'list'], { cwd: scratch.workspace, env });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`team: ${server.mcpUrl.replace(/[./]/g, '\\$&')} \\(HTTP\\) - ✔ Connected`), list.stdout);
    assert.doesNotMatch(list.stdout, /team-bad: .*✔ Connected/, 'a wrong token does not connect');
    // spawnSync held our event loop: the server's log lines arrive now.
    await waitFor(async () => (/"principal":"dev1","team":"core","rpc":"initialize","status":200/.test(server.stderr()) ? true : undefined), 'the initialize log line');
  });

  it('MCP Inspector CLI lists the hosted tools over HTTP with the bearer header', function () {
    requireTool(this, INSPECTOR);
    const env = { ...process.env, HOME: scratch.home };
    const r = run(INSPECTOR, ['--cli', server.mcpUrl, '--transport', 'http', '--header', `Authorization: Bearer ${TOKEN}`, '--method', 'tools/list'], { cwd: scratch.root, env });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const { tools } = JSON.parse(r.stdout) as { tools: Array<{ name: string }> };
    assert.deepEqual(tools.map((t) => t.name).sort(), ['delegate', 'quota_status']);
  });

  it('a local sidecar routes through the team server (kind: switchboard) and writes the file locally with a backup', async () => {
    fs.writeFileSync(path.join(scratch.switchboardHome, 'router.yaml'), [
      'providers:',
      '  - id: team',
      '    kind: switchboard',
      '    tier: free',
      `    baseUrl: ${server.mcpUrl}`,
      '    apiKeyEnv: TEAM_SWITCHBOARD_TOKEN',
      '',
    ].join('\n'));
    const before = fake.requests.length;
    const s = await connectSidecar(scratch, { env: { TEAM_SWITCHBOARD_TOKEN: TOKEN } });
    try {
      const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'Document slugify.', files: ['src/slugify.ts'], output_path: 'docs/slugify.md' } });
      assert.notEqual(r.isError, true, textOf(r) + s.stderr());
      const sc = r.structuredContent as { provider: string; backup_id?: string; input_tokens: number };
      assert.equal(sc.provider, 'team');
      assert.ok(sc.backup_id, 'written through the local policy with a backup');
      assert.equal(sc.input_tokens, 50, 'usage reported by the team server');
      assert.equal(fs.readFileSync(path.join(scratch.workspace, 'docs', 'slugify.md'), 'utf8'), '# Generated on the team server\n');
      assert.equal(fake.requests.length, before + 1, 'the team server called its provider once');
      const sent = JSON.stringify(fake.requests.at(-1)!.json);
      assert.ok(sent.includes('slugify'), 'the local file context reached the team server\'s provider');
      assert.ok(!sent.includes(TOKEN), 'the team token never reaches a provider');
    } finally {
      await s.close();
    }
  });

  it('a wrong team token fails over to the next local candidate with a plain auth failure', async () => {
    const s = await connectSidecar(scratch, { env: { TEAM_SWITCHBOARD_TOKEN: 'not-the-token' } });
    try {
      const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'Document slugify.' } });
      assert.equal(r.isError, true);
      assert.match(textOf(r), /team: auth/);
      assert.ok(!textOf(r).includes('not-the-token'));
    } finally {
      await s.close();
    }
  });
});
