import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { McpServer as SdkMcpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ServerCascade, type McpServer } from '../../src/core/cascade';
import { checkServers, lastKnownHealth, ServerLock, serverLockFile, type ServerHealth } from '../../src/sidecar/health';
import { processAlive } from '../../src/core/process-alive';
import { decideTrust, grantTrust } from '../../src/core/trust';
import { projectCommands } from '../../src/core/trust/commands';

const REPO = path.resolve(__dirname, '..', '..');
const SIDECAR = path.join(REPO, 'dist', 'sidecar.js');

/**
 * A real MCP server over stdio (the SDK's McpServer, 2 tools), plus misbehaving modes. Written to the temp dir
 * with absolute requires so it runs with plain `node` from anywhere.
 */
function fixtureSource(): string {
  const req = (m: string) => JSON.stringify(require.resolve(m));
  return `
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const mode = process.argv[2];
if (process.env.COUNT_FILE) fs.appendFileSync(process.env.COUNT_FILE, 'start\\n');
if (mode === 'exit') {
  console.error('fatal: cannot open the database with token ' + (process.env.DB_TOKEN || '(none)'));
  process.exit(3);
}
if (mode === 'hang') {
  // Ignores SIGTERM and leaves a grandchild behind: only a SIGKILL to the whole group stops both.
  process.on('SIGTERM', () => {});
  const grandchild = spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  if (process.env.REPORT_FILE) fs.writeFileSync(process.env.REPORT_FILE, JSON.stringify({ grandchild: grandchild.pid }));
  setInterval(() => {}, 1000);
} else if (mode === 'notools') {
  // Resources only: no tools capability, so tools/list would be "method not found".
  const { McpServer } = require(${req('@modelcontextprotocol/sdk/server/mcp.js')});
  const { StdioServerTransport } = require(${req('@modelcontextprotocol/sdk/server/stdio.js')});
  const server = new McpServer({ name: 'fixture-resources', version: '1.0.0' });
  server.registerResource('readme', 'file:///readme', {}, async (uri) => ({ contents: [{ uri: uri.href, text: 'hi' }] }));
  process.stdin.on('end', () => process.exit(0));
  server.connect(new StdioServerTransport());
} else {
  const { McpServer } = require(${req('@modelcontextprotocol/sdk/server/mcp.js')});
  const { StdioServerTransport } = require(${req('@modelcontextprotocol/sdk/server/stdio.js')});
  const server = new McpServer({ name: 'fixture', version: '1.0.0' });
  const text = (t) => async () => ({ content: [{ type: 'text', text: t }] });
  server.registerTool('hello', { description: 'says hello' }, text('hello'));
  server.registerTool('bye', { description: 'says bye' }, text('bye'));
  process.stdin.on('end', () => {
    // What the lock file said while we ran (the health check still holds it when it closes our stdin).
    if (process.env.REPORT_FILE && process.env.LOCK_FILE) {
      let lock = null;
      try { lock = JSON.parse(fs.readFileSync(process.env.LOCK_FILE, 'utf8')); } catch {}
      fs.writeFileSync(process.env.REPORT_FILE, JSON.stringify({ pid: process.pid, lock }));
    }
    process.exit(0);
  });
  server.connect(new StdioServerTransport());
}
`;
}

interface Env {
  root: string;
  workspace: string;
  fixture: string;
  env: NodeJS.ProcessEnv;
  lockDir: string;
}

function makeEnv(): Env {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-health-')));
  const workspace = path.join(root, 'ws');
  const home = path.join(root, 'home');
  fs.mkdirSync(path.join(workspace, '.mcp', 'servers'), { recursive: true });
  fs.mkdirSync(home);
  const fixture = path.join(root, 'fixture-server.cjs');
  fs.writeFileSync(fixture, fixtureSource());
  const sb = path.join(root, 'sb');
  return { root, workspace, fixture, lockDir: path.join(sb, 'servers'), env: { PATH: process.env.PATH, HOME: home, SWITCHBOARD_HOME: sb } };
}

