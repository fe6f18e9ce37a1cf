import * as vscode from 'vscode';
import type { Diagnostic } from '../../core/diagnostics';
import { Disposable } from '../disposable';
import type { Snapshot } from '../data/source';
import type { FolderState, WorkspaceModel } from '../workspaceModel';
import { diagnosticItem, folderItem, groupByLayer, layerItem, problemsGroupItem } from './common';

export type CascadeNode<T> =
  | { kind: 'folder'; state: FolderState }
  | { kind: 'layer'; state: FolderState; layer: string; entries: T[] }
  | { kind: 'entry'; state: FolderState; entry: T }
  | { kind: 'problems'; state: FolderState; diagnostics: Diagnostic[] }
  | { kind: 'problem'; state: FolderState; diagnostic: Diagnostic };

/**
 * Shared shape of the Agents and MCP Servers trees: (folder when multi-root) → layer → entries, plus a
 * Problems group for files that failed to load. An empty tree returns no rows so the welcome content shows.
 */
export abstract class CascadeTreeProvider<T extends { layer: string }> extends Disposable implements vscode.TreeDataProvider<CascadeNode<T>> {
  private readonly changed = this._register(new vscode.EventEmitter<CascadeNode<T> | undefined>());
  readonly onDidChangeTreeData = this.changed.event;

  constructor(
    protected readonly viewId: string,
    protected readonly model: WorkspaceModel,
  ) {
    super();
    this._register(model.onDidChange(() => this.changed.fire(undefined)));
  }

  protected abstract load(state: FolderState): Promise<Snapshot<T>>;
  protected abstract entryItem(entry: T, idPrefix: string): vscode.TreeItem;

  refresh(): void {
    this.changed.fire(undefined);
  }

  async getChildren(node?: CascadeNode<T>): Promise<CascadeNode<T>[]> {
    if (!node) return this.roots();
    switch (node.kind) {
      case 'folder':
        return this.folderChildren(node.state);
      case 'layer':
        return node.entries.map((entry) => ({ kind: 'entry', state: node.state, entry }));
      case 'problems':
        return node.diagnostics.map((diagnostic) => ({ kind: 'problem', state: node.state, diagnostic }));
      default:
        return [];
    }
  }

  getTreeItem(node: CascadeNode<T>): vscode.TreeItem {
    const prefix = `${this.viewId}|${node.state.folder.uri.toString()}`;
    switch (node.kind) {
      case 'folder':
        return folderItem(node.state.folder, prefix);
      case 'layer':
        return layerItem(node.layer, node.entries.length, prefix);
      case 'entry':
        return this.entryItem(node.entry, prefix);
      case 'problems':
        return problemsGroupItem(node.diagnostics.length, prefix);
      case 'problem':
        return diagnosticItem(node.diagnostic, prefix);
    }
  }

  private async roots(): Promise<CascadeNode<T>[]> {
    const folders = this.model.folders;
    if (folders.length === 1) return this.folderChildren(folders[0]);
    // Multi-root: one node per folder that has something to show, so an all-empty workspace gets the welcome.
    const withContent = await Promise.all(
      folders.map(async (state) => {
        const snapshot = await this.load(state);
        return snapshot.items.length + snapshot.diagnostics.length > 0 ? state : undefined;
      }),
    );
    return withContent.filter((s): s is FolderState => s !== undefined).map((state) => ({ kind: 'folder', state }));
  }

  private async folderChildren(state: FolderState): Promise<CascadeNode<T>[]> {
    const snapshot = await this.load(state);
    const nodes: CascadeNode<T>[] = groupByLayer(snapshot.items, snapshot.layers).map((group) => ({
      kind: 'layer',
      state,
      layer: group.layer,
      entries: group.items,
    }));
    if (snapshot.diagnostics.length > 0) nodes.push({ kind: 'problems', state, diagnostics: snapshot.diagnostics });
    return nodes;
  }
}
