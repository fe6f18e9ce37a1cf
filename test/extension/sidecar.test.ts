/**
 * The extension's own sidecar inside a real VS Code extension host: its lifecycle (start, state, killed →
 * restarted), the views fed through it, the status bar, keys from SecretStorage reaching it (and the key
 * channel), server row actions, PROJECT_CONTEXT.md regeneration, the MCP definition provider's feature
 * detection, and no key in the log. Runs on a copy of media/sample-workspace (see runner.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import type { SwitchboardApi } from '../../src/extension/api';
import type { SidecarClient, SidecarState } from '../../src/extension/sidecarClient/client';
import { requestKeys } from '../../src/core/keys/channel';
import { TIMING_PREFIX } from './timing';
import { waitFor } from './wait';

const EXTENSION_ID = 'switchboard.switchboard';
// Shaped like real keys so the value patterns of the redaction would catch them too.
const TOGETHER_KEY = 'tgp_v1_sidecarTestKey_0123456789abcdefABCDEF';
const OPENAI_KEY = 'sk-proj-sidecarTestKey0123456789abcdefABCDEF';

interface Row {
  path: string[];
  label: string;
  description: string;
  item: vscode.TreeItem;
  node: unknown;
}

async function rows(provider: vscode.TreeDataProvider<unknown>): Promise<Row[]> {
  const out: Row[] = [];
  const walk = async (node: unknown, parents: string[]): Promise<void> => {
    for (const child of (await provider.getChildren(node)) ?? []) {
      const item = await provider.getTreeItem(child);
      const label = typeof item.label === 'string' ? item.label : (item.label?.label ?? '');
      out.push({ path: [...parents, label], label, description: String(item.description ?? ''), item, node: child });
      if (item.collapsibleState !== vscode.TreeItemCollapsibleState.None) await walk(child, [...parents, label]);
    }
  };
  await walk(undefined, []);
  return out;
}

function workspaceRoot(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the runner opens the sample workspace');
  return folder.uri.fsPath;
}

/** Every file under `dir` (the editor's log folders are small). */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile());
}

