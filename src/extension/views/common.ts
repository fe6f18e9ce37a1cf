import * as vscode from 'vscode';
import type { Diagnostic } from '../../core/diagnostics';
import type { SourceLocation } from '../data/source';

export const OPEN_DEFINITION_COMMAND = 'switchboard.openDefinition';

/** The click action that opens a definition at its line. */
export function openDefinitionCommand(location: SourceLocation): vscode.Command {
  return { command: OPEN_DEFINITION_COMMAND, title: 'Open Definition', arguments: [location] };
}

export async function openDefinition(location: SourceLocation): Promise<void> {
  const line = Math.max(0, location.line - 1);
  await vscode.window.showTextDocument(vscode.Uri.file(location.file), {
    selection: new vscode.Range(line, 0, line, 0),
    preview: true,
  });
}

/** Groups items by layer, in the snapshot's precedence order; layers without items are left out. */
export function groupByLayer<T extends { layer: string }>(items: T[], layers: string[]): Array<{ layer: string; items: T[] }> {
  const order = [...layers, ...items.map((i) => i.layer).filter((l) => !layers.includes(l))];
  return [...new Set(order)]
    .map((layer) => ({ layer, items: items.filter((i) => i.layer === layer) }))
    .filter((group) => group.items.length > 0);
}

export function diagnosticItem(d: Diagnostic, idPrefix: string): vscode.TreeItem {
  const item = new vscode.TreeItem(d.message, vscode.TreeItemCollapsibleState.None);
  item.id = `${idPrefix}|problem|${d.file}:${d.line}:${d.column}|${d.message}`;
  item.description = `${vscode.workspace.asRelativePath(d.file)}:${d.line}`;
  item.tooltip = `${d.file}:${d.line}:${d.column}\n${d.message}`;
  item.iconPath = new vscode.ThemeIcon(d.severity === 'error' ? 'error' : 'warning', new vscode.ThemeColor(d.severity === 'error' ? 'problemsErrorIcon.foreground' : 'problemsWarningIcon.foreground'));
  item.contextValue = 'switchboard.problem';
  item.command = openDefinitionCommand({ file: d.file, line: d.line });
  return item;
}

export function problemsGroupItem(count: number, idPrefix: string): vscode.TreeItem {
  const item = new vscode.TreeItem(`Problems (${count})`, vscode.TreeItemCollapsibleState.Expanded);
  item.id = `${idPrefix}|problems`;
  item.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'));
  item.contextValue = 'switchboard.problems';
  return item;
}

export function layerItem(layer: string, count: number, idPrefix: string): vscode.TreeItem {
  const item = new vscode.TreeItem(layer, vscode.TreeItemCollapsibleState.Expanded);
  item.id = `${idPrefix}|layer|${layer}`;
  item.description = String(count);
  item.iconPath = new vscode.ThemeIcon('layers');
  item.contextValue = 'switchboard.layer';
  return item;
}

export function folderItem(folder: vscode.WorkspaceFolder, idPrefix: string): vscode.TreeItem {
  const item = new vscode.TreeItem(folder.name, vscode.TreeItemCollapsibleState.Expanded);
  item.id = `${idPrefix}|folder|${folder.uri.toString()}`;
  item.iconPath = vscode.ThemeIcon.Folder;
  item.resourceUri = folder.uri;
  item.contextValue = 'switchboard.folder';
  return item;
}

export function relativeLocation(location: SourceLocation): string {
  return `${vscode.workspace.asRelativePath(location.file)}:${location.line}`;
}
