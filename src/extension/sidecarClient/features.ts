import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { switchboardHome } from '../../core/paths';
import { CONTEXT_FILE, ContextSync } from '../context-sync/contextSync';
import type { SidecarSource } from '../data/sidecarSource';
import { Disposable, toDisposable } from '../disposable';
import { KeyChannelHost } from '../keys/channelHost';
import type { KeyStore } from '../keys/keyStore';
import { describeError } from '../log';
import { SidecarStatusBar } from '../status/statusBar';
import type { TrustState } from '../trust';
import type { WorkspaceModel } from '../workspaceModel';
import type { SidecarManager } from './manager';
import { registerMcpServerDefinitions, type McpRegistration } from './mcpProvider';

/** What the features need from the extension (SwitchboardExtension provides it). */
export interface SidecarHost {
  readonly context: vscode.ExtensionContext;
  readonly log: vscode.LogOutputChannel;
  readonly trust: TrustState;
  readonly model: WorkspaceModel;
  readonly sidecars: SidecarManager;
  readonly keys: KeyStore;
  readonly source: SidecarSource;
  readonly quota: { refresh(): void };
}

const LEDGER_DEBOUNCE_MS = 300;

/**
 * Everything built on the sidecar besides the views and commands: status bar, key channel,
 * PROJECT_CONTEXT.md sync, the ledger watcher and VS Code's MCP server definitions. Registering is cheap; the
 * sidecar itself starts right after activation returns (never on the activation path).
 */
export class SidecarFeatures extends Disposable {
  readonly statusBar: SidecarStatusBar;
  readonly contextSync: ContextSync;
  readonly keyChannel: KeyChannelHost;
  private mcp?: McpRegistration;
  private ledgerTimer?: ReturnType<typeof setTimeout>;
  /** The extension's log folder (the Switchboard channel's file is near it); tests read it to check for keys. */
  readonly logUri: vscode.Uri;
  /** Settles when the background start after activation is done (whether or not a sidecar could start). */
  readonly whenStarted: Promise<void>;

  constructor(private readonly host: SidecarHost) {
    super();
    const { log, sidecars, trust, model, keys } = host;
    this.logUri = host.context.logUri;
    const primaryFolder = () => (vscode.workspace.workspaceFolders ?? []).find((f) => f.uri.scheme === 'file')?.uri.fsPath;
    this.statusBar = this._register(new SidecarStatusBar(sidecars, trust, primaryFolder, log));
    this.contextSync = this._register(new ContextSync(sidecars, trust, log));
    this.keyChannel = this._register(new KeyChannelHost(keys, log));
    this._register(toDisposable(() => clearTimeout(this.ledgerTimer)));

    // Agents, servers or the audit log (delegations, writes) changed: views reloaded, context may be stale.
    this._register(
      model.onDidChange(() => {
        this.contextSync.schedule();
        this.statusBar.refreshSpend();
      }),
    );
    // A (re)started sidecar may see other keys or state: the Quota view asks again.
    this._register(
      sidecars.onDidChangeState((change) => {
        if (change.state === 'ready' && change.previous !== 'ready') host.quota.refresh();
      }),
    );
    this._register(
      trust.onDidChange(() => {
        model.refresh();
        void this.startPrimary();
      }),
    );
    this.whenStarted = new Promise<void>((resolve) => setTimeout(() => void this.startInBackground().finally(resolve), 0));
  }

  get mcpProviderRegistered(): boolean {
    return this.mcp?.registered ?? false;
  }

  private async startInBackground(): Promise<void> {
    if (this.isDisposed) return;
    const { log, sidecars, trust } = this.host;
    // Each step on its own: one failing (an API that throws, a folder we cannot watch) must not stop the rest.
    const step = async (what: string, run: () => unknown) => {
      try {
        await run();
      } catch (error) {
        log.warn(`${what}: ${describeError(error)}`);
      }
    };
    await step('MCP server definitions', () => (this.mcp = this._register(registerMcpServerDefinitions({ sidecarPath: sidecars.sidecarPath, trust, version: String(this.host.context.extension.packageJSON.version ?? ''), log }))));
    await step('Ledger watcher', () => this.watchLedger());
    await step('Key channel', () => this.keyChannel.startIfKeys());
    await this.startPrimary();
    // An existing PROJECT_CONTEXT.md may have gone stale while the editor was closed.
    const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
    if (trust.isTrusted && folder && fs.existsSync(path.join(folder.uri.fsPath, CONTEXT_FILE))) this.contextSync.schedule(folder.uri.fsPath);
  }

  /** Starts the first folder's sidecar (others start when a view or command needs them). */
  private async startPrimary(): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
    if (!folder || !this.host.trust.isTrusted || this.isDisposed) return;
    try {
      const client = await this.host.sidecars.started(folder.uri.fsPath);
      this.host.log.info(`Sidecar for ${folder.name} started in ${client.startMs?.toFixed(0) ?? '?'} ms`);
    } catch (error) {
      this.host.log.error(`Sidecar for ${folder.name} did not start: ${describeError(error)}`);
    }
  }

  /** The ledger is user state outside the workspace: quota and spend change when any process records a call. */
  private watchLedger(): void {
    const home = switchboardHome();
    try {
      fs.mkdirSync(home, { recursive: true });
    } catch (error) {
      this.host.log.warn(`Cannot create ${home}: ${describeError(error)}; quota will not refresh by itself`);
      return;
    }
    const watcher = this._register(vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(home), 'ledger.sqlite*')));
    const onChange = () => {
      clearTimeout(this.ledgerTimer);
      this.ledgerTimer = setTimeout(() => {
        this.host.log.debug('Ledger changed: refreshing quota');
        this.host.quota.refresh();
        this.statusBar.refreshSpend(0);
        this.contextSync.schedule();
      }, LEDGER_DEBOUNCE_MS);
    };
    this._register(watcher.onDidChange(onChange));
    this._register(watcher.onDidCreate(onChange));
  }
}

export function registerSidecarFeatures(host: SidecarHost): SidecarFeatures {
  return new SidecarFeatures(host);
}
