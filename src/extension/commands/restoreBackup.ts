/**
 * "Switchboard: Restore Backup…": the backups Switchboard made before its writes (list_backups, newest first)
 * → restore_backup. A file edited since Switchboard wrote it is a conflict; the user may force the restore
 * (the sidecar backs the current content up first, so even that is undoable).
 */
import * as vscode from 'vscode';
import { toolErrorMessage, type ClientFor, type ToolClient } from '../delegation/tools';
import { age, pickFolder } from './common';
import type { BackupRow, RestoreBackupOutput as RestoreResult } from '../../sidecar/protocol';

export const RESTORE_BACKUP_COMMAND = 'switchboard.restoreBackup';
const CONFLICT = /changed after Switchboard last wrote it/;

export interface RestoreArgs {
  folder?: vscode.WorkspaceFolder;
  backupId?: string;
  /** Answer for a conflict without asking (tests); undefined asks. */
  force?: boolean;
}

export type RestoreOutcome = { status: 'restored'; result: RestoreResult } | { status: 'conflict' } | { status: 'failed'; message: string };

export async function restoreBackup(clientFor: ClientFor, log: vscode.LogOutputChannel, arg?: unknown): Promise<RestoreOutcome | undefined> {
  const args: RestoreArgs = arg && typeof arg === 'object' && !(arg instanceof vscode.Uri) ? (arg as RestoreArgs) : {};
  const folder = await pickFolder(args.folder);
  if (!folder) return undefined;
  let client: ToolClient;
  try {
    // Throws in Restricted Mode (no sidecar runs in an untrusted workspace) with a message that says so.
    client = await clientFor(folder);
  } catch (error) {
    return fail(log, toolErrorMessage(error));
  }

  let backupId = args.backupId;
  if (!backupId) {
    let backups: BackupRow[];
    try {
      backups = (await client.callTool('list_backups', { limit: 200 })).backups;
    } catch (error) {
      return fail(log, `could not list backups: ${toolErrorMessage(error)}`);
    }
    if (backups.length === 0) {
      void vscode.window.showInformationMessage(`Switchboard: no backups in ${folder.name} yet; they are made before every write Switchboard does.`);
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      backups.map((b) => ({
        label: `$(file) ${b.path}`,
        description: `${age(b.time)} · ${b.actor}`,
        detail: !b.restorable ? 'content not kept (cannot be restored)' : b.existed ? `restores the ${b.bytes.toLocaleString('en-US')}-byte version from before that write · ${b.id}` : `the file did not exist before: restoring deletes it · ${b.id}`,
        backup: b,
      })),
      { title: `Switchboard: Restore Backup (${folder.name})`, placeHolder: 'Newest first. Pick the write to undo.', matchOnDescription: true, matchOnDetail: true },
    );
    if (!picked) return undefined;
    if (!picked.backup.restorable) return fail(log, `backup ${picked.backup.id} kept no content and cannot be restored`);
    backupId = picked.backup.id;
  }

  const restore = (force: boolean) => client.callTool('restore_backup', { backup_id: backupId, force });
  let result: RestoreResult;
  try {
    result = await restore(false);
  } catch (error) {
    const message = toolErrorMessage(error);
    if (!CONFLICT.test(message)) return fail(log, `restore failed: ${message}`);
    const force =
      args.force ??
      (await vscode.window.showWarningMessage('Switchboard: the file was edited after Switchboard wrote it.', { modal: true, detail: `${message}.` }, 'Force Restore')) === 'Force Restore';
    if (!force) return { status: 'conflict' };
    try {
      result = await restore(true);
    } catch (forced) {
      return fail(log, `restore failed: ${toolErrorMessage(forced)}`);
    }
  }
  const what = result.unchanged ? 'was already in that state' : result.deleted ? 'deleted (it did not exist before)' : 'restored';
  log.info(`Restored ${result.path} from backup ${result.restored_from}${result.forced ? ' (forced)' : ''}; undo with backup ${result.backup_id}`);
  void vscode.window.showInformationMessage(`Switchboard: ${result.path} ${what}${result.unchanged ? '' : `; undo with backup ${result.backup_id}`}.`);
  return { status: 'restored', result };
}

function fail(log: vscode.LogOutputChannel, message: string): RestoreOutcome {
  log.error(message);
  void vscode.window.showErrorMessage(`Switchboard: ${message}`);
  return { status: 'failed', message };
}

export function registerRestoreBackup(clientFor: ClientFor, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand(RESTORE_BACKUP_COMMAND, (arg?: unknown) => restoreBackup(clientFor, log, arg));
}
