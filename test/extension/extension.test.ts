/**
 * Runs inside a real VS Code extension host (code-server via runner.ts, or @vscode/test-electron), with a
 * copy of media/sample-workspace open. Drives the real extension through the API its activate() returns.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import type { SwitchboardApi } from '../../src/extension/api';
import { TIMING_PREFIX } from './timing';
import { waitFor as waitUntil } from './wait';

const EXTENSION_ID = 'switchboard.switchboard';
const VIEW_IDS = ['switchboard.servers', 'switchboard.agents', 'switchboard.quota'] as const;

interface Row {
  /** Labels from the root down to this row. */
  path: string[];
  label: string;
  description: string;
  item: vscode.TreeItem;
}

/** This suite's waits are bounded at 15 s. */
const waitFor = <T,>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> => waitUntil(what, probe, 15_000);

function labelOf(item: vscode.TreeItem): string {
  const label = item.label;
  return typeof label === 'string' ? label : (label?.label ?? '');
}

/** Every row of a tree, depth first, exactly as VS Code would ask the provider for them. */
async function rows(provider: vscode.TreeDataProvider<unknown>): Promise<Row[]> {
  const out: Row[] = [];
  const walk = async (node: unknown, parents: string[]): Promise<void> => {
    for (const child of (await provider.getChildren(node)) ?? []) {
      const item = await provider.getTreeItem(child);
      const label = labelOf(item);
      out.push({ path: [...parents, label], label, description: String(item.description ?? ''), item });
      if (item.collapsibleState !== vscode.TreeItemCollapsibleState.None) await walk(child, [...parents, label]);
    }
  };
  await walk(undefined, []);
  return out;
}

/** Rows directly under a layer node, for a single-folder workspace (layer → entries). */
function entriesOfLayer(all: Row[], layer: string): Row[] {
  return all.filter((r) => r.path.length === 2 && r.path[0] === layer);
}

function nextTreeChange(provider: vscode.TreeDataProvider<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const subscription = provider.onDidChangeTreeData!(() => {
      subscription.dispose();
      resolve();
    });
  });
}

function workspaceRoot(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the runner opens the sample workspace');
  return folder.uri.fsPath;
}

function agentIdsIn(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(ya?ml|md)$/.test(f))
    .map((f) => {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      const id = /^\s*(?:id|name):\s*["']?([\w.-]+)/m.exec(text);
      assert.ok(id, `${f} declares an id`);
      return id[1]!;
    });
}