/** Writes .mcp.json (and optional.json) and loads them through the real server cascade. */
function servers(e: Env, defs: Record<string, object>, optional: Record<string, object> = {}): McpServer[] {
  fs.writeFileSync(path.join(e.workspace, '.mcp.json'), JSON.stringify({ mcpServers: defs }));
  fs.writeFileSync(path.join(e.workspace, '.mcp', 'servers', 'optional.json'), JSON.stringify({ mcpServers: optional }));
  return new ServerCascade({ workspace: e.workspace, env: e.env }).load().servers;
}

/** Trusts the workspace and pins its servers as they are now (these tests are about the checks themselves). */
async function trustNow(e: Env, env: NodeJS.ProcessEnv = e.env) {
  await grantTrust(e.workspace, projectCommands(e.workspace, env), env);
  return decideTrust(e.workspace, env);
}

function one(results: ServerHealth[], id: string): ServerHealth {
  const r = results.find((x) => x.id === id);
  assert.ok(r, `no result for ${id}`);
  return r;
}

/** True once `pid` has exited (an unreaped zombie counts as exited: it runs nothing). */
async function gone(pid: number, withinMs = 3_000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (!processAlive(pid)) return true;
    try {
      if (/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))) return true;
    } catch {
      // no /proc (macOS): rely on kill(0)
    }
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

