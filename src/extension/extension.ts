import * as vscode from 'vscode';
import type { SwitchboardApi } from './api';
import { CoreCascadeSource } from './data/cascadeSource';
import { Disposable } from './disposable';
import { createLog } from './log';
import { RESTRICTED_MESSAGES, TrustState } from './trust';
import { AGENTS_VIEW_ID, AgentsTreeProvider } from './views/agentsTree';
import { QUOTA_VIEW_ID, QuotaTreeProvider } from './views/quotaTree';
import { SERVERS_VIEW_ID, ServersTreeProvider } from './views/serversTree';
import { WorkspaceModel } from './workspaceModel';
import { SidecarSource } from './data/sidecarSource';
import { KeyStore } from './keys/keyStore';
import { SidecarManager } from './sidecarClient/manager';
import { registerSidecarFeatures } from './sidecarClient/features';
import { SwitchboardCommands } from './commands';

export const ACTIVATION_GOAL_MS = 30;

/** Everything the extension registers hangs off this one object, so deactivate() releases it all. */
class SwitchboardExtension extends Disposable {
  readonly log = this._register(createLog());
  readonly trust = this._register(new TrustState());
  readonly model: WorkspaceModel;
  readonly servers: ServersTreeProvider;
  readonly agents: AgentsTreeProvider;
  readonly quota: QuotaTreeProvider;
  readonly views: SwitchboardApi['views'];
  readonly keys: KeyStore;
  /** One sidecar per workspace folder, started on first need (never on the activation path). */
  readonly sidecars: SidecarManager;
  readonly source: SidecarSource;

  constructor(readonly context: vscode.ExtensionContext) {
    super();
    this.keys = this._register(new KeyStore(context.secrets, context.globalState));
    this.sidecars = this._register(new SidecarManager({ extensionPath: context.extensionPath, log: this.log, keys: this.keys, trust: this.trust }));
    // Restricted Mode still lists agents and servers from their files (in-process, nothing runs).
    const source = (this.source = new SidecarSource(this.sidecars, this.trust, new CoreCascadeSource(), context.extensionPath));
    this._register(source);
    this.model = this._register(new WorkspaceModel(source, this.log));
    this.servers = this._register(new ServersTreeProvider(this.model));
    this.agents = this._register(new AgentsTreeProvider(this.model));
    this.quota = this._register(new QuotaTreeProvider(this.model, () => !this.trust.isTrusted));
    this.views = {
      servers: this._register(vscode.window.createTreeView(SERVERS_VIEW_ID, { treeDataProvider: this.servers, showCollapseAll: true })),
      agents: this._register(vscode.window.createTreeView(AGENTS_VIEW_ID, { treeDataProvider: this.agents, showCollapseAll: true })),
      quota: this._register(vscode.window.createTreeView(QUOTA_VIEW_ID, { treeDataProvider: this.quota })),
    } as SwitchboardApi['views'];
    this.showTrustState();
    this._register(
      this.trust.onDidChange(() => {
        this.showTrustState();
        this.quota.refresh();
      }),
    );
  }

  refresh(): void {
    this.log.info('Refreshing views');
    this.model.refresh();
  }

  private showTrustState(): void {
    // TreeView.message sits above the rows, so the reason shows whether or not the tree has items.
    const restricted = !this.trust.isTrusted;
    this.views.servers.message = restricted ? RESTRICTED_MESSAGES.servers : undefined;
    this.views.agents.message = restricted ? RESTRICTED_MESSAGES.agents : undefined;
    if (restricted) this.log.info('Restricted Mode: workspace not trusted; no sidecar, no server checks, no delegation');
  }
}

let current: SwitchboardExtension | undefined;
/** Built on the extension's parts, so released before them. */
let currentFeatures: vscode.Disposable | undefined;
let currentCommands: vscode.Disposable | undefined;

export function activate(context: vscode.ExtensionContext): SwitchboardApi {
  const started = performance.now();
  const extension = new SwitchboardExtension(context);
  current = extension;
  context.subscriptions.push(extension);
  const sidecarFeatures = registerSidecarFeatures(extension);
  currentFeatures = sidecarFeatures;
  context.subscriptions.push(sidecarFeatures);
  const commands = new SwitchboardCommands({
    log: extension.log,
    clientFor: (folder) => extension.sidecars.client(folder.uri.fsPath),
    sidecarPath: extension.sidecars.sidecarPath,
    isTrusted: () => extension.trust.isTrusted,
    keys: extension.keys,
    sidecars: extension.sidecars,
    source: extension.source,
    model: extension.model,
    refresh: () => extension.refresh(),
    secrets: context.secrets,
    extensionUri: context.extensionUri,
  });
  currentCommands = commands;
  context.subscriptions.push(commands);
  const activationMs = performance.now() - started;

  const folders = vscode.workspace.workspaceFolders?.length ?? 0;
  const line = `Activated in ${activationMs.toFixed(1)} ms (${folders} workspace folder${folders === 1 ? '' : 's'}, VS Code ${vscode.version})`;
  if (activationMs > ACTIVATION_GOAL_MS) extension.log.warn(`${line}; goal is ≤ ${ACTIVATION_GOAL_MS} ms`);
  else extension.log.info(line);

  return {
    activationMs,
    trees: { servers: extension.servers, agents: extension.agents, quota: extension.quota },
    views: extension.views,
    model: extension.model,
    source: extension.source,
    sidecars: extension.sidecars,
    keys: extension.keys,
    sidecarFeatures,
    get restricted() {
      return !extension.trust.isTrusted;
    },
    get isDisposed() {
      return extension.isDisposed;
    },
  };
}

export function deactivate(): void {
  currentCommands?.dispose();
  currentCommands = undefined;
  currentFeatures?.dispose();
  currentFeatures = undefined;
  current?.dispose();
  current = undefined;
}
