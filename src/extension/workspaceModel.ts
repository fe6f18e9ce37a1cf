import * as vscode from 'vscode';
import { Disposable } from './disposable';
import { describeError } from './log';
import type { AgentEntry, ServerEntry, Snapshot, SwitchboardDataSource } from './data/source';

const WATCH_DEBOUNCE_MS = 300;

function failedSnapshot<T>(file: string, what: string, error: unknown): Snapshot<T> {
  return {
    items: [],
    layers: [],
    diagnostics: [{ file, line: 1, column: 1, severity: 'error', message: `Could not load ${what}: ${describeError(error)}` }],
  };
}

/**
 * One workspace folder's view of the cascades (multi-root: each folder has its own agents and servers).
 * Loads on first demand, caches, and drops the cache when a watched file changes (debounced).
 */
export class FolderState extends Disposable {
  private agentsLoad?: Promise<Snapshot<AgentEntry>>;
  private serversLoad?: Promise<Snapshot<ServerEntry>>;
  private watching = false;
  private debounceTimer?: ReturnType<typeof setTimeout>;
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;

  constructor(
    readonly folder: vscode.WorkspaceFolder,
    private readonly source: SwitchboardDataSource,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this._register({ dispose: () => clearTimeout(this.debounceTimer) });
  }

  get path(): string {
    return this.folder.uri.fsPath;
  }

  agents(): Promise<Snapshot<AgentEntry>> {
    this.startWatching();
    this.agentsLoad ??= this.timed('agents', () => this.source.agents(this.path));
    return this.agentsLoad;
  }

  servers(): Promise<Snapshot<ServerEntry>> {
    this.startWatching();
    this.serversLoad ??= this.timed('servers', () => this.source.servers(this.path));
    return this.serversLoad;
  }

  invalidate(): void {
    this.agentsLoad = undefined;
    this.serversLoad = undefined;
    this.changed.fire();
  }

  private async timed<T>(what: string, load: () => Promise<Snapshot<T>>): Promise<Snapshot<T>> {
    const started = performance.now();
    try {
      const snapshot = await load();
      this.log.debug(`${this.folder.name}: loaded ${snapshot.items.length} ${what} in ${(performance.now() - started).toFixed(1)} ms`);
      for (const d of snapshot.diagnostics) this.log.warn(`${d.file}:${d.line}:${d.column}: ${d.message}`);
      return snapshot;
    } catch (error) {
      this.log.error(`${this.folder.name}: loading ${what} failed: ${describeError(error)}`);
      return failedSnapshot<T>(this.path, what, error);
    }
  }

  // Watchers start with the first load, not at activation, to keep activation cheap.
  private startWatching(): void {
    if (this.watching || this.isDisposed) return;
    this.watching = true;
    for (const glob of this.source.watchedGlobs) {
      const watcher = this._register(vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(this.folder, glob)));
      const onEvent = (uri: vscode.Uri) => this.scheduleInvalidate(uri);
      this._register(watcher.onDidChange(onEvent));
      this._register(watcher.onDidCreate(onEvent));
      this._register(watcher.onDidDelete(onEvent));
    }
  }

  private scheduleInvalidate(uri: vscode.Uri): void {
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.log.debug(`${this.folder.name}: ${vscode.workspace.asRelativePath(uri)} changed, reloading`);
      this.invalidate();
    }, WATCH_DEBOUNCE_MS);
  }
}

/** Every open workspace folder's state, kept in step with folders being added and removed. */
export class WorkspaceModel extends Disposable {
  private readonly states = new Map<string, FolderState>();
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  /** Fires when any folder's data changed, a folder came or went, or a refresh was asked for. */
  readonly onDidChange = this.changed.event;

  constructor(
    readonly source: SwitchboardDataSource,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.sync();
    this._register(vscode.workspace.onDidChangeWorkspaceFolders(() => this.sync()));
    this._register({ dispose: () => this.dropAll() });
  }

  /** In the workspace's folder order. Folders that are not on disk (virtual file systems) are left out. */
  get folders(): FolderState[] {
    return (vscode.workspace.workspaceFolders ?? [])
      .map((f) => this.states.get(f.uri.toString()))
      .filter((s): s is FolderState => s !== undefined);
  }

  refresh(): void {
    for (const state of this.states.values()) state.invalidate();
    this.changed.fire();
  }

  private sync(): void {
    const open = new Map((vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => [f.uri.toString(), f]));
    for (const [key, state] of this.states) {
      if (!open.has(key)) {
        state.dispose();
        this.states.delete(key);
      }
    }
    for (const [key, folder] of open) {
      if (this.states.has(key)) continue;
      const state = new FolderState(folder, this.source, this.log);
      state.onDidChange(() => this.changed.fire());
      this.states.set(key, state);
    }
    this.changed.fire();
  }

  private dropAll(): void {
    for (const state of this.states.values()) state.dispose();
    this.states.clear();
  }
}
