import * as vscode from 'vscode';
import { Disposable } from './disposable';

export const RESTRICTED_CONTEXT_KEY = 'switchboard.restricted';

/** What each list view says above its rows in an untrusted workspace (Quota says it in its welcome content). */
export const RESTRICTED_MESSAGES = {
  servers: 'Restricted Mode: servers are listed from their files but not started or checked, and no key leaves the editor for this folder, until you trust this workspace (Workspaces: Manage Workspace Trust).',
  agents: 'Restricted Mode: agents are listed, but Switchboard delegates nothing until you trust this workspace (Workspaces: Manage Workspace Trust). Even then, the project cannot set base URLs, key variables, paid use or files outside it.',
} as const;

/**
 * Workspace trust as Switchboard sees it. Untrusted folders can carry server definitions that run commands,
 * so in that case nothing is spawned; views still list what the files declare and say why the rest is off.
 */
export class TrustState extends Disposable {
  private readonly changed = this._register(new vscode.EventEmitter<boolean>());
  /** Fires once, with true, when the user grants trust (trust is never revoked without a reload). */
  readonly onDidChange = this.changed.event;

  constructor() {
    super();
    void this.publish();
    this._register(
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        void this.publish();
        this.changed.fire(true);
      }),
    );
  }

  get isTrusted(): boolean {
    return vscode.workspace.isTrusted;
  }

  private publish(): Thenable<unknown> {
    return vscode.commands.executeCommand('setContext', RESTRICTED_CONTEXT_KEY, !vscode.workspace.isTrusted);
  }
}
