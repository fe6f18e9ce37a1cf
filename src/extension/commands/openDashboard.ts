/**
 * "Switchboard: Open Dashboard" (also the Quota view's title button and the status-bar item). The panel's code
 * is loaded on first use, so activation pays nothing for it.
 */
import * as vscode from 'vscode';
import type { ClientFor } from '../delegation/tools';
import { describeError } from '../log';
import { pickFolder } from './common';

export const OPEN_DASHBOARD_COMMAND = 'switchboard.openDashboard';

export function registerOpenDashboard(extensionUri: vscode.Uri, clientFor: ClientFor, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand(OPEN_DASHBOARD_COMMAND, async (folderArg?: unknown) => {
    const folder = await pickFolder(folderArg && typeof folderArg === 'object' && 'uri' in folderArg ? (folderArg as vscode.WorkspaceFolder) : undefined);
    if (!folder) {
      void vscode.window.showInformationMessage('Switchboard: open a folder to see its dashboard.');
      return undefined;
    }
    try {
      const { DashboardPanel } = await import('../dashboard/panel');
      return DashboardPanel.show(extensionUri, folder, clientFor, log);
    } catch (error) {
      log.error(`Cannot open the dashboard: ${describeError(error)}`);
      void vscode.window.showErrorMessage(`Switchboard: cannot open the dashboard: ${describeError(error)}`);
      return undefined;
    }
  });
}