describe('Switchboard in a real VS Code', function () {
  this.timeout(30_000);
  let extension: vscode.Extension<SwitchboardApi>;
  let api: SwitchboardApi;

  before(async () => {
    const found = vscode.extensions.getExtension<SwitchboardApi>(EXTENSION_ID);
    assert.ok(found, `${EXTENSION_ID} is loaded as the extension under development`);
    extension = found;
  });

  it('activates by itself on the sample workspace (workspaceContains), and measures its activation', async () => {
    // No activate() call here: the workspace's .agents/.mcp files must be what wakes the extension up.
    await waitFor('the extension to activate', () => extension.isActive);
    api = extension.exports;
    assert.equal(typeof api.activationMs, 'number');
    assert.ok(api.activationMs > 0 && Number.isFinite(api.activationMs), `activationMs = ${api.activationMs}`);
    console.log(TIMING_PREFIX + JSON.stringify({ activationMs: api.activationMs }));
  });

  it('contributes the Switchboard container with its three views, which open', async () => {
    const views = (extension.packageJSON as { contributes: { views: Record<string, Array<{ id: string }>> } }).contributes.views.switchboard;
    assert.deepEqual(views.map((v) => v.id), [...VIEW_IDS]);
    await vscode.commands.executeCommand('workbench.view.extension.switchboard');
    await waitFor('all three views to be visible', () => api.views.servers.visible && api.views.agents.visible && api.views.quota.visible);
  });

  it('keeps one state per workspace folder', () => {
    const folders = vscode.workspace.workspaceFolders ?? [];
    assert.deepEqual(
      api.model.folders.map((f) => f.path),
      folders.map((f) => f.uri.fsPath),
    );
  });

  it('is not restricted in a trusted workspace: no view carries the Restricted Mode message', () => {
    assert.equal(vscode.workspace.isTrusted, true);
    assert.equal(api.restricted, false);
    for (const id of ['servers', 'agents', 'quota'] as const) assert.ok(!api.views[id].message, `${id} view message: ${api.views[id].message}`);
  });

  it('Agents lists every agent of the workspace layers under its layer, with its model', async () => {
    const root = workspaceRoot();
    const all = await rows(api.trees.agents);
    for (const [layer, dir] of [
      ['project', '.agents/project'],
      ['claude', '.claude/agents'],
      ['core', '.agents/core'],
      ['defaults', '.agents/defaults'],
    ] as const) {
      const listed = entriesOfLayer(all, layer).map((r) => r.label);
      for (const id of agentIdsIn(path.join(root, dir))) assert.ok(listed.includes(id), `${id} (${dir}) is listed under ${layer}; got ${JSON.stringify(listed)}`);
    }
    const aiEngineer = all.find((r) => r.label === 'ai-engineer');
    assert.ok(aiEngineer, 'ai-engineer is listed');
    assert.match(aiEngineer.description, /opus/, 'the row shows the model');
    assert.equal(all.filter((r) => r.label.startsWith('Problems')).length, 0, `the sample workspace loads without problems: ${JSON.stringify(all.filter((r) => r.path[0]?.startsWith('Problems')))}`);
  });

  it('Agents shows an agent hidden by a higher layer as "overridden by …"', async () => {
    const all = await rows(api.trees.agents);
    const winners = all.filter((r) => r.path.length === 2 && !r.description.includes('overridden by'));
    const overridden = all.filter((r) => r.description.includes('overridden by'));
    assert.ok(overridden.length > 0, 'the sample workspace overrides at least one bundled agent');
    for (const row of overridden) {
      const winner = winners.find((w) => w.label === row.label);
      assert.ok(winner, `${row.label} has a winning definition`);
      assert.ok(row.description.includes(`overridden by ${winner.path[0]}`), `${row.path.join(' › ')}: "${row.description}" names ${winner.path[0]}`);
      assert.equal(row.item.contextValue, 'switchboard.agent.overridden');
    }
  });

  it('MCP Servers lists the servers of every project file, optional ones as off until enabled', async () => {
    const root = workspaceRoot();
    const all = await rows(api.trees.servers);
    const names = new Set(all.map((r) => r.label));
    for (const file of ['.mcp/servers/core.json', '.mcp/servers/optional.json', '.mcp.json']) {
      const full = path.join(root, file);
      if (!fs.existsSync(full)) continue;
      for (const name of Object.keys((JSON.parse(fs.readFileSync(full, 'utf8')) as { mcpServers: object }).mcpServers)) {
        assert.ok(names.has(name), `${name} from ${file} is listed; got ${[...names].join(', ')}`);
      }
    }
    const project = entriesOfLayer(all, 'project');
    assert.ok(project.length > 0, 'a project layer with servers');
    const optionalOff = all.filter((r) => r.item.contextValue === 'switchboard.server.optional-off.optional');
    assert.ok(optionalOff.length > 0, 'at least one optional server is listed as off');
    for (const row of optionalOff) assert.match(row.description, /optional, off/);
  });

  it('Quota lists each provider with tier, key state, used / limit and time to reset', async () => {
    const all = await rows(api.trees.quota);
    const gemini = all.find((r) => r.path.length === 1 && r.label === 'gemini');
    assert.ok(gemini, `gemini is listed: ${JSON.stringify(all.map((r) => r.path.join(' › ')))}`);
    assert.match(gemini.description, /^free · (key set|no key)$/);
    const daily = all.find((r) => r.path[0] === 'gemini' && r.item.id?.endsWith('|requests|day'));
    assert.ok(daily, 'gemini has its daily request quota');
    assert.equal(daily.label, '0 / 1,500 requests/day', 'used / limit leads the label, so a narrow sidebar does not cut it');
    assert.match(daily.description, /^0% · resets in \d+ (min|h \d+ min)$/);
  });

  it('Quota colours a provider past 80 % of a quota, from the shared ledger and the project router.yaml', async () => {
    const root = workspaceRoot();
    const routerFile = path.join(root, '.mcp', 'router.yaml');
    const rules = [{ metric: 'requests' as const, window: 'day' as const, limit: 10, reset_tz: 'America/Los_Angeles' }];
    fs.writeFileSync(routerFile, 'providers:\n  - id: gemini\n    quotas:\n      - { metric: requests, window: day, limit: 10, reset_tz: America/Los_Angeles }\n');
    // Another process (the sidecar) records usage in the same ledger file; the view must show it.
    const { SqlJsLedger, defaultLedgerPath } = await import('../../src/core/ledger/index');
    const ledger = await SqlJsLedger.open({ file: defaultLedgerPath(process.env) });
    try {
      for (let i = 0; i < 9; i++) {
        const reserved = await ledger.reserve({ providerId: 'gemini', rules, amounts: { requests: 1 } });
        assert.ok(reserved.ok);
        await ledger.settle(reserved.reservationId, rules, {
          providerId: 'gemini', model: 'gemini-2.5-flash', tier: 'free', ok: true, amounts: { requests: 1 },
          inputTokens: 10, outputTokens: 10, costUsd: 0, baselineUsd: 0.001,
        });
      }
    } finally {
      await ledger.close();
    }
    try {
      await vscode.commands.executeCommand('switchboard.refresh');
      const daily = await waitFor('gemini at 9 / 10', async () => (await rows(api.trees.quota)).find((r) => r.path[0] === 'gemini' && r.label === '9 / 10 requests/day' && r.description.startsWith('90%')));
      const icon = daily.item.iconPath as vscode.ThemeIcon;
      assert.equal(icon.color?.id, 'charts.yellow', '80 % ≤ 90 % < 95 % is yellow');
    } finally {
      fs.rmSync(routerFile, { force: true });
    }
  });

  it('clicking a row opens its definition at its line', async () => {
    const row = (await rows(api.trees.agents)).find((r) => r.label === 'ai-engineer' && r.path[0] === 'core');
    assert.ok(row?.item.command, 'the ai-engineer row has a click command');
    const [location] = row.item.command.arguments as [{ file: string; line: number }];
    await vscode.commands.executeCommand(row.item.command.command, ...(row.item.command.arguments ?? []));
    const editor = await waitFor('the definition to open', () => {
      const active = vscode.window.activeTextEditor;
      return active?.document.uri.fsPath === location.file ? active : undefined;
    });
    assert.equal(path.basename(editor.document.uri.fsPath), 'ai-engineer.yaml');
    assert.equal(editor.selection.active.line, location.line - 1);
    assert.match(editor.document.lineAt(location.line - 1).text + editor.document.getText(), /ai-engineer/);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('a new agent file appears by itself (file watcher), in its layer', async () => {
    const file = path.join(workspaceRoot(), '.agents', 'project', 'release-notes-writer.md');
    const changed = nextTreeChange(api.trees.agents);
    fs.writeFileSync(file, '---\nname: release-notes-writer\ndescription: Writes release notes from merged changes\nmodel: haiku\n---\nYou write release notes.\n');
    try {
      await Promise.race([changed, new Promise((_, reject) => setTimeout(() => reject(new Error('no tree change within 10 s of writing an agent file')), 10_000))]);
      const row = await waitFor('release-notes-writer to be listed', async () => entriesOfLayer(await rows(api.trees.agents), 'project').find((r) => r.label === 'release-notes-writer'));
      assert.match(row.description, /haiku/);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('Switchboard: Refresh re-reads what no watcher covers (the user layer in ~/.claude/agents)', async () => {
    const home = process.env.HOME ?? os.homedir();
    const dir = path.join(home, '.claude', 'agents');
    const file = path.join(dir, 'personal-helper.md');
    const existed = fs.existsSync(dir);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, '---\nname: personal-helper\ndescription: My own helper\nmodel: sonnet\n---\nHelp me.\n');
    try {
      const changed = nextTreeChange(api.trees.agents);
      await vscode.commands.executeCommand('switchboard.refresh');
      await changed;
      const user = entriesOfLayer(await rows(api.trees.agents), 'user');
      assert.ok(user.some((r) => r.label === 'personal-helper'), `personal-helper under user; got ${JSON.stringify(user.map((r) => r.label))}`);
    } finally {
      fs.rmSync(file, { force: true });
      if (!existed) fs.rmSync(path.join(home, '.claude'), { recursive: true, force: true });
    }
    await vscode.commands.executeCommand('switchboard.refresh');
    const after = entriesOfLayer(await rows(api.trees.agents), 'user');
    assert.ok(!after.some((r) => r.label === 'personal-helper'), 'gone again after removing the file and refreshing');
  });

  it('Switchboard: Show Log runs', async () => {
    await vscode.commands.executeCommand('switchboard.showLog');
  });

  it('deactivate() disposes everything it registered', async () => {
    const commands = await vscode.commands.getCommands(true);
    for (const id of ['switchboard.refresh', 'switchboard.showLog']) assert.ok(commands.includes(id), `${id} registered while active`);

    // The host loaded dist/extension.js with Node's require; requiring it again yields that same instance.
    const main = path.join(extension.extensionPath, 'dist', 'extension.js');
    const loaded = createRequire(__filename)(main) as { deactivate(): void };
    const sidecarPids = api.sidecars.all.map((c) => c.pid).filter((pid): pid is number => pid !== undefined);
    loaded.deactivate();
    // The sidecar processes end with the extension (stdin closed, then SIGTERM / SIGKILL).
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor('the sidecar processes to exit', () => sidecarPids.every((pid) => !alive(pid)));

    assert.equal(api.isDisposed, true);
    assert.deepEqual(api.model.folders, [], 'per-folder states are released');
    const after = await vscode.commands.getCommands(true);
    for (const id of ['switchboard.refresh', 'switchboard.showLog', 'switchboard.openDefinition']) assert.ok(!after.includes(id), `${id} unregistered`);
  });
});
