import type * as vscode from 'vscode';
import type { SwitchboardDataSource } from './data/source';
import type { AgentsTreeProvider } from './views/agentsTree';
import type { QuotaTreeProvider } from './views/quotaTree';
import type { ServersTreeProvider } from './views/serversTree';
import type { WorkspaceModel } from './workspaceModel';
import type { KeyStore } from './keys/keyStore';
import type { SidecarManager } from './sidecarClient/manager';
import type { SidecarFeatures } from './sidecarClient/features';

/**
 * What activate() returns. The extension-host tests drive the real tree providers through it; other
 * extensions get nothing else from Switchboard.
 */
export interface SwitchboardApi {
  /** activate()'s own duration in milliseconds. */
  readonly activationMs: number;
  readonly trees: {
    readonly servers: ServersTreeProvider;
    readonly agents: AgentsTreeProvider;
    readonly quota: QuotaTreeProvider;
  };
  readonly views: {
    readonly servers: vscode.TreeView<unknown>;
    readonly agents: vscode.TreeView<unknown>;
    readonly quota: vscode.TreeView<unknown>;
  };
  readonly model: WorkspaceModel;
  readonly source: SwitchboardDataSource;
  /** One sidecar client per workspace folder (created and started on first need). */
  readonly sidecars: SidecarManager;
  readonly keys: KeyStore;
  /** Status bar, key channel, context sync, MCP definition provider (for tests: their state). */
  readonly sidecarFeatures: SidecarFeatures;
  readonly restricted: boolean;
  readonly isDisposed: boolean;
}