describe('server health checks', function () {
  this.timeout(30_000);
  let e: Env;
  beforeEach(() => (e = makeEnv()));
  afterEach(() => fs.rmSync(e.root, { recursive: true, force: true }));

  it('a real stdio MCP server is healthy with its 2 tools, and is stopped afterwards', async () => {
    const report = path.join(e.root, 'report.json');
    const list = servers(e, { fixture: { command: process.execPath, args: [e.fixture, 'ok'], env: { REPORT_FILE: report, LOCK_FILE: serverLockFile(e.lockDir, 'fixture') } } });
    const [r] = await checkServers(list, { trust: await trustNow(e), env: e.env, cwd: e.workspace });
    assert.equal(r!.status, 'healthy', r!.error);
    assert.equal(r!.toolCount, 2);
    assert.ok(typeof r!.latencyMs === 'number' && r!.latencyMs >= 0);
    assert.equal(r!.cached, false);
    // While it ran, the lock file named the server's own pid and its command line.
    const seen = JSON.parse(fs.readFileSync(report, 'utf8')) as { pid: number; lock: { pid: number; command: string; startedAt: string } };
    assert.equal(seen.lock.pid, seen.pid);
    assert.ok(seen.lock.command.startsWith(process.execPath), seen.lock.command);
    assert.ok(!Number.isNaN(Date.parse(seen.lock.startedAt)));
    assert.equal(processAlive(seen.pid), false, 'the server process is gone');
    assert.equal(fs.existsSync(serverLockFile(e.lockDir, 'fixture')), false, 'the lock is released');
  });

  it('a server without tools (resources only) is healthy with 0 tools', async () => {
    const [r] = await checkServers(servers(e, { docs: { command: process.execPath, args: [e.fixture, 'notools'] } }), { trust: await trustNow(e), env: e.env, cwd: e.workspace });
    assert.equal(r!.status, 'healthy', r!.error);
    assert.equal(r!.toolCount, 0);
  });

  it('a command that exits at once is failing with a plain message', async () => {
    const list = servers(e, { broken: { command: process.execPath, args: [e.fixture, 'exit'] }, missing: { command: 'sb-no-such-command-xyz' } });
    const results = await checkServers(list, { trust: await trustNow(e), env: e.env, cwd: e.workspace });
    const broken = one(results, 'broken');
    assert.equal(broken.status, 'failing');
    assert.match(broken.error!, /^the server exited with code 3 before the MCP handshake finished: fatal: cannot open the database/);
    assert.doesNotMatch(broken.error!, /\n|at .*\(/, 'one line, no stack');
    const missing = one(results, 'missing');
    assert.equal(missing.status, 'failing');
    assert.equal(missing.error, 'command not found: sb-no-such-command-xyz');
  });

  it('a server that hangs fails within the timeout, and its whole process group is killed', async () => {
    const report = path.join(e.root, 'hang.json');
    const list = servers(e, { stuck: { command: process.execPath, args: [e.fixture, 'hang'], env: { REPORT_FILE: report } } });
    const [r] = await checkServers(list, { trust: await trustNow(e), env: e.env, cwd: e.workspace, timeoutMs: 1_500 });
    assert.equal(r!.status, 'failing');
    assert.equal(r!.error, 'no answer to the MCP handshake within 1500 ms');
    const { grandchild } = JSON.parse(fs.readFileSync(report, 'utf8')) as { grandchild: number };
    assert.equal(await gone(grandchild), true, 'the grandchild (which ignores SIGTERM) was killed too');
  });

  it('honours timeouts.health_ms from the discovery config', async () => {
    fs.writeFileSync(path.join(e.workspace, '.mcp', 'discovery-config.yaml'), 'timeouts:\n  health_ms: 700\n');
    const list = servers(e, { stuck: { command: process.execPath, args: [e.fixture, 'hang'] } });
    const [r] = await checkServers(list, { trust: await trustNow(e), env: e.env, cwd: e.workspace, timeoutMs: 20_000 });
    assert.equal(r!.error, 'no answer to the MCP handshake within 700 ms');
  });

  describe('HTTP servers', () => {
    let server: http.Server;
    let base: string;
    beforeEach(async () => {
      server = http.createServer((req, res) => {
        if (req.url === '/mcp') {
          // Stateless Streamable HTTP: a fresh SDK server and transport per request.
          const mcp = new SdkMcpServer({ name: 'http-fixture', version: '1.0.0' });
          for (const name of ['a', 'b', 'c']) mcp.registerTool(name, { description: name }, async () => ({ content: [{ type: 'text', text: name }] }));
          const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
          res.on('close', () => void transport.close());
          void mcp.connect(transport).then(() => transport.handleRequest(req, res));
        } else if (req.url === '/plain') {
          res.writeHead(req.method === 'GET' ? 200 : 404).end('hello');
        } else if (req.url === '/private') {
          res.writeHead(401).end();
        } else {
          res.writeHead(404).end();
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterEach(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('a Streamable HTTP MCP endpoint is healthy with its tool count', async () => {
      const list = servers(e, { remote: { type: 'http', url: `${base}/mcp` } });
      const [r] = await checkServers(list, { trust: await trustNow(e), env: e.env, cwd: e.workspace });
      assert.equal(r!.status, 'healthy', r!.error);
      assert.equal(r!.toolCount, 3);
    });

    it('falls back to a plain GET; 401 says authorization is needed; a closed port cannot connect', async () => {
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const list = servers(e, {
        plain: { type: 'http', url: `${base}/plain` },
        private: { type: 'http', url: `${base}/private` },
        gone: { type: 'http', url: `http://127.0.0.1:${closedPort}/mcp` },
      });
      const results = await checkServers(list, { trust: await trustNow(e), env: e.env, cwd: e.workspace, timeoutMs: 5_000 });
      const plain = one(results, 'plain');
      assert.equal(plain.status, 'healthy');
      assert.equal(plain.toolCount, undefined);
      assert.match(plain.note!, /^answered a plain GET \(HTTP 200\); MCP handshake failed/);
      assert.equal(one(results, 'private').status, 'failing');
      assert.match(one(results, 'private').error!, /needs authorization \(HTTP 401\)/);
      assert.equal(one(results, 'gone').status, 'failing');
      assert.match(one(results, 'gone').error!, /^cannot connect/);
    });
  });

  it('an optional server that is not enabled is optional-off and never started', async () => {
    const count = path.join(e.root, 'starts.txt');
    const list = servers(e, {}, { extra: { command: process.execPath, args: [e.fixture, 'ok'], env: { COUNT_FILE: count } } });
    const [r] = await checkServers(list, { trust: await trustNow(e), env: e.env, cwd: e.workspace });
    assert.equal(r!.status, 'optional-off');
    assert.equal(fs.existsSync(count), false, 'not spawned');
    assert.equal(r!.latencyMs, undefined);
  });

  it('caches results for 5 minutes (injected clock), keyed by the definition', async () => {
    const count = path.join(e.root, 'starts.txt');
    const list = servers(e, { fixture: { command: process.execPath, args: [e.fixture, 'ok'], env: { COUNT_FILE: count } } });
    let now = Date.parse('2026-03-01T10:00:00Z');
    const opts = { trust: await trustNow(e), env: e.env, cwd: e.workspace, now: () => now };
    const starts = () => fs.readFileSync(count, 'utf8').trim().split('\n').length;

    const first = (await checkServers(list, opts))[0]!;
    assert.equal(first.cached, false);
    assert.equal(starts(), 1);
    assert.ok(fs.existsSync(path.join(e.env.SWITCHBOARD_HOME!, 'health-cache.json')));

    now += 4 * 60_000 + 59_000;
    const second = (await checkServers(list, opts))[0]!;
    assert.equal(second.cached, true);
    assert.equal(second.toolCount, 2);
    assert.equal(starts(), 1, 'served from the cache');

    now += 2_000; // 5 min 1 s after the check
    const third = (await checkServers(list, opts))[0]!;
    assert.equal(third.cached, false);
    assert.equal(starts(), 2);

    // A changed definition is a different key: checked again at once.
    const changed = servers(e, { fixture: { command: process.execPath, args: [e.fixture, 'ok', '--changed'], env: { COUNT_FILE: count } } });
    await trustNow(e);
    assert.equal((await checkServers(changed, opts))[0]!.cached, false);
    assert.equal(starts(), 3);
    // lastKnownHealth serves PROJECT_CONTEXT.md whatever the age.
    now += 60 * 60_000;
    assert.equal(lastKnownHealth(changed, { env: e.env, cwd: e.workspace }).fixture?.status, 'healthy');
  });

  it('resolves ${VAR} / $VAR references without ever showing their values', async () => {
    const secret = 'sb-test-secret-value-9f8e7d6c5b4a';
    const env = { ...e.env, SB_TEST_DB_TOKEN: secret, SB_TEST_ARG: 'exit' };
    const list = servers(e, {
      leaky: { command: process.execPath, args: [e.fixture, '$SB_TEST_ARG'], env: { DB_TOKEN: '${SB_TEST_DB_TOKEN}', OTHER: '${SB_TEST_NOT_SET}' } },
    });
    const [r] = await checkServers(list, { trust: await trustNow(e, env), env, cwd: e.workspace });
    const text = JSON.stringify(r);
    assert.equal(r!.status, 'failing', 'the $SB_TEST_ARG argument resolved to "exit"');
    assert.ok(!text.includes(secret), text);
    assert.match(r!.error!, /token \[REDACTED\]/, 'what the server printed is scrubbed');
    assert.match(r!.error!, /\(not set: \$\{SB_TEST_NOT_SET\}\)/);
    assert.deepEqual(r!.env, [
      { ref: '$SB_TEST_ARG', name: 'SB_TEST_ARG', state: 'set' },
      { ref: '${SB_TEST_DB_TOKEN}', name: 'SB_TEST_DB_TOKEN', state: 'set' },
      { ref: '${SB_TEST_NOT_SET}', name: 'SB_TEST_NOT_SET', state: 'missing' },
    ]);
    assert.ok(!fs.readFileSync(path.join(e.env.SWITCHBOARD_HOME!, 'health-cache.json'), 'utf8').includes(secret), 'nor in the cache');
  });

  describe('lock files', () => {
    it('a lock whose owner is dead is taken over; a live one prevents a second start', async () => {
      const count = path.join(e.root, 'starts.txt');
      const list = servers(e, { fixture: { command: process.execPath, args: [e.fixture, 'ok'], env: { COUNT_FILE: count } } });
      const lockFile = serverLockFile(e.lockDir, 'fixture');
      fs.mkdirSync(e.lockDir, { recursive: true });

      const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      try {
        fs.writeFileSync(lockFile, JSON.stringify({ pid: live.pid, command: 'node other', startedAt: '2026-01-01T00:00:00.000Z' }));
        const [held] = await checkServers(list, { trust: await trustNow(e), env: e.env, cwd: e.workspace, refresh: true });
        assert.equal(held!.status, 'skipped');
        assert.equal(held!.error, `already running (pid ${live.pid}, since 2026-01-01T00:00:00.000Z); not started twice`);
        assert.equal(fs.existsSync(count), false, 'not started');
        assert.equal(JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid, live.pid, 'a live lock is left alone');
      } finally {
        live.kill('SIGKILL');
      }

      fs.writeFileSync(lockFile, JSON.stringify({ pid: deadPid(), command: 'node crashed', startedAt: '2026-01-01T00:00:00.000Z' }));
      const [r] = await checkServers(list, { trust: await trustNow(e), env: e.env, cwd: e.workspace, refresh: true });
      assert.equal(r!.status, 'healthy', r!.error);
      assert.equal(fs.existsSync(lockFile), false, 'taken over, then released');
    });

    it('two takers of one dead lock: exactly one wins', () => {
      fs.mkdirSync(e.lockDir, { recursive: true });
      fs.writeFileSync(serverLockFile(e.lockDir, 'x'), JSON.stringify({ pid: deadPid(), startedAt: '' }));
      const a = ServerLock.acquire(e.lockDir, 'x', { pid: process.pid });
      const b = ServerLock.acquire(e.lockDir, 'x', { pid: process.pid });
      assert.equal(a.ok, true);
      assert.equal(b.ok, false);
      if (a.ok) a.lock.release();
      assert.equal(fs.readdirSync(e.lockDir).length, 0, 'no markers or temp files left');
    });

    it('the cascade reads a held lock as a running (external) server', () => {
      servers(e, { fixture: { command: process.execPath, args: [e.fixture, 'ok'] } });
      const taken = ServerLock.acquire(e.lockDir, 'fixture', { pid: process.pid, command: 'node fixture' });
      assert.ok(taken.ok);
      try {
        const s = new ServerCascade({ workspace: e.workspace, env: e.env }).load().servers.find((x) => x.id === 'fixture')!;
        assert.equal(s.layer, 'external');
        assert.equal(s.pid, process.pid);
        assert.equal(s.command, 'node fixture');
      } finally {
        taken.lock.release();
      }
    });
  });

  describe('CLI: servers --check', () => {
    before(() => {
      if (!fs.existsSync(SIDECAR)) execFileSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { cwd: REPO, stdio: 'inherit', timeout: 60_000 });
    });

    it('adds health to the JSON and HEALTH / LATENCY / TOOLS columns to the table, without env values', async () => {
      const secret = 'sb-test-cli-secret-0a1b2c3d4e5f';
      servers(e, { fixture: { command: process.execPath, args: [e.fixture, 'ok'], env: { API_TOKEN: '${SB_TEST_CLI_TOKEN}' } } }, { extra: { command: 'never-started' } });
      const env = { ...e.env, SB_TEST_CLI_TOKEN: secret };
      await trustNow(e, env);
      const json = spawnSync(process.execPath, [SIDECAR, 'servers', '--check', '--json', '--workspace', e.workspace], { env, encoding: 'utf8', timeout: 30_000 });
      assert.equal(json.status, 0, json.stderr);
      assert.ok(!json.stdout.includes(secret) && !json.stderr.includes(secret));
      const parsed = JSON.parse(json.stdout) as { servers: Array<{ id: string; health: ServerHealth }> };
      const fixture = parsed.servers.find((s) => s.id === 'fixture')!;
      assert.equal(fixture.health.status, 'healthy');
      assert.equal(fixture.health.toolCount, 2);
      assert.deepEqual(fixture.health.env, [{ ref: '${SB_TEST_CLI_TOKEN}', name: 'SB_TEST_CLI_TOKEN', state: 'set' }]);
      assert.equal(parsed.servers.find((s) => s.id === 'extra')!.health.status, 'optional-off');

      const table = spawnSync(process.execPath, [SIDECAR, 'servers', '--check', '--workspace', e.workspace], { env, encoding: 'utf8', timeout: 30_000 });
      assert.equal(table.status, 0, table.stderr);
      assert.match(table.stdout, /NAME\s+LAYER\s+STATUS\s+HEALTH\s+LATENCY\s+TOOLS\s+COMMAND \/ URL/);
      assert.match(table.stdout, /fixture\s+project\s+enabled\s+healthy\s+\d+ ms \(cached\)\s+2\s/);
      assert.ok(!table.stdout.includes(secret));
    });
  });
});
