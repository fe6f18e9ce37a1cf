import path from 'node:path';
import * as vscode from 'vscode';
import { Disposable, toDisposable } from '../disposable';
import { describeError } from '../log';
import type { KeyStore } from '../keys/keyStore';
import type { TrustState } from '../trust';
import type { CallToolOptions, SidecarClient, SidecarStateChange } from './client';
import type { InputOf, OutputOf, ToolName } from '../../sidecar/protocol';

export interface SidecarManagerOptions {
  /** The extension's install folder; the sidecar is `dist/sidecar.js` inside it. */
  extensionPath: string;
  log: vscode.LogOutputChannel;
  keys: KeyStore;
  trust: TrustState;
  /** Base environment for the sidecars (tests pass fake-provider URLs through the editor's own env). */
  env?: NodeJS.ProcessEnv;
}

export interface FolderSidecarChange extends SidecarStateChange {
  client: SidecarClient;
}

/** Raised instead of spawning anything in an untrusted workspace. */
export class RestrictedModeError extends Error {
  constructor() {
    super('Switchboard runs no sidecar in Restricted Mode; trust this workspace to use it');
    this.name = 'RestrictedModeError';
  }
}

/**
 * One SidecarClient per workspace folder (multi-root: one state per folder), created on first need.
 * The SDK-backed client module is loaded on first use, so activation does not pay for it.
 * Keys come from SecretStorage into each sidecar's environment; a key change restarts running sidecars.
 */
export class SidecarManager extends Disposable {
  private readonly clients = new Map<string, SidecarClient>();
  private clientModule?: Promise<typeof import('./client')>;
  private readonly changed = this._register(new vscode.EventEmitter<FolderSidecarChange>());
  /** Any folder's sidecar changed state. */
  readonly onDidChangeState = this.changed.event;

  constructor(private readonly options: SidecarManagerOptions) {
    super();
    this._register(vscode.workspace.onDidChangeWorkspaceFolders((e) => e.removed.forEach((f) => this.drop(f.uri.fsPath))));
    this._register(options.keys.onDidChange(() => void this.restartRunning('an API key changed')));
    this._register(toDisposable(() => this.clients.forEach((c) => c.dispose())));
  }

  get sidecarPath(): string {
    return path.join(this.options.extensionPath, 'dist', 'sidecar.js');
  }

  /** Clients created so far (folders whose sidecar was needed). */
  get all(): SidecarClient[] {
    return [...this.clients.values()];
  }

  existing(folder: string): SidecarClient | undefined {
    return this.clients.get(path.resolve(folder));
  }

  /** The folder's client, created (not yet started) on first call. Throws RestrictedModeError when untrusted. */
  async client(folder: string): Promise<SidecarClient> {
    if (!this.options.trust.isTrusted) throw new RestrictedModeError();
    const key = path.resolve(folder);
    const found = this.clients.get(key);
    if (found) return found;
    this.clientModule ??= import('./client');
    const { SidecarClient } = await this.clientModule;
    const again = this.clients.get(key);
    if (again) return again;
    if (this.isDisposed) throw new Error('Switchboard is shutting down');
    const client = new SidecarClient({
      folder: key,
      sidecarPath: this.sidecarPath,
      log: this.options.log,
      env: () => this.sidecarEnv(key),
    });
    client.onDidChangeState((change) => {
      this.options.log.debug(`[sidecar ${client.name}] ${change.previous} → ${change.state}`);
      this.changed.fire({ ...change, client });
    });
    this.clients.set(key, client);
    return client;
  }

  /** Starts the folder's sidecar (no-op when it runs) and returns it. */
  async started(folder: string): Promise<SidecarClient> {
    const client = await this.client(folder);
    await client.start();
    return client;
  }

  /** Calls a tool on the folder's sidecar, starting it if needed. */
  async callTool<N extends ToolName>(folder: string, name: N, args: InputOf<N> = {} as InputOf<N>, options?: CallToolOptions): Promise<OutputOf<N>> {
    return (await this.client(folder)).callTool(name, args, options);
  }

  async restartRunning(reason: string): Promise<void> {
    await Promise.all(
      this.all
        .filter((c) => c.state !== 'stopped')
        .map((c) => c.restart(reason).catch((error: unknown) => this.options.log.error(`[sidecar ${c.name}] restart failed: ${describeError(error)}`))),
    );
  }

  /**
   * The editor's environment plus the stored keys (the sidecar need not ask the key channel), and the folder as
   * trusted: sidecars start only when VS Code trusts the workspace, and SWITCHBOARD_TRUSTED_FOLDERS is how the
   * sidecar learns it (SPEC "Trust").
   */
  private async sidecarEnv(folder: string): Promise<NodeJS.ProcessEnv> {
    if (!this.options.trust.isTrusted) throw new RestrictedModeError();
    const keys = await this.options.keys.all();
    return { ...(this.options.env ?? process.env), ...keys, SWITCHBOARD_KEYS_FROM_EDITOR: '0', SWITCHBOARD_TRUSTED_FOLDERS: folder };
  }

  private drop(folder: string): void {
    const key = path.resolve(folder);
    this.clients.get(key)?.dispose();
    this.clients.delete(key);
  }
}
