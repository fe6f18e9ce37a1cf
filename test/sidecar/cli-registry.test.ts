/**
 * `switchboard registry …` as a user runs it: the built CLI (real process, stdin not a terminal) against the
 * fake v0.1 registry. Installs for each package type land in the cascade; hostile entries are refused without
 * touching the workspace or the home folder (byte-compared before and after).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FakeRegistry, hostileEntries, seedEntries } from '../fakes/registry-server';
import { SIDECAR, buildOnce, childEnv, connectSidecar, makeScratch, textOf, type Scratch } from './helpers';

function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(root, p), crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  if (fs.existsSync(root)) walk(root);
  return out;
}

describe('CLI: switchboard registry', function () {
  this.timeout(120_000);
  let fake: FakeRegistry;
  let scratch: Scratch;

  before(async () => {
    buildOnce();
    fake = await new FakeRegistry({ entries: [...seedEntries(), ...hostileEntries()] }).start();
    fake.setStatus('io.github.legacy/old-weather', 'deprecated', 'use io.github.acme/weather');
    fake.setStatus('io.github.gone/filesystem-plus', 'deleted');
  });
  after(async () => {
    await fake?.stop();
  });
  beforeEach(() => {
    scratch = makeScratch();
  });
  afterEach(() => scratch.cleanup());

  /** Asynchronous on purpose: the fake registry answers from this same process, so a blocking spawn would starve it. */
  function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [SIDECAR, ...args, '--workspace', scratch.workspace], {
        cwd: scratch.root,
        env: childEnv(scratch, { SWITCHBOARD_REGISTRY_URL: fake.url, ...extraEnv }),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.stdin.end();
      child.on('error', (err) => resolve({ status: -1, stdout, stderr: stderr + String(err) }));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
  }
  async function addJson(args: string[]) {
    const r = await cli(['registry', 'add', ...args, '--yes', '--json']);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { key: string; file: string; backup_id?: string; command: string; definition: Record<string, unknown>; secrets: string[] };
  }
  async function cascade(): Promise<Array<{ id: string; layer: string }>> {
    const r = await cli(['servers', '--json']);
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as { servers: Array<{ id: string; layer: string }> }).servers;
  }

  it('sync, search (ranked, filtered, --json) and show', async () => {
    const sync = await cli(['registry', 'sync']);
    assert.equal(sync.status, 0, sync.stderr);
    assert.match(sync.stdout, /full sync, \d+ fetched/);
    const search = await cli(['registry', 'search', 'weather', '--json']);
    const results = (JSON.parse(search.stdout) as { results: Array<{ name: string; status: string }>; cache: { age_s: number } }).results;
    assert.equal(results[0]!.name, 'io.github.acme/weather');
    assert.equal(results.find((r) => r.name === 'io.github.legacy/old-weather')!.status, 'deprecated');
    const table = await cli(['registry', 'search', 'weather']);
    assert.match(table.stdout, /NAME\s+VERSION\s+TYPE/);
    assert.match(table.stdout, /cache synced \d+ (s|min) ago/);
    const pypi = JSON.parse((await cli(['registry', 'search', '', '--type', 'pypi', '--json'])).stdout) as { results: Array<{ name: string }> };
    assert.deepEqual(pypi.results.map((r) => r.name), ['io.github.pyfolk/sqlite-explorer']);
    const show = await cli(['registry', 'show', 'io.github.acme/weather']);
    assert.equal(show.status, 0, show.stderr);
    assert.match(show.stdout, /input: env OPENWEATHER_API_KEY \(required\) \(secret\)/);
    assert.match(show.stdout, /versions: 1\.4\.2/);
    assert.match(show.stdout, /repository: https:\/\/github\.com\/acme\/weather-mcp/);
  });

  it('search keeps answering from the cache, with its age, when the registry is down', async () => {
    assert.equal((await cli(['registry', 'sync'])).status, 0);
    fake.mode = 'down';
    try {
      const sync = await cli(['registry', 'sync']);
      assert.equal(sync.status, 1);
      assert.match(sync.stdout, /sync failed \(registry 127\.0\.0\.1:\d+ answered HTTP 503\); the cache keeps serving \(synced \d+ (s|min) ago\)/);
      const search = await cli(['registry', 'search', 'weather']);
      assert.equal(search.status, 0, search.stderr);
      assert.match(search.stdout, /io\.github\.acme\/weather/);
      assert.match(search.stdout, /last sync failed/);
    } finally {
      fake.mode = 'up';
    }
  });

  it('npm: npx -y pkg@version, secrets as ${VAR}, written to .mcp/servers/registry.json with a backup, shown in the cascade', async () => {
    const out = await addJson(['io.github.acme/weather']);
    assert.equal(out.command, 'npx -y @acme/weather-mcp@1.4.2');
    assert.deepEqual(out.definition, { type: 'stdio', command: 'npx', args: ['-y', '@acme/weather-mcp@1.4.2'], env: { OPENWEATHER_API_KEY: '${OPENWEATHER_API_KEY}', WEATHER_UNITS: 'metric' } });
    assert.equal(out.file, '.mcp/servers/registry.json');
    assert.ok(out.backup_id);
    const written = JSON.parse(fs.readFileSync(path.join(scratch.workspace, '.mcp', 'servers', 'registry.json'), 'utf8')) as { mcpServers: Record<string, unknown> };
    assert.deepEqual(written.mcpServers.weather, out.definition);
    const server = (await cascade()).find((s) => s.id === 'weather');
    assert.ok(server, 'the installed server shows in the cascade');
    assert.equal(server.layer, 'project');
    // A second install merges beside it.
    await addJson(['com.example/events-sse']);
    const both = JSON.parse(fs.readFileSync(path.join(scratch.workspace, '.mcp', 'servers', 'registry.json'), 'utf8')) as { mcpServers: Record<string, unknown> };
    assert.deepEqual(Object.keys(both.mcpServers).sort(), ['events-sse', 'weather']);
    // The MCP file tools still may not write there.
    assert.ok(fs.readFileSync(path.join(scratch.workspace, '.switchboard', 'audit.jsonl'), 'utf8').includes('"actor":"cli"'));
  });

  it('pypi: uvx pkg==version with required arguments from --arg (listed when missing)', async () => {
    const before = snapshot(scratch.workspace);
    const missing = await cli(['registry', 'add', 'io.github.pyfolk/sqlite-explorer', '--yes']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /needs inputs; nothing was written\. Pass: --arg db=… \(Path to the database file\)/);
    assert.deepEqual(snapshot(scratch.workspace), before);
    const out = await addJson(['io.github.pyfolk/sqlite-explorer', '--arg', 'db=data/app.db']);
    assert.deepEqual(out.definition, { type: 'stdio', command: 'uvx', args: ['sqlite-explorer-mcp==0.9.1', '--db', 'data/app.db', '--read-only'] });
  });

  it('oci: docker run -i --rm -e VAR image:tag; user scope writes ~/.claude/mcp/servers/<name>.json', async () => {
    const out = await addJson(['io.github.containers/postgres', '--scope', 'user']);
    assert.equal(out.command, 'docker run -i --rm -e DATABASE_URL ghcr.io/containers/postgres-mcp:2.0.0');
    assert.deepEqual(out.definition.env, { DATABASE_URL: '${DATABASE_URL}' });
    const file = path.join(scratch.home, '.claude', 'mcp', 'servers', 'postgres.json');
    assert.deepEqual((JSON.parse(fs.readFileSync(file, 'utf8')) as { mcpServers: Record<string, unknown> }).mcpServers.postgres, out.definition);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal((await cascade()).find((s) => s.id === 'postgres')?.layer, 'user');
    // Installing again keeps the old file as a backup.
    const again = await addJson(['io.github.containers/postgres', '--scope', 'user']);
    assert.match(again.backup_id ?? '', /^\$SWITCHBOARD_HOME\/backups\/registry\/postgres-/);
  });

  it('remotes: type http with URL and ${VAR} header secrets; sse stays sse', async () => {
    const http = await addJson(['com.example/search-remote']);
    assert.deepEqual(http.definition, { type: 'http', url: 'https://mcp.example.com/search', headers: { Authorization: 'Bearer ${API_KEY}' } });
    assert.deepEqual(http.secrets, ['API_KEY']);
    const sse = await addJson(['com.example/events-sse']);
    assert.deepEqual(sse.definition, { type: 'sse', url: 'https://events.example.com/sse' });
    assert.ok((await cascade()).some((s) => s.id === 'search-remote'));
  });

  it('shows the exact command and writes nothing without --yes when stdin is not a terminal', async () => {
    const before = snapshot(scratch.workspace);
    const r = await cli(['registry', 'add', 'io.github.acme/weather']);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /command: npx -y @acme\/weather-mcp@1\.4\.2/);
    assert.match(r.stderr, /re-run with --yes/);
    assert.deepEqual(snapshot(scratch.workspace), before);
  });

  it('refuses deleted, unsupported, unpinned and hostile entries, and secret values, without touching anything', async function () {
    // About 35 CLI runs: generous on a shared, loaded machine.
    this.timeout(900_000);
    // Deleted after the cache knew it: the incremental sync brings the deletion in.
    fake.setStatus('io.github.gone/filesystem-plus', 'active');
    assert.equal((await cli(['registry', 'sync'])).status, 0);
    fake.setStatus('io.github.gone/filesystem-plus', 'deleted');
    assert.equal((await cli(['registry', 'sync'])).status, 0);
    const before = snapshot(scratch.workspace);
    const homeBefore = snapshot(scratch.home);
    const cases: Array<[string[], RegExp]> = [
      [['io.github.gone/filesystem-plus'], /was deleted from the registry/],
      [['io.github.dotnetdev/nuget-tools'], /offers only nuget; Switchboard installs npm, pypi, oci, remote/],
      [['io.github.bundles/desktop-files'], /offers only mcpb/],
      [['io.github.messy/cargo-thing'], /offers only cargo/],
      [['io.github.messy/no-version'], /has no exact version to pin/],
      [['io.github.evil/semicolon'], /not a plain npm package name/],
      [['io.github.evil/flag-version'], /"--foo" is not an exact version/],
      [['io.github.evil/range-version'], /"\^1\.2\.3" is not an exact version/],
      [['io.github.evil/latest-version'], /"latest" is not an exact version/],
      [['io.github.evil/traversal'], /not a plain npm package name/],
      [['io.github.evil/newline'], /is not an exact version/],
      [['io.github.evil/subshell-arg'], /is not a plain value/],
      [['io.github.evil/key-exfil'], /is not a plain value/],
      [['io.github.evil/npx-call'], /runtime argument "-c" is not allowed/],
      [['io.github.evil/flag-arg'], /starts with "-"/],
      [['io.github.evil/remote-exfil'], /is not a plain URL/],
      [['io.github.evil/remote-plain-http'], /is not https/],
      [['io.github.evil/docker-root'], /would mount the whole disk/],
      [['io.github.evil/docker-privileged'], /"--privileged" is not allowed/],
      [['io.github.evil/oci-latest'], /"latest" is not an exact version/],
      [['io.github.acme/weather@latest'], /"latest" is not an exact version/],
      [['io.github.acme/weather@^1.0.0'], /is not an exact version/],
      [['io.github.acme/weather@--foo'], /is not an exact version/],
      [['io.github.acme/weather', '--arg', 'x=$(id)'], /--arg x is not an input of io\.github\.acme\/weather/],
      [['io.github.acme/weather', '--env', 'OPENWEATHER_API_KEY=sk-live-0123456789abcdef0123456789abcdef'], /is a secret; its value is never written/],
      [['io.github.acme/weather', '--env', 'WEATHER_UNITS=metric;reboot'], /is not a plain value/],
      [['io.github.acme/weather', '--name', '../evil'], /must be letters, digits/],
      [['not a name'], /is not a registry server name/],
    ];
    for (const [i, [args, message]] of cases.entries()) {
      // Every case in the project scope; the user scope (a different writer) for a sample, to keep the suite short.
      for (const scope of i % 7 === 0 ? ['project', 'user'] : ['project']) {
        const r = await cli(['registry', 'add', ...args, '--scope', scope, '--yes']);
        assert.equal(r.status, 1, `${args.join(' ')} should be refused: ${r.stdout}`);
        assert.match(r.stderr, message, args.join(' '));
        assert.ok(!r.stderr.includes('sk-live-0123456789abcdef') && !r.stdout.includes('sk-live-0123456789abcdef'), 'the secret is not echoed');
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      }
    }
    assert.deepEqual(snapshot(scratch.workspace), before, 'workspace unchanged');
    const homeAfter = snapshot(scratch.home);
    assert.deepEqual([...homeAfter.keys()].filter((k) => k.includes('mcp')), [...homeBefore.keys()].filter((k) => k.includes('mcp')), 'no user server file written');
  });

  it('validate: schema and registry rules with file:line diagnostics', async () => {
    const bad = path.join(scratch.workspace, 'server.json');
    fs.writeFileSync(bad, ['{', '  "name": "weather",', '  "description": "x",', '  "version": "^1.0.0",', '  "packages": [', '    { "registryType": "npm", "identifier": "w", "version": "latest", "transport": { "type": "stdio" } }', '  ]', '}', ''].join('\n'));
    const r = await cli(['registry', 'validate', 'server.json']);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /server\.json:2:\d+: error: name: must match pattern/);
    assert.match(r.stdout, /server\.json:4:\d+: error: version: "\^1\.0\.0" is a range or tag/);
    assert.match(r.stdout, /server\.json:6:\d+: error: packages\[0\]\.version/);
    const good = path.join(scratch.workspace, 'good.json');
    fs.writeFileSync(good, JSON.stringify({ name: 'io.github.acme/weather', description: 'Weather', version: '1.0.0', packages: [{ registryType: 'npm', identifier: '@acme/weather-mcp', version: '1.0.0', transport: { type: 'stdio' } }] }, null, 2));
    const ok = await cli(['registry', 'validate', 'good.json', '--json']);
    assert.equal(ok.status, 0, ok.stdout);
    assert.equal((JSON.parse(ok.stdout) as { valid: boolean }).valid, true);
    const ns = path.join(scratch.workspace, 'ns.json');
    fs.writeFileSync(ns, JSON.stringify({ name: 'weather/server', description: 'Weather', version: '1.0.0' }, null, 2));
    assert.match((await cli(['registry', 'validate', 'ns.json'])).stdout, /ns\.json:2:\d+: error: name: namespace "weather" is not reverse-DNS/);
  });

  it('the search_registry MCP tool answers from the index and installs nothing', async () => {
    assert.equal((await cli(['registry', 'sync'])).status, 0);
    const before = snapshot(scratch.workspace);
    const s = await connectSidecar(scratch, { env: { SWITCHBOARD_REGISTRY_URL: fake.url } });
    try {
      const r = await s.client.callTool({ name: 'search_registry', arguments: { query: 'weather' } });
      assert.equal(r.isError, undefined, textOf(r));
      const sc = r.structuredContent as { results: Array<{ name: string }>; cache_age_s: number };
      assert.equal(sc.results[0]!.name, 'io.github.acme/weather');
      assert.ok(sc.cache_age_s >= 0);
      assert.match(textOf(r), /Registry cache: \d+ entries, synced/);
      assert.match(textOf(r), /switchboard registry add NAME/);
      const filtered = await s.client.callTool({ name: 'search_registry', arguments: { query: '', transport: 'sse' } });
      assert.deepEqual((filtered.structuredContent as { results: Array<{ name: string }> }).results.map((x) => x.name), ['com.example/events-sse']);
    } finally {
      await s.close();
    }
    assert.deepEqual(snapshot(scratch.workspace), before);
  });
  // Last: it publishes a newer version into the shared fake registry.
  it('add NAME@VERSION installs that exact version, fetched from the registry when the cache holds another', async () => {
    assert.equal((await cli(['registry', 'sync'])).status, 0);
    fake.publish({ ...(seedEntries()[0] as object), version: '1.5.0', packages: [{ registryType: 'npm', identifier: '@acme/weather-mcp', version: '1.5.0', transport: { type: 'stdio' } }] });
    const older = await addJson(['io.github.acme/weather@1.4.2']);
    assert.equal(older.command, 'npx -y @acme/weather-mcp@1.4.2');
    const newer = await addJson(['io.github.acme/weather@1.5.0']);
    assert.equal(newer.command, 'npx -y @acme/weather-mcp@1.5.0');
    assert.ok(fake.requests.some((u) => u === '/v0.1/servers/io.github.acme%2Fweather/versions/1.5.0'));
    const missing = await cli(['registry', 'add', 'io.github.acme/weather@9.9.9', '--yes']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /has no version 9\.9\.9/);
  });
});
