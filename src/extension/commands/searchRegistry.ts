/**
 * "Switchboard: Search MCP Registry…": a QuickPick with live results from the sidecar's `search_registry` tool,
 * a details pick (description, repository, versions, package type, transport, status, required inputs), and
 * Install to workspace / user through the bundled CLI's `registry add` (the same checks and refusals as the
 * terminal). Required inputs come from input boxes; secrets go to SecretStorage and are written only as
 * `${VAR}` references.
 */
import { execFile } from 'node:child_process';
import * as vscode from 'vscode';
import type { SearchRegistryOutput } from '../../sidecar/protocol/search-registry';
import type { ClientFor } from '../delegation/tools';
import { pickFolder } from './common';
import { sidecarNode } from './installForClaudeCode';

export const SEARCH_REGISTRY_COMMAND = 'switchboard.searchRegistry';
const SECRET_PREFIX = 'switchboard.registry.';
const CLI_TIMEOUT_MS = 90_000;

interface Details {
  name: string;
  title?: string;
  description: string;
  version?: string;
  status: string;
  status_message?: string;
  repository?: string;
  packages: Array<{ type: string; identifier: string; version?: string; transport: string }>;
  remotes: Array<{ type: string; url?: string }>;
  inputs: Array<{ name: string; kind: string; required: boolean; secret: boolean; description?: string }>;
  versions?: Array<{ version?: string; status: string }>;
}

type Hit = SearchRegistryOutput['results'][number];

function runCli(node: string, sidecarPath: string, args: string[], cwd: string): Promise<{ ok: true; json: unknown } | { ok: false; message: string }> {
  return new Promise((resolve) => {
    execFile(node, [sidecarPath, ...args, '--workspace', cwd, '--json'], { cwd, timeout: CLI_TIMEOUT_MS, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return resolve({ ok: false, message: stderr.trim().replace(/^switchboard: /, '') || err.message });
      try {
        resolve({ ok: true, json: JSON.parse(stdout) });
      } catch {
        resolve({ ok: false, message: 'the sidecar answered something that is not JSON' });
      }
    });
  });
}

export function registerSearchRegistry(deps: { clientFor: ClientFor; sidecarPath: string; log: vscode.LogOutputChannel; secrets: vscode.SecretStorage }): vscode.Disposable {
  return vscode.commands.registerCommand(SEARCH_REGISTRY_COMMAND, () => searchRegistry(deps));
}

async function searchRegistry(deps: { clientFor: ClientFor; sidecarPath: string; log: vscode.LogOutputChannel; secrets: vscode.SecretStorage }): Promise<void> {
  const folder = await pickFolder();
  if (!folder) {
    void vscode.window.showWarningMessage('Switchboard: open a folder first.');
    return;
  }
  const node = sidecarNode(folder);
  const cwd = folder.uri.fsPath;
  const client = await deps.clientFor(folder);
  const pick = vscode.window.createQuickPick<vscode.QuickPickItem & { hit?: Hit }>();
  pick.title = 'Switchboard: Search MCP Registry';
  pick.placeholder = 'Words to find (all required); name and title matches first';
  pick.matchOnDescription = true;
  pick.matchOnDetail = true;
  let generation = 0;
  let timer: NodeJS.Timeout | undefined;
  const refresh = (text: string) => {
    const mine = ++generation;
    pick.busy = true;
    void client
      .callTool('search_registry', { query: text.slice(0, 200) })
      .then((out) => {
        if (mine !== generation) return;
        pick.items = out.results.map((hit) => ({
          label: hit.name,
          description: `${hit.version ?? ''} · ${hit.types.join(', ') || '-'}${hit.status === 'deprecated' ? ' · deprecated' : ''}`,
          detail: hit.description.slice(0, 200),
          hit,
        }));
        pick.placeholder = out.cache_age_s === undefined ? 'Registry cache not synced yet…' : `${out.results.length} match(es); cache synced ${Math.round(out.cache_age_s / 60)} min ago`;
      })
      .catch((err: unknown) => deps.log.warn(`search_registry failed: ${(err as Error).message}`))
      .finally(() => {
        if (mine === generation) pick.busy = false;
      });
  };
  pick.onDidChangeValue((text) => {
    clearTimeout(timer);
    timer = setTimeout(() => refresh(text), 150);
  });
  const chosen = new Promise<Hit | undefined>((resolve) => {
    pick.onDidAccept(() => {
      resolve(pick.selectedItems[0]?.hit);
      pick.hide();
    });
    pick.onDidHide(() => resolve(undefined));
  });
  pick.show();
  refresh('');
  // Refresh the cache in the background; the list updates when it is done.
  void runCli(node, deps.sidecarPath, ['registry', 'sync'], cwd).then((r) => {
    if (!r.ok) deps.log.warn(`registry sync failed: ${r.message}`);
    else refresh(pick.value);
  });
  const hit = await chosen;
  pick.dispose();
  if (hit) await showDetails(hit, folder, node, cwd, deps);
}

