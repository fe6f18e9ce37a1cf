import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import { describeError } from '../log';
import type { SidecarManager } from '../sidecarClient/manager';
import type { TrustState } from '../trust';

export const CONTEXT_FILE = 'PROJECT_CONTEXT.md';
const SETTING = 'switchboard.projectContext.keepInSync';
const DEBOUNCE_MS = 1_500;

export interface ContextSyncResult {
  folder: string;
  changed: boolean;
  sections?: string[];
}

/**
 * Keeps PROJECT_CONTEXT.md in step with agents, servers, quota and delegations: after any of them changes
 * (debounced), asks the folder's sidecar to regenerate it (`project_context {sync: true}`). The sidecar
 * writes only when the rendered bytes differ, with a backup, so an unchanged state never touches the file.
 */
export class ContextSync extends Disposable {
  private timer?: ReturnType<typeof setTimeout>;
  private readonly pending = new Set<string>();
  private running: Promise<void> = Promise.resolve();
  private readonly synced = this._register(new vscode.EventEmitter<ContextSyncResult>());
  /** After each regeneration attempt that reached the sidecar (for the log and tests). */
  readonly onDidSync = this.synced.event;

  constructor(
    private readonly sidecars: SidecarManager,
    private readonly trust: TrustState,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this._register({ dispose: () => clearTimeout(this.timer) });
  }

  /** Something the file reflects changed in `folder` (or in user state, for every folder when undefined). */
  schedule(folder?: string): void {
    if (!this.trust.isTrusted || this.isDisposed) return;
    const folders = folder ? [folder] : (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
    for (const f of folders) if (enabledFor(f)) this.pending.add(f);
    if (this.pending.size === 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), DEBOUNCE_MS);
  }

  /** Regenerates now for the scheduled folders; one run at a time. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    const folders = [...this.pending];
    this.pending.clear();
    this.running = this.running.then(async () => {
      for (const folder of folders) await this.regenerate(folder);
    });
    return this.running;
  }

  private async regenerate(folder: string): Promise<void> {
    if (this.isDisposed || !this.trust.isTrusted) return;
    try {
      const before = mtimeOf(path.join(folder, CONTEXT_FILE));
      const result = await this.sidecars.callTool(folder, 'project_context', { sync: true }, { timeoutMs: 60_000 });
      const changed = result.changed || mtimeOf(path.join(folder, CONTEXT_FILE)) !== before;
      if (changed) this.log.info(`${CONTEXT_FILE} regenerated in ${path.basename(folder)}${result.sections.length ? ` (${result.sections.join(', ')})` : ''}`);
      else this.log.debug(`${CONTEXT_FILE} in ${path.basename(folder)} is up to date`);
      this.synced.fire({ folder, changed, sections: result.sections });
    } catch (error) {
      this.log.warn(`Could not regenerate ${CONTEXT_FILE} in ${path.basename(folder)}: ${describeError(error)}`);
    }
  }
}

function enabledFor(folder: string): boolean {
  return vscode.workspace.getConfiguration(undefined, vscode.Uri.file(folder)).get<boolean>(SETTING, true);
}

function mtimeOf(file: string): number | undefined {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}
