import path from 'node:path';
import * as vscode from 'vscode';
import type { ServerEntry, ServerHealth, Snapshot } from '../data/source';
import type { FolderState, WorkspaceModel } from '../workspaceModel';
import { CascadeTreeProvider } from './cascadeTree';
import { openDefinitionCommand, relativeLocation } from './common';

export const SERVERS_VIEW_ID = 'switchboard.servers';

/** MCP servers by layer with their health (healthy / failing / optional-off), latency and tool count. */
export class ServersTreeProvider extends CascadeTreeProvider<ServerEntry> {
  constructor(model: WorkspaceModel) {
    super(SERVERS_VIEW_ID, model);
  }

  protected load(state: FolderState): Promise<Snapshot<ServerEntry>> {
    return state.servers();
  }

  protected entryItem(server: ServerEntry, idPrefix: string): vscode.TreeItem {
    const item = new vscode.TreeItem(server.name, vscode.TreeItemCollapsibleState.None);
    item.id = `${idPrefix}|server|${server.layer}|${server.name}`;
    item.description = server.overriddenBy ? `overridden by ${server.overriddenBy.layer}` : `${healthText(server.health)} · ${server.transport}${installedFromRegistry(server) ? ' · installed from registry' : ''}`;
    item.iconPath = server.overriddenBy ? new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('disabledForeground')) : healthIcon(server.health);
    item.contextValue = `switchboard.server.${server.health.status}${server.optional ? '.optional' : ''}`;
    if (path.isAbsolute(server.location.file)) item.command = openDefinitionCommand(server.location);
    item.tooltip = [
      `${server.name} — ${server.layer}${server.optional ? ' (optional)' : ''}`,
      server.target ? `${server.transport}: ${server.target}` : '',
      server.health.status === 'failing' ? `Failing: ${server.health.message}` : '',
      server.overriddenBy ? `Overridden by ${server.overriddenBy.layer} (${relativeLocation(server.overriddenBy.location)})` : '',
      `Defined in ${relativeLocation(server.location)}`,
    ]
      .filter(Boolean)
      .join('\n');
    return item;
  }
}

/** `switchboard registry add` (CLI or editor) writes project installs to this one file. */
function installedFromRegistry(server: ServerEntry): boolean {
  return server.location.file.replace(/\\/g, '/').endsWith('.mcp/servers/registry.json');
}

function healthText(health: ServerHealth): string {
  switch (health.status) {
    case 'healthy':
      return `healthy ${Math.round(health.latencyMs)} ms, ${health.toolCount} tools`;
    case 'failing':
      return 'failing';
    case 'optional-off':
      return 'optional, off';
    case 'disabled':
      return health.reason;
    case 'unchecked':
      return 'not checked';
  }
}

function healthIcon(health: ServerHealth): vscode.ThemeIcon {
  switch (health.status) {
    case 'healthy':
      return new vscode.ThemeIcon('pass-filled', new vscode.ThemeColor('testing.iconPassed'));
    case 'failing':
      return new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'));
    case 'optional-off':
      return new vscode.ThemeIcon('circle-outline', new vscode.ThemeColor('disabledForeground'));
    case 'disabled':
      return new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('disabledForeground'));
    case 'unchecked':
      return new vscode.ThemeIcon('server');
  }
}