async function showDetails(hit: Hit, folder: vscode.WorkspaceFolder, node: string, cwd: string, deps: { sidecarPath: string; log: vscode.LogOutputChannel; secrets: vscode.SecretStorage }): Promise<void> {
  const shown = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Switchboard: reading ${hit.name}…` }, () => runCli(node, deps.sidecarPath, ['registry', 'show', hit.name], cwd));
  if (!shown.ok) {
    void vscode.window.showErrorMessage(`Switchboard: ${shown.message}`);
    return;
  }
  const d = shown.json as Details;
  const info: vscode.QuickPickItem[] = [
    { label: d.title ?? d.name, detail: d.description.slice(0, 500) },
    { label: 'Status', description: `${d.status}${d.status_message ? ` — ${d.status_message}` : ''}` },
    ...(d.repository ? [{ label: 'Repository', description: d.repository }] : []),
    { label: 'Versions', description: d.versions?.map((v) => v.version ?? '?').join(', ') ?? d.version ?? '-' },
    ...d.packages.map((p) => ({ label: 'Package', description: `${p.type} ${p.identifier}${p.version ? `@${p.version}` : ''} (${p.transport})` })),
    ...d.remotes.map((r) => ({ label: 'Remote', description: `${r.type} ${r.url ?? ''}` })),
    ...d.inputs.map((i) => ({ label: 'Input', description: `${i.kind} ${i.name}${i.required ? ' (required)' : ''}${i.secret ? ' (secret)' : ''}`, detail: i.description })),
  ];
  const actions = d.status === 'deleted' ? [] : [{ label: '$(cloud-download) Install to workspace', scope: 'project' as const }, { label: '$(account) Install for me (all folders)', scope: 'user' as const }];
  const picked = await vscode.window.showQuickPick<vscode.QuickPickItem & { scope?: 'project' | 'user' }>([...actions, { label: '', kind: vscode.QuickPickItemKind.Separator }, ...info], { title: d.name, placeHolder: d.status === 'deleted' ? 'Deleted from the registry: cannot be installed' : 'Install, or read the details' });
  if (!picked?.scope) return;
  const args = ['registry', 'add', d.name, '--scope', picked.scope, '--yes'];
  for (const input of d.inputs) {
    if (input.secret) {
      const stored = await deps.secrets.get(SECRET_PREFIX + input.name);
      const value = stored ?? (input.required ? await vscode.window.showInputBox({ title: `${d.name}: ${input.name}`, prompt: `${input.description ?? input.name} — kept in VS Code's SecretStorage; the server file gets \${${input.name}}`, password: true, ignoreFocusOut: true }) : undefined);
      if (value === undefined && input.required) return;
      if (value && !stored) await deps.secrets.store(SECRET_PREFIX + input.name, value);
      continue;
    }
    if (!input.required || input.kind === 'header') continue;
    const value = await vscode.window.showInputBox({ title: `${d.name}: ${input.name}`, prompt: input.description ?? input.name, ignoreFocusOut: true });
    if (value === undefined) return;
    args.push(input.kind === 'env' ? '--env' : '--arg', `${input.kind === 'env' ? input.name : input.name.replace(/^-+/, '')}=${value}`);
  }
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Switchboard: installing ${d.name}…` }, () => runCli(node, deps.sidecarPath, args, cwd));
  if (!result.ok) {
    deps.log.error(`registry add ${d.name} failed: ${result.message}`);
    void vscode.window.showErrorMessage(`Switchboard: ${result.message}`);
    return;
  }
  const out = result.json as { key: string; file: string; command: string; secrets: string[] };
  deps.log.info(`Installed ${d.name} as "${out.key}" in ${out.file}: ${out.command}`);
  void vscode.window.showInformationMessage(
    `Switchboard: installed "${out.key}" in ${out.file} — runs \`${out.command}\`${out.secrets.length ? `. Set ${out.secrets.join(', ')} in the environment your MCP client starts from` : ''}.`,
  );
  void vscode.commands.executeCommand('switchboard.refresh').then(undefined, () => undefined);
  void folder;
}
