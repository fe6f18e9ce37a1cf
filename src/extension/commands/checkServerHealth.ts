import * as vscode from 'vscode';
import { describeError } from '../log';
import type { ServerEntry } from '../data/source';
import type { SidecarSource } from '../data/sidecarSource';
import type { CascadeNode } from '../views/cascadeTree';
import { SERVERS_VIEW_ID } from '../views/serversTree';
import type { WorkspaceModel } from '../workspaceModel';

export const CHECK_SERVER_HEALTH_COMMAND = 'switchboard.checkServerHealth';
export const CHECK_ALL_SERVERS_COMMAND = 'switchboard.checkAllServers';

/**
 * Health checks run in the sidecar (`list_servers {check: true}`): it starts each enabled server once, lists
 * its tools and stops it. The row then shows healthy / failing with latency and tool count.
 */
export function registerCheckServerHealth(source: SidecarSource, model: WorkspaceModel, log: vscode.LogOutputChannel): vscode.Disposable[] {
  const check = async (folders: Array<{ path: string; invalidate(): void }>, only?: string) => {
    await vscode.window.withProgress({ location: { viewId: SERVERS_VIEW_ID }, title: only ? `Checking ${only}` : 'Checking MCP servers' }, async () => {
      for (const folder of folders) {
        try {
          const snapshot = await source.checkServers(folder.path, only);
          const failing = snapshot.items.filter((s) => s.health.status === 'failing' && (!only || s.name === only));
          log.info(`Checked ${only ?? 'all servers'} in ${vscode.workspace.asRelativePath(folder.path)}: ${failing.length} failing`);
        } catch (error) {
          log.error(`Health check failed: ${describeError(error)}`);
          void vscode.window.showErrorMessage(`Switchboard: health check failed: ${describeError(error)}`);
        }
        folder.invalidate();
      }
    });
  };
  return [
    vscode.commands.registerCommand(CHECK_SERVER_HEALTH_COMMAND, async (node?: CascadeNode<ServerEntry>) => {
      if (node?.kind === 'entry') return check([node.state], node.entry.name);
      return check(model.folders);
    }),
    vscode.commands.registerCommand(CHECK_ALL_SERVERS_COMMAND, () => check(model.folders)),
  ];
}
