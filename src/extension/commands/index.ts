/**
 * Engineer B's commands: delegation with diff preview, apply / discard, restore, install for Claude Code.
 * Registering is cheap (no sidecar, no file access); each command reaches the sidecar on first use.
 */
import * as vscode from 'vscode';
import { DelegationService } from '../delegation/service';
import type { ClientFor } from '../delegation/tools';
import { Disposable } from '../disposable';
import { registerApplyProposal } from './applyProposal';
import { registerCancelDelegation } from './cancelDelegation';
import { registerDirectCommands } from './delegateDirect';
import { delegateTask, DELEGATE_TASK_COMMAND } from './delegateTask';
import { registerDiscardProposal } from './discardProposal';
import { registerInstallForClaudeCode } from './installForClaudeCode';
import { registerRestoreBackup } from './restoreBackup';
import { registerSearchRegistry } from './searchRegistry';

export interface CommandDeps {
  log: vscode.LogOutputChannel;
  /** The folder's sidecar client (started on first call). */
  clientFor: ClientFor;
  /** Absolute path of the bundled dist/sidecar.js. */
  sidecarPath: string;
  isTrusted(): boolean;
  /** Where the registry install keeps the secrets it asks for. */
  secrets?: vscode.SecretStorage;
}

export class SwitchboardCommands extends Disposable {
  readonly delegation: DelegationService;

  constructor(deps: CommandDeps) {
    super();
    this.delegation = this._register(new DelegationService(deps));
    this._register(vscode.commands.registerCommand(DELEGATE_TASK_COMMAND, (arg?: unknown) => delegateTask(this.delegation, deps.clientFor, arg)));
    for (const command of registerDirectCommands(this.delegation)) this._register(command);
    this._register(registerApplyProposal(this.delegation));
    this._register(registerDiscardProposal(this.delegation));
    this._register(registerCancelDelegation(this.delegation));
    this._register(registerRestoreBackup(deps.clientFor, deps.log));
    this._register(registerInstallForClaudeCode(deps.sidecarPath, deps.log));
    if (deps.secrets) this._register(registerSearchRegistry({ clientFor: deps.clientFor, sidecarPath: deps.sidecarPath, log: deps.log, secrets: deps.secrets }));
  }
}
