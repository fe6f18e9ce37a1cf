import * as vscode from 'vscode';

/**
 * The file a delegation acts on: the explorer or editor context-menu target (VS Code passes its Uri first),
 * else the active editor's file. Undefined when there is none on disk.
 */
export function sourceFileFrom(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg.scheme === 'file' ? arg : undefined;
  // The active tab covers a text file whose editor has not reported focus yet (just opened, or focus elsewhere).
  const tab = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  const active = vscode.window.activeTextEditor?.document.uri ?? (tab instanceof vscode.TabInputText ? tab.uri : undefined);
  return active?.scheme === 'file' ? active : undefined;
}

/** The folder a folder-wide command acts on: the one given, the only one, or the user's pick. */
export async function pickFolder(given?: vscode.WorkspaceFolder): Promise<vscode.WorkspaceFolder | undefined> {
  if (given) return given;
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file');
  if (folders.length <= 1) return folders[0];
  const active = vscode.window.activeTextEditor?.document.uri;
  const preferred = active ? vscode.workspace.getWorkspaceFolder(active) : undefined;
  return vscode.window.showWorkspaceFolderPick({ placeHolder: preferred ? `Workspace folder (current: ${preferred.name})` : 'Workspace folder' });
}

export function noFileMessage(): void {
  void vscode.window.showWarningMessage('Switchboard: open a file of the workspace (or right-click one in the Explorer) to delegate work on it.');
}

/** "3 min ago" style age for quick pick descriptions. */
export function age(iso: string, now = Date.now()): string {
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}
