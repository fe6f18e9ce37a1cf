/**
 * Generated content waiting for the user's decision. Each proposal is a read-only virtual document
 * (`switchboard-proposal:/<target path>?<id>`) shown in a diff against the file it would replace (or against an
 * empty document for a new file). Nothing reaches the disk until Apply, which writes through the sidecar's
 * `write_file` so the file policy and the backup apply exactly as for Claude Code.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import type { DelegateOutput } from '../../sidecar/protocol';
import type { TaskKind } from './targets';

export const PROPOSAL_SCHEME = 'switchboard-proposal';
export const HAS_PROPOSAL_CONTEXT_KEY = 'switchboard.hasProposal';
const EMPTY_SIDE = 'empty';

export interface Proposal {
  readonly id: string;
  readonly folder: vscode.WorkspaceFolder;
  readonly task: TaskKind;
  /** Workspace-relative, forward slashes. */
  readonly targetRel: string;
  readonly targetUri: vscode.Uri;
  readonly content: string;
  /** sha256 of the target on disk when the proposal was made; undefined when it did not exist. */
  readonly baselineHash: string | undefined;
  readonly result: DelegateOutput;
  /** The right side of the diff. */
  readonly uri: vscode.Uri;
  /** The left side: the file itself, or an empty virtual document. */
  readonly originalUri: vscode.Uri;
}

export function hashText(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of the file now, undefined when it does not exist. */
export async function currentHash(file: string): Promise<string | undefined> {
  try {
    return hashText(await fs.readFile(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export class ProposalStore extends Disposable implements vscode.TextDocumentContentProvider {
  private readonly proposals = new Map<string, Proposal>();
  private sequence = 0;
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  /** Fires when a proposal is added or settled. */
  readonly onDidChangeProposals = this.changed.event;

  constructor() {
    super();
    this._register(vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, this));
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const { id, side } = parseProposalUri(uri);
    if (side === EMPTY_SIDE) return '';
    const proposal = id ? this.proposals.get(id) : undefined;
    // A settled proposal's tab may still be restored by the editor: say so instead of showing stale content.
    return proposal?.content ?? '(This Switchboard proposal was applied or discarded.)\n';
  }

  get all(): Proposal[] {
    return [...this.proposals.values()];
  }

  get(id: string): Proposal | undefined {
    return this.proposals.get(id);
  }

  async add(init: Omit<Proposal, 'id' | 'uri' | 'originalUri' | 'baselineHash' | 'targetUri'>): Promise<Proposal> {
    const id = `${Date.now().toString(36)}-${(++this.sequence).toString(36)}`;
    const targetUri = vscode.Uri.joinPath(init.folder.uri, ...init.targetRel.split('/'));
    const baselineHash = await currentHash(targetUri.fsPath);
    // The path ends with the target's own name so the diff gets the right language and title.
    const uri = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/${init.folder.name}/${init.targetRel}`, query: `id=${id}` });
    const originalUri = baselineHash === undefined ? uri.with({ query: `id=${id}&side=${EMPTY_SIDE}` }) : targetUri;
    const proposal: Proposal = { ...init, id, targetUri, baselineHash, uri, originalUri };
    this.proposals.set(id, proposal);
    this.publish();
    return proposal;
  }

  /** Forgets a proposal and closes its diff; true when it was still pending. */
  async settle(proposal: Proposal): Promise<boolean> {
    const pending = this.proposals.delete(proposal.id);
    if (pending) this.publish();
    await closeDiffTabs(proposal);
    return pending;
  }

  /**
   * The proposal a command means: the one whose document it was invoked on (editor title button), else the one
   * in the active diff editor, else the only pending one. Undefined when that is ambiguous or there is none.
   */
  resolve(arg?: unknown): Proposal | undefined {
    if (typeof arg === 'string') return this.proposals.get(arg);
    if (arg instanceof vscode.Uri && arg.scheme === PROPOSAL_SCHEME) return this.byUri(arg);
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    if (input instanceof vscode.TabInputTextDiff && input.modified.scheme === PROPOSAL_SCHEME) return this.byUri(input.modified);
    const all = this.all;
    return all.length === 1 ? all[0] : undefined;
  }

  async openDiff(proposal: Proposal): Promise<void> {
    const origin = proposal.baselineHash === undefined ? 'new file' : 'current';
    const flag = proposal.result.complete ? '' : ' — INCOMPLETE';
    const title = `${path.posix.basename(proposal.targetRel)} (${origin}) ↔ ${proposal.result.provider} proposal${flag}`;
    await vscode.commands.executeCommand('vscode.diff', proposal.originalUri, proposal.uri, title, { preview: false } satisfies vscode.TextDocumentShowOptions);
  }

  override dispose(): void {
    this.proposals.clear();
    void vscode.commands.executeCommand('setContext', HAS_PROPOSAL_CONTEXT_KEY, false);
    super.dispose();
  }

  private byUri(uri: vscode.Uri): Proposal | undefined {
    const { id } = parseProposalUri(uri);
    return id ? this.proposals.get(id) : undefined;
  }

  private publish(): void {
    void vscode.commands.executeCommand('setContext', HAS_PROPOSAL_CONTEXT_KEY, this.proposals.size > 0);
    this.changed.fire();
  }
}

function parseProposalUri(uri: vscode.Uri): { id?: string; side?: string } {
  const query = new URLSearchParams(uri.query);
  return { id: query.get('id') ?? undefined, side: query.get('side') ?? undefined };
}

/** Every tab showing this proposal (diff or plain), in every group. */
async function closeDiffTabs(proposal: Proposal): Promise<void> {
  const mine = (uri: vscode.Uri | undefined) => uri?.scheme === PROPOSAL_SCHEME && parseProposalUri(uri).id === proposal.id;
  const tabs = vscode.window.tabGroups.all
    .flatMap((group) => group.tabs)
    .filter((tab) => {
      const input = tab.input;
      if (input instanceof vscode.TabInputTextDiff) return mine(input.modified) || mine(input.original);
      if (input instanceof vscode.TabInputText) return mine(input.uri);
      return false;
    });
  if (tabs.length) await vscode.window.tabGroups.close(tabs, true);
}
