/**
 * The Servers, Agents and Quota views' data in a trusted workspace, as the extension gets it: SidecarSource
 * (vscode-free) over a real SidecarClient speaking MCP to the built dist/sidecar.js. Regression tests for the
 * contract drift the typed protocol removed: overridden and duplicate servers were never shown (list_servers did
 * not send `hidden`, `duplicate_of`, `reason`), and the Quota view showed an open circuit as a cooldown while
 * `switchboard quota` showed 429 cooldowns the editor never saw.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SqlJsLedger } from '../../src/core/ledger';
import { cooldownKey } from '../../src/core/router';
import { CoreCascadeSource } from '../../src/extension/data/cascadeSource';
import { SidecarSource } from '../../src/extension/data/sidecarSource';
import { SidecarClient, SidecarToolError } from '../../src/extension/sidecarClient/client';
import { REPO, SIDECAR, buildOnce, childEnv, makeScratch, type Scratch } from '../sidecar/helpers';

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

describe('extension data over the sidecar (trusted workspace, plain Node)', function () {
  this.timeout(60_000);
  let scratch: Scratch;
  let client: SidecarClient;
  let source: SidecarSource;
  let env: Record<string, string>;

  before(() => {
    buildOnce();
    scratch = makeScratch({ sample: false });
    const ws = scratch.workspace;
    fs.mkdirSync(path.join(ws, '.mcp', 'servers'), { recursive: true });
    // alpha and beta run the same command: beta is a duplicate and is not started.
    fs.writeFileSync(path.join(ws, '.mcp', 'servers', 'team.json'), JSON.stringify({ mcpServers: {
      alpha: { command: 'node', args: ['alpha-server.js'] },
      beta: { command: 'node', args: ['alpha-server.js'] },
    } }, null, 2) + '\n');
    // gamma in the user layer (~/.claude.json) overrides the project's gamma (.mcp.json).
    fs.writeFileSync(path.join(ws, '.mcp.json'), JSON.stringify({ mcpServers: { gamma: { command: 'node', args: ['gamma-project.js'] } } }, null, 2) + '\n');
    fs.writeFileSync(path.join(scratch.home, '.claude.json'), JSON.stringify({ mcpServers: { gamma: { command: 'node', args: ['gamma-user.js'] } } }, null, 2) + '\n');
    // A broken file: its diagnostic must arrive with its file, line and column, openable.
    fs.writeFileSync(path.join(ws, '.mcp', 'servers', 'broken.json'), '{\n  "mcpServers": {\n    "hollow": {}\n  }\n}\n');
    env = childEnv(scratch);
    client = new SidecarClient({ folder: ws, sidecarPath: SIDECAR, env: () => env, log: silent, startTimeoutMs: 30_000 });
    source = new SidecarSource(
      { get all() { return [client]; }, callTool: (_folder, name, args, options) => client.callTool(name, args, options) },
      { isTrusted: true },
      new CoreCascadeSource(env),
      REPO,
      env,
    );
  });
  after(async () => {
    client?.dispose();
    scratch?.cleanup();
  });

  it('the Servers view shows a duplicate server and an overridden one, with openable locations', async () => {
    const snapshot = await source.servers(scratch.workspace);
    const rows = snapshot.items.map((i) => ({ name: i.name, layer: i.layer, health: i.health, overriddenBy: i.overriddenBy?.layer, file: i.location.file, line: i.location.line }));
    const beta = rows.find((r) => r.name === 'beta');
    assert.ok(beta, JSON.stringify(rows));
    assert.deepEqual(beta.health, { status: 'disabled', reason: 'same as alpha' });
    assert.deepEqual(rows.find((r) => r.name === 'alpha')?.health, { status: 'unchecked' });

    const gammaRows = rows.filter((r) => r.name === 'gamma');
    assert.deepEqual(gammaRows.map((r) => [r.layer, r.overriddenBy]), [['user', undefined], ['project', 'user']], JSON.stringify(gammaRows));
    assert.equal(gammaRows[0]!.file, path.join(scratch.home, '.claude.json'));
    assert.equal(gammaRows[1]!.file, path.join(scratch.workspace, '.mcp.json'));
    for (const r of rows) assert.ok(fs.existsSync(r.file) && r.line >= 1, `${r.name} (${r.layer}) opens ${r.file}:${r.line}`);

    // Restricted Mode lists the same rows from the files alone: both paths agree on what is hidden and why.
    const untrusted = new SidecarSource({ get all() { return [client]; }, callTool: () => Promise.reject(new Error('no sidecar in Restricted Mode')) }, { isTrusted: false }, new CoreCascadeSource(env), REPO, env);
    const listed = (await untrusted.servers(scratch.workspace)).items.map((i) => [i.name, i.layer, i.overriddenBy?.layer, JSON.stringify(i.health)]);
    assert.deepEqual(snapshot.items.map((i) => [i.name, i.layer, i.overriddenBy?.layer, JSON.stringify(i.health)]), listed);
  });

  it('diagnostics arrive structured: absolute file, line, column, severity, message', async () => {
    const { diagnostics } = await source.servers(scratch.workspace);
    const broken = diagnostics.find((d) => d.file.endsWith('broken.json'));
    assert.ok(broken, JSON.stringify(diagnostics));
    assert.equal(broken.file, path.join(scratch.workspace, '.mcp', 'servers', 'broken.json'));
    assert.equal(broken.line, 3);
    assert.ok(broken.column >= 1);
    assert.ok(['error', 'warning'].includes(broken.severity));
    assert.match(broken.message, /hollow/);
    const duplicate = diagnostics.find((d) => /same command as "alpha"/.test(d.message));
    assert.ok(duplicate && duplicate.severity === 'warning' && duplicate.file.endsWith('team.json'), JSON.stringify(diagnostics));
  });

  it('the Quota view gets a 429 cooldown and an open circuit apart, as quota_status computed them', async () => {
    const ledger = await SqlJsLedger.open({ file: path.join(scratch.switchboardHome, 'ledger.sqlite') });
    try {
      await ledger.setCooldown(cooldownKey('together', undefined), Date.now() + 10 * 60_000, 'rate limited (429)');
      for (let i = 0; i < 20 && (await ledger.circuit('huggingface')).state !== 'open'; i++) await ledger.recordOutcome('huggingface', false);
    } finally {
      await ledger.close();
    }
    const entries = await source.quota(scratch.workspace);
    const together = entries.find((e) => e.providerId === 'together');
    const huggingface = entries.find((e) => e.providerId === 'huggingface');
    assert.ok(together && huggingface, JSON.stringify(entries));
    assert.equal(together.cooldownReason, 'rate limited (429)');
    assert.ok(together.cooldownUntilMs! > Date.now());
    assert.equal(together.circuit, undefined, 'a 429 is not an open circuit');
    assert.equal(huggingface.circuit, 'open');
    assert.ok(huggingface.circuitUntilMs! > Date.now());
    assert.equal(huggingface.cooldownUntilMs, undefined, 'an open circuit is not a 429 cooldown');
    // The local model server needs no key; the rest need one and have none here.
    assert.deepEqual(entries.filter((e) => !e.keyNeeded).map((e) => e.providerId), ['local']);
    assert.ok(entries.filter((e) => e.keyNeeded).every((e) => !e.keyPresent));
  });

  it('callTool is typed by the tool name and an error result throws the tool\'s plain message', async () => {
    const agents = await client.callTool('list_agents');
    assert.ok(Array.isArray(agents.agents) && Array.isArray(agents.diagnostics));
    await assert.rejects(client.callTool('restore_backup', { backup_id: 'no-such-backup' }), (err: unknown) => err instanceof SidecarToolError && /no-such-backup|backup/i.test(err.message));
  });
});