describe('The extension\'s own sidecar', function () {
  this.timeout(60_000);
  let api: SwitchboardApi;
  let root: string;
  let client: SidecarClient;

  before(async () => {
    const extension = vscode.extensions.getExtension<SwitchboardApi>(EXTENSION_ID);
    assert.ok(extension);
    api = await extension.activate();
    root = workspaceRoot();
  });

  it('starts after activation (not during it), reaches "ready", and reports its start time', async () => {
    await api.sidecarFeatures.whenStarted;
    const found = api.sidecars.existing(root);
    assert.ok(found, 'the first folder\'s sidecar was started after activation');
    client = found;
    await waitFor('the sidecar to be ready', () => client.state === 'ready');
    assert.ok(client.pid && client.pid > 0, 'a real child process');
    assert.doesNotThrow(() => process.kill(client.pid!, 0), 'the child process is alive');
    assert.ok(client.startMs! > 0 && client.startMs! < 20_000, `startMs = ${client.startMs}`);
    assert.ok(api.activationMs < client.startMs!, 'activation did not wait for the sidecar');
    console.log(TIMING_PREFIX + JSON.stringify({ sidecarStartMs: client.startMs }));
  });

  it('is restarted with backoff when its process dies, and the state changes are visible', async () => {
    const seen: SidecarState[] = [];
    const subscription = client.onDidChangeState((e) => seen.push(e.state));
    const oldPid = client.pid!;
    try {
      process.kill(oldPid, 'SIGKILL');
      await waitFor('a restarted sidecar', () => client.state === 'ready' && client.pid !== oldPid && client.pid);
    } finally {
      subscription.dispose();
    }
    assert.deepEqual(seen.slice(0, 1), ['restarting']);
    assert.equal(seen.at(-1), 'ready');
    // And it serves again: a tool call goes through the new process.
    const agents = await client.callTool('list_agents');
    assert.ok(agents.agents.length > 0);
  });

  it('gives up in state "failed" after repeated crashes, says why, and a later start() tries again', async () => {
    const { SidecarClient } = await import('../../src/extension/sidecarClient/client');
    const crashing = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-crash-')), 'crash.js');
    fs.writeFileSync(crashing, 'process.stderr.write("switchboard: cannot start: simulated\\n"); process.exit(3);\n');
    const lines: string[] = [];
    const log = { trace: () => {}, debug: () => {}, info: (l: string) => lines.push(l), warn: (l: string) => lines.push(l), error: (l: string) => lines.push(l) };
    const crashy = new SidecarClient({ folder: root, sidecarPath: crashing, env: () => process.env, log, initialBackoffMs: 5, startTimeoutMs: 5_000 });
    const states: SidecarState[] = [];
    crashy.onDidChangeState((e) => states.push(e.state));
    try {
      await assert.rejects(crashy.start());
      await waitFor('the client to give up', () => crashy.state === 'failed');
      assert.equal(states.filter((s) => s === 'restarting').length, 1, 'one restarting phase with several attempts');
      assert.ok(lines.filter((l) => l.includes('restarting in')).length >= 8, lines.join('\n'));
      assert.ok(lines.some((l) => l.includes('cannot start: simulated')), 'the child\'s stderr reaches the log');
      await assert.rejects(crashy.callTool('list_agents'), /failed to start/);
      // A user's "Restart Sidecar" (start() / restart()) tries again from scratch.
      const again = crashy.start();
      assert.equal(crashy.state, 'starting');
      await assert.rejects(again);
    } finally {
      crashy.dispose();
      fs.rmSync(path.dirname(crashing), { recursive: true, force: true });
    }
  });

  it('feeds the Agents and MCP Servers views (list_agents / list_servers) with layers, overrides and sources', async () => {
    const direct = await client.callTool('list_agents');
    const agentRows = await rows(api.trees.agents);
    for (const agent of direct.agents) {
      assert.ok(
        agentRows.some((r) => r.path[0] === agent.layer && r.label === agent.id && !r.description.includes('overridden')),
        `${agent.layer} › ${agent.id} is shown as the sidecar reports it`,
      );
    }
    const overridden = agentRows.find((r) => r.description.includes('overridden by'));
    assert.ok(overridden, 'hidden lower definitions come through the sidecar too');
    const servers = await client.callTool('list_servers');
    const serverRows = await rows(api.trees.servers);
    for (const server of servers.servers) {
      const row = serverRows.find((r) => r.path[0] === server.layer && r.label === server.id && !r.description.includes('overridden'));
      assert.ok(row, `${server.layer} › ${server.id} is listed`);
      if (server.optional && !server.enabled) assert.match(row.description, /^optional, off/);
      // What list_servers says a server hides is shown under the hidden layer, "overridden by" the winner.
      for (const hidden of server.hidden) {
        assert.ok(serverRows.some((r) => r.path[0] === hidden.layer && r.label === server.id && r.description.includes('overridden by')), `${hidden.layer} › ${server.id} is shown as overridden`);
      }
      if (server.duplicate_of) assert.match(row.description, new RegExp(`same as ${server.duplicate_of}`));
    }
    assert.ok(servers.servers.some((x) => x.hidden.length > 0), 'the sample has a server overriding a lower definition');
    // Rows open their definitions: the sidecar's workspace-relative sources were made absolute.
    const located = serverRows.find((r) => r.item.command);
    const location = located?.item.command?.arguments?.[0] as { file: string; line: number };
    assert.ok(path.isAbsolute(location.file) && fs.existsSync(location.file), JSON.stringify(location));
  });

  it('the status bar shows the sidecar state and this month\'s spend vs saved, and opens the dashboard', async () => {
    const item = api.sidecarFeatures.statusBar.item;
    assert.equal((item.command as vscode.Command).command, 'switchboard.openDashboard');
    // A call recorded in the shared ledger by another process: the ledger watcher refreshes the spend.
    const { SqlJsLedger, defaultLedgerPath } = await import('../../src/core/ledger/index');
    const ledger = await SqlJsLedger.open({ file: defaultLedgerPath(process.env) });
    const rules = [{ metric: 'requests' as const, window: 'month' as const, limit: 1000, reset_tz: 'UTC' }];
    try {
      const reserved = await ledger.reserve({ providerId: 'openai', rules, amounts: { requests: 1 } });
      assert.ok(reserved.ok);
      await ledger.settle(reserved.reservationId, rules, {
        providerId: 'openai', model: 'gpt-4o-mini', tier: 'paid', ok: true, amounts: { requests: 1 },
        inputTokens: 1000, outputTokens: 1000, costUsd: 0.25, baselineUsd: 1.25,
      });
    } finally {
      await ledger.close();
    }
    const status = await client.callTool('quota_status');
    assert.ok(status.month.usd >= 0.25);
    const expected = `$${status.month.usd.toFixed(2)} · saved $${(status.month.baseline_usd - status.month.usd).toFixed(2)}`;
    await waitFor(`status bar text with "${expected}"`, () => item.text.includes(expected) && item.text);
    assert.match(item.text, /^\$\(pass\) Switchboard /);
    await vscode.commands.executeCommand((item.command as vscode.Command).command);
    const dashboardTab = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input instanceof vscode.TabInputWebview && t.label.startsWith('Switchboard Dashboard'));
    await waitFor('the dashboard tab', () => dashboardTab());
    await vscode.window.tabGroups.close(dashboardTab()!);
  });

  it('the Quota view shows an open circuit and a 429 cooldown exactly as quota_status reports them', async () => {
    const { SqlJsLedger, defaultLedgerPath } = await import('../../src/core/ledger/index');
    const { cooldownKey } = await import('../../src/core/router/router');
    const ledger = await SqlJsLedger.open({ file: defaultLedgerPath(process.env) });
    try {
      // Failures recorded by another process until the circuit opens.
      for (let i = 0; i < 20 && (await ledger.circuit('huggingface')).state !== 'open'; i++) await ledger.recordOutcome('huggingface', false);
      assert.equal((await ledger.circuit('huggingface')).state, 'open');
      // A 429 from Together (no key in this host: the router's key-less cooldown key).
      await ledger.setCooldown(cooldownKey('together', process.env.TOGETHER_API_KEY || undefined), Date.now() + 3_600_000, 'rate limited (429)');
    } finally {
      await ledger.close();
    }
    await vscode.commands.executeCommand('switchboard.refresh');
    const circuit = await waitFor('huggingface › circuit open', async () => (await rows(api.trees.quota)).find((r) => r.path.join(' › ') === 'huggingface › circuit open'));
    assert.match(circuit.description, /^paused after repeated failures · \d+ (min|h \d+ min) left$/);
    const cooldown = await waitFor('together › cooldown', async () => (await rows(api.trees.quota)).find((r) => r.path.join(' › ') === 'together › cooldown'));
    assert.match(cooldown.description, /^rate limited \(429\) · \d+ (min|h \d+ min) left$/);
    const status = await client.callTool('quota_status');
    assert.equal(status.providers.find((p) => p.id === 'huggingface')?.circuit, 'open');
    assert.ok(status.providers.find((p) => p.id === 'together')?.cooldown_until);
    const reopened = await SqlJsLedger.open({ file: defaultLedgerPath(process.env) });
    try {
      await reopened.recordOutcome('huggingface', true);
    } finally {
      await reopened.close();
    }
  });

  it('a key set through SecretStorage reaches the sidecar (restarted), the Quota view and the key channel', async () => {
    const before = (await rows(api.trees.quota)).find((r) => r.label === 'together');
    assert.ok(before, 'together is listed');
    assert.match(before.description, /no key/, 'no Together key in the test environment');
    const oldPid = client.pid;
    await api.keys.set('TOGETHER_API_KEY', TOGETHER_KEY);
    await waitFor('the sidecar to restart with the key', () => client.state === 'ready' && client.pid !== oldPid);
    const row = await waitFor('together to show "key set"', async () => (await rows(api.trees.quota)).find((r) => r.label === 'together' && r.description.includes('key set')));
    assert.match(row.description, /^free · key set/);
    // A sidecar Claude Code started (same user, no key in its env) gets it over the channel while the editor runs.
    const channel = await waitFor('the key channel', async () => {
      const running = await api.sidecarFeatures.keyChannel.running;
      return running && fs.existsSync(running.tokenFile) && running;
    });
    assert.equal(path.dirname(channel.tokenFile), path.join(process.env.SWITCHBOARD_HOME!, 'run'));
    assert.equal(fs.statSync(channel.tokenFile).mode & 0o777, 0o600);
    const fetched = await requestKeys({ folder: root, env: process.env, except: ['GEMINI_API_KEY'] });
    assert.equal((await requestKeys({ folder: path.dirname(root), env: process.env })).reason, 'the editor answered: untrusted folder', 'a folder this editor does not hold gets no key');
    assert.equal(fetched.keys.TOGETHER_API_KEY, TOGETHER_KEY);
    // Settings and the workspace hold no key.
    const settings = vscode.workspace.getConfiguration();
    assert.ok(!JSON.stringify(settings.inspect('switchboard') ?? {}).includes(TOGETHER_KEY));
    const grep = filesUnder(root).filter((f) => !f.includes(`${path.sep}node_modules${path.sep}`) && fs.readFileSync(f, 'latin1').includes(TOGETHER_KEY));
    assert.deepEqual(grep, [], 'no workspace file holds the key');
  });

  it('Check Health runs through the sidecar and shows healthy / failing with latency and tool count', async () => {
    // A server that certainly answers offline: the bundled sidecar itself, defined in a project server file.
    const file = path.join(root, '.mcp', 'servers', 'local-check.json');
    const sidecarPath = api.sidecars.sidecarPath;
    fs.writeFileSync(file, JSON.stringify({ mcpServers: { 'local-sidecar': { command: process.execPath, args: [sidecarPath, 'serve', '--workspace', root], env: { ELECTRON_RUN_AS_NODE: '1' } } } }, null, 2));
    try {
      const listed = await waitFor('local-sidecar to be listed', async () => (await rows(api.trees.servers)).find((r) => r.label === 'local-sidecar'));
      assert.match(listed.description, /^not checked/);
      await vscode.commands.executeCommand('switchboard.checkServerHealth', listed.node);
      const checked = await waitFor('local-sidecar checked', async () => (await rows(api.trees.servers)).find((r) => r.label === 'local-sidecar' && !r.description.startsWith('not checked')), 60_000);
      assert.match(checked.description, /^healthy \d+ ms, 11 tools/);
      assert.equal(checked.item.contextValue, 'switchboard.server.healthy');
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('Enable on an optional server adds it to `enabled:` in .mcp/discovery-config.yaml (undoable edit)', async () => {
    const configFile = path.join(root, '.mcp', 'discovery-config.yaml');
    const original = fs.readFileSync(configFile, 'utf8');
    const off = (await rows(api.trees.servers)).find((r) => r.item.contextValue?.startsWith('switchboard.server.optional-off'));
    assert.ok(off, 'the sample workspace has an optional server that is off');
    try {
      await vscode.commands.executeCommand('switchboard.enableServer', off.node);
      const text = fs.readFileSync(configFile, 'utf8');
      assert.match(text, new RegExp(`^enabled: \\[.*\\b${off.label}\\b.*\\]`, 'm'));
      assert.ok(text.includes('# Servers from .mcp/servers/optional.json'), 'comments are kept');
      let seen = '';
      const row = await waitFor(`${off.label} enabled in the view`, async () => {
        const found = (await rows(api.trees.servers)).find((r) => r.label === off.label && r.path[0] === off.path[0]);
        seen = found?.description ?? '(not listed)';
        return found && !found.description.startsWith('optional, off') && found;
      }).catch(async (error: Error) => {
        const direct = (await client.callTool('list_servers')).servers.find((x) => x.id === off.label);
        throw new Error(`${error.message}; last seen: ${seen}; the sidecar says ${JSON.stringify(direct)}`);
      });
      assert.match(row.description, /^not checked/);
      // The edit went through the editor: undo restores the file's text.
      const document = await vscode.workspace.openTextDocument(configFile);
      await vscode.window.showTextDocument(document);
      await vscode.commands.executeCommand('undo');
      assert.equal(document.getText(), original);
    } finally {
      fs.writeFileSync(configFile, original);
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    }
  });

  it('regenerates PROJECT_CONTEXT.md through the sidecar after an agent file changes, and not when nothing changed', async () => {
    const contextFile = path.join(root, 'PROJECT_CONTEXT.md');
    const agentFile = path.join(root, '.agents', 'project', 'context-probe.yaml');
    fs.writeFileSync(
      agentFile,
      'metadata:\n  id: context-probe\n  version: 1.0.0\n  description: Appears in PROJECT_CONTEXT.md\n  category: testing\nruntime:\n  model: sonnet\nimplementation:\n  type: markdown\n  source: ./context-probe.md\n',
    );
    try {
      await waitFor('PROJECT_CONTEXT.md to list context-probe', () => fs.existsSync(contextFile) && fs.readFileSync(contextFile, 'utf8').includes('context-probe'), 30_000);
      const nextSync = () =>
        new Promise<{ changed: boolean }>((resolve) => {
          const subscription = api.sidecarFeatures.contextSync.onDidSync((e) => {
            subscription.dispose();
            resolve(e);
          });
        });
      // Syncs already scheduled by the same change (the write is audited, which reloads the views) settle first.
      await waitFor('a sync that finds the file up to date', async () => {
        await vscode.commands.executeCommand('switchboard.refresh');
        return !(await nextSync()).changed;
      }, 30_000);
      const mtime = fs.statSync(contextFile).mtimeMs;
      // Nothing changed: a refresh schedules a sync, which must leave the file alone.
      const synced = nextSync();
      await vscode.commands.executeCommand('switchboard.refresh');
      const result = await synced;
      assert.equal(result.changed, false);
      assert.equal(fs.statSync(contextFile).mtimeMs, mtime, 'PROJECT_CONTEXT.md not rewritten');
    } finally {
      fs.rmSync(agentFile, { force: true });
    }
  });

  it('offers the sidecar to VS Code\'s chat only where the MCP definition API exists (1.101+)', () => {
    // 1.100 (code-server 4.100) has the function only as a proposed API, which throws for us: skipped cleanly.
    const [major, minor] = vscode.version.split('.').map(Number) as [number, number];
    const finalised = major > 1 || minor >= 101;
    assert.equal(api.sidecarFeatures.mcpProviderRegistered, finalised, `VS Code ${vscode.version}`);
  });

  it('never writes a key to the log channel', async () => {
    // The stderr of the sidecar and our own lines went through the log; read the files VS Code keeps for it.
    await api.keys.set('OPENAI_API_KEY', OPENAI_KEY);
    await waitFor('the sidecar to restart with the OpenAI key', () => client.state === 'ready');
    const logsRoot = path.resolve(api.sidecarFeatures.logUri.fsPath, '..', '..', '..');
    const logFile = await waitFor('the Switchboard log file with the key-stored line', () =>
      filesUnder(logsRoot).find((f) => f.endsWith('Switchboard.log') && fs.readFileSync(f, 'utf8').includes('restarting: an API key changed')),
    ).catch((error: Error) => {
      throw new Error(`${error.message}; files under ${logsRoot}: ${filesUnder(logsRoot).join(', ')}`);
    });
    const log = fs.readFileSync(logFile, 'utf8');
    assert.match(log, /\[sidecar [^\]]+\] ready in \d+ ms/);
    for (const file of filesUnder(logsRoot)) {
      const text = fs.readFileSync(file, 'latin1');
      assert.ok(!text.includes(TOGETHER_KEY) && !text.includes(OPENAI_KEY), `${path.basename(file)} holds no key`);
    }
    await api.keys.delete('OPENAI_API_KEY');
    await api.keys.delete('TOGETHER_API_KEY');
  });
});
