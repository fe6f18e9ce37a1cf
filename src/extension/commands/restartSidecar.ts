import * as vscode from 'vscode';
import { describeError } from '../log';
import type { SidecarManager } from '../sidecarClient/manager';

export const RESTART_SIDECAR_COMMAND = 'switchboard.restartSidecar';

/** Restarts every folder's sidecar (also the way out of the 'failed' state after repeated crashes). */
export function registerRestartSidecar(sidecars: SidecarManager, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand(RESTART_SIDECAR_COMMAND, async () => {
    const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file');
    try {
      for (const folder of folders) {
        const client = await sidecars.client(folder.uri.fsPath);
        await client.restart('asked by the user');
      }
    } catch (error) {
      log.error(`Restart failed: ${describeError(error)}`);
      void vscode.window.showErrorMessage(`Switchboard: ${describeError(error)}`);
    }
  });
}
