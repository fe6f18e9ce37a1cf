/** "Switchboard: Cancel Delegation" — the palette's way to stop delegations whose notification is out of sight. */
import * as vscode from 'vscode';
import type { DelegationService } from '../delegation/service';

export const CANCEL_DELEGATION_COMMAND = 'switchboard.cancelDelegation';

export function registerCancelDelegation(service: DelegationService): vscode.Disposable {
  return vscode.commands.registerCommand(CANCEL_DELEGATION_COMMAND, () => service.cancelAll());
}
