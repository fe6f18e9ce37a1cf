/**
 * Every command the extension contributes is registered here, once, at activation: the views' own (refresh,
 * show log, open definition), delegation with diff preview, apply / discard / cancel, restore, install for Claude
 * Code, API keys, sidecar restart and server actions. Registering is cheap (no sidecar, no file access); each
 * command reaches the sidecar on first use.
 */
import * as vscode from 'vscode';
import type { SidecarSource } from '../data/sidecarSource';
import type { SourceLocation } from '../data/source';
import { DelegationService } from '../delegation/service';
import type { ClientFor } from '../delegation/tools';
import { Disposable } from '../disposable';
import type { KeyStore } from '../keys/keyStore';
import { describeError } from '../log';
import type { SidecarManager } from '../sidecarClient/manager';
import { OPEN_DEFINITION_COMMAND, openDefinition } from '../views/common';
import type { WorkspaceModel } from '../workspaceModel';
import { registerApplyProposal } from './applyProposal';
import { registerCancelDelegation } from './cancelDelegation';
import { registerCheckServerHealth } from './checkServerHealth';
import { registerDirectCommands } from './delegateDirect';
import { delegateTask, DELEGATE_TASK_COMMAND } from './delegateTask';
import { registerDiscardProposal } from './discardProposal';
import { registerEnableServer } from './enableServer';
import { registerInstallForClaudeCode } from './installForClaudeCode';
import { registerOpenDashboard } from './openDashboard';
import { registerRestartSidecar } from './restartSidecar';
import { registerRestoreBackup } from './restoreBackup';
import { registerSearchRegistry } from './searchRegistry';
import { registerSetApiKey } from './setApiKey';

export const REFRESH_COMMAND = 'switchboard.refresh';
export const SHOW_LOG_COMMAND = 'switchboard.showLog';

export interface CommandDeps {
  log: vscode.LogOutputChannel;
  /** The folder's sidecar client (started on first call). */
  clientFor: ClientFor;
  /** Absolute path of the bundled dist/sidecar.js. */
  sidecarPath: string;
  isTrusted(): boolean;
  /** Where the registry install keeps the secrets it asks for. */
  secrets?: vscode.SecretStorage;
  keys: KeyStore;
  sidecars: SidecarManager;
  source: SidecarSource;
  model: WorkspaceModel;
  /** Reloads the views. */
  refresh(): void;
  /** The extension's folder (the dashboard's bundle is in its dist/). */
  extensionUri: vscode.Uri;
}

export class SwitchboardCommands extends Disposable {
  readonly delegation: DelegationService;

  constructor(deps: CommandDeps) {
    super();
    const { log } = deps;
    this._register(vscode.commands.registerCommand(REFRESH_COMMAND, () => deps.refresh()));
    this._register(vscode.commands.registerCommand(SHOW_LOG_COMMAND, () => log.show(true)));
    this._register(
      vscode.commands.registerCommand(OPEN_DEFINITION_COMMAND, async (location: SourceLocation) => {
        try {
          await openDefinition(location);
        } catch (error) {
          log.error(`Cannot open ${location.file}:${location.line}: ${describeError(error)}`);
          void vscode.window.showErrorMessage(`Switchboard: cannot open ${vscode.workspace.asRelativePath(location.file)}: ${describeError(error)}`);
        }
      }),
    );

    this.delegation = this._register(new DelegationService(deps));
    this._register(vscode.commands.registerCommand(DELEGATE_TASK_COMMAND, (arg?: unknown) => delegateTask(this.delegation, deps.clientFor, arg)));
    for (const command of registerDirectCommands(this.delegation)) this._register(command);
    this._register(registerApplyProposal(this.delegation));
    this._register(registerDiscardProposal(this.delegation));
    this._register(registerCancelDelegation(this.delegation));
    this._register(registerRestoreBackup(deps.clientFor, log));
    this._register(registerInstallForClaudeCode(deps.sidecarPath, log));
    this._register(registerOpenDashboard(deps.extensionUri, deps.clientFor, log));

    this._register(registerSetApiKey(deps.keys, log));
    this._register(registerRestartSidecar(deps.sidecars, log));
    this._register(registerEnableServer(log));
    for (const d of registerCheckServerHealth(deps.source, deps.model, log)) this._register(d);
    if (deps.secrets) this._register(registerSearchRegistry({ clientFor: deps.clientFor, sidecarPath: deps.sidecarPath, log, secrets: deps.secrets }));
  }
}
