/**
 * "Switchboard: Install for Claude Code": runs the bundled sidecar's own `install claude --scope …` with the
 * editor's Node (or switchboard.sidecar.nodePath), so the editor and the CLI register Claude Code the same way.
 */
import { execFile } from 'node:child_process';
import * as vscode from 'vscode';
import { pickFolder } from './common';

export const INSTALL_COMMAND = 'switchboard.installForClaudeCode';
type Scope = 'project' | 'local' | 'user';
const INSTALL_TIMEOUT_MS = 90_000;

export interface InstallArgs {
  scope?: Scope;
  folder?: vscode.WorkspaceFolder;
}

export interface InstallResult {
  scope: Scope;
  file?: string;
  backup_id?: string;
  command: string;
  args: string[];
  verify: string;
}

export type InstallOutcome = { status: 'installed'; result: InstallResult } | { status: 'failed'; message: string };

const SCOPE_ITEMS: Array<vscode.QuickPickItem & { scope: Scope }> = [
  { label: 'Project', description: '.mcp.json in this folder — shared with everyone who opens it', scope: 'project' },
  { label: 'Local', description: 'only you, only this folder (claude mcp add --scope local)', scope: 'local' },
  { label: 'User', description: 'you, in every folder (claude mcp add --scope user)', scope: 'user' },
];

/** The Node that runs the sidecar: the setting, else the editor's own (Electron runs as Node with ELECTRON_RUN_AS_NODE). */
export function sidecarNode(folder?: vscode.WorkspaceFolder): string {
  return vscode.workspace.getConfiguration('switchboard.sidecar', folder).get<string>('nodePath')?.trim() || process.execPath;
}

export async function installForClaudeCode(sidecarPath: string, log: vscode.LogOutputChannel, arg?: unknown): Promise<InstallOutcome | undefined> {
  if (!vscode.workspace.isTrusted) {
    // Installing runs the bundled sidecar and edits .mcp.json: not in a folder the user has not trusted.
    void vscode.window.showWarningMessage('Switchboard: trust this workspace first; Install for Claude Code runs the Switchboard sidecar.');
    return { status: 'failed', message: 'Restricted Mode' };
  }
  const args: InstallArgs = arg && typeof arg === 'object' ? (arg as InstallArgs) : {};
  const folder = await pickFolder(args.folder);
  if (!folder) {
    void vscode.window.showWarningMessage('Switchboard: open a folder first; Claude Code registers servers per project.');
    return undefined;
  }
  const scope = args.scope ?? (await vscode.window.showQuickPick(SCOPE_ITEMS, { title: 'Switchboard: Install for Claude Code', placeHolder: 'Where should Claude Code find the Switchboard MCP server?' }))?.scope;
  if (!scope) return undefined;

  const node = sidecarNode(folder);
  log.info(`Installing for Claude Code (scope ${scope}) in ${folder.name}`);
  const run = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Switchboard: registering with Claude Code (${scope})…` }, () =>
    runInstall(node, sidecarPath, scope, folder.uri.fsPath),
  );
  if (!run.ok) {
    log.error(`Install for Claude Code failed: ${run.message}`);
    void vscode.window.showErrorMessage(`Switchboard: install for Claude Code failed: ${run.message}`);
    return { status: 'failed', message: run.message };
  }
  const result = run.result;
  const where = scope === 'project' ? `.mcp.json (backup ${result.backup_id})` : `Claude Code's ${scope} settings`;
  log.info(`Registered switchboard in ${where}: ${result.command} ${result.args.join(' ')}`);
  const actions = scope === 'project' ? ['Open .mcp.json', 'Copy Verify Command'] : ['Copy Verify Command'];
  void vscode.window
    .showInformationMessage(
      `Switchboard: registered with Claude Code in ${where}. Verify with \`${result.verify}\` in this folder: it should list "switchboard … ✔ Connected"${scope === 'project' ? ' (Claude Code asks once to approve project servers)' : ''}.`,
      ...actions,
    )
    .then(async (choice) => {
      if (choice === 'Copy Verify Command') await vscode.env.clipboard.writeText(result.verify);
      if (choice === 'Open .mcp.json') await vscode.window.showTextDocument(vscode.Uri.joinPath(folder.uri, '.mcp.json'));
    });
  return { status: 'installed', result };
}

function runInstall(node: string, sidecarPath: string, scope: Scope, workspace: string): Promise<{ ok: true; result: InstallResult } | { ok: false; message: string }> {
  return new Promise((resolve) => {
    execFile(
      node,
      [sidecarPath, 'install', 'claude', '--scope', scope, '--workspace', workspace, '--json'],
      { cwd: workspace, timeout: INSTALL_TIMEOUT_MS, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          // The CLI prints one plain line on a user error; anything else (spawn failure, timeout) is described.
          const line = stderr.trim().split('\n').filter(Boolean).pop()?.replace(/^switchboard: /, '');
          const spawnProblem = (error as NodeJS.ErrnoException).code === 'ENOENT' ? `Node not found at "${node}" (switchboard.sidecar.nodePath)` : undefined;
          return resolve({ ok: false, message: spawnProblem ?? line ?? (error.killed ? `no answer within ${INSTALL_TIMEOUT_MS / 1000} s` : error.message) });
        }
        try {
          resolve({ ok: true, result: JSON.parse(stdout) as InstallResult });
        } catch {
          resolve({ ok: false, message: `unexpected output from the sidecar: ${stdout.slice(0, 200)}` });
        }
      },
    );
  });
}

export function registerInstallForClaudeCode(sidecarPath: string, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand(INSTALL_COMMAND, (arg?: unknown) => installForClaudeCode(sidecarPath, log, arg));
}
