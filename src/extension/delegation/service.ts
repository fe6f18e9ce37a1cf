/**
 * The delegation flow behind the palette and context-menu commands: ask the sidecar's `delegate` tool (with
 * cancellable progress), show the answer as a proposal diff, and apply or discard it on the user's word.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import { describeError } from '../log';
import { stripFence } from '../../core/generated-text';
import type { DelegateOutput, WriteFileOutput } from '../../sidecar/protocol';
import { describeProposalCheck, describeQuotaLeft, describeRoute } from './output';
import { currentHash, ProposalStore, type Proposal } from './proposals';
import { buildPrompt, defaultTarget, detectTestConvention, detectTestFramework, normaliseTarget, TASK_LABELS, targetProblem, type TaskKind, type TestLocation } from './targets';
import { isAbort, toolErrorMessage, type ClientFor } from './tools';

export const DELEGATING_CONTEXT_KEY = 'switchboard.delegating';
/** A delegation may stream for minutes; the client's timeout restarts with every progress notification. */
const DELEGATE_TIMEOUT_MS = 5 * 60_000;
const PROVIDER_NAMES: Record<string, string> = { gemini: 'Gemini', openai: 'OpenAI', together: 'Together AI', huggingface: 'Hugging Face', local: 'local model', auto: 'the cheapest provider' };

export interface DelegationRequest {
  task: TaskKind;
  /** Provider id, or "auto". */
  provider: string;
  source: vscode.Uri;
  /** Workspace-relative target; default from the project's layout. */
  target?: string;
  instruction?: string;
}

export type DelegationOutcome =
  | { status: 'proposed'; proposalId: string; target: string; complete: boolean; provider: string; model: string }
  | { status: 'cancelled' }
  | { status: 'failed'; message: string };

export type ApplyOutcome = { status: 'applied'; path: string; backupId: string; created: boolean } | { status: 'skipped'; reason: string };

export interface DelegationDeps {
  log: vscode.LogOutputChannel;
  clientFor: ClientFor;
  isTrusted(): boolean;
}

export function providerName(id: string): string {
  return PROVIDER_NAMES[id] ?? id;
}

export class DelegationService extends Disposable {
  readonly proposals = this._register(new ProposalStore());
  private readonly running = new Set<AbortController>();

  constructor(private readonly deps: DelegationDeps) {
    super();
    this._register({ dispose: () => this.cancelAll() });
  }

  get isDelegating(): boolean {
    return this.running.size > 0;
  }

  /** Aborts every delegation in flight (the notification's Cancel does the same for its own). */
  cancelAll(): number {
    const count = this.running.size;
    for (const controller of this.running) controller.abort();
    return count;
  }

  folderOf(uri: vscode.Uri): vscode.WorkspaceFolder {
    const folder = vscode.workspace.getWorkspaceFolder(uri);
    if (!folder || folder.uri.scheme !== 'file') throw new Error(`${uri.scheme === 'file' ? path.basename(uri.fsPath) : uri.toString()} is not in a workspace folder on disk`);
    return folder;
  }

  /** The target a task proposes for `source` when the user names none. */
  async defaultTarget(task: TaskKind, source: vscode.Uri): Promise<string> {
    const folder = this.folderOf(source);
    const sourceRel = relative(folder, source);
    if (task !== 'tests') return defaultTarget(task, sourceRel, detectTestConvention([]));
    const found = await vscode.workspace.findFiles(
      new vscode.RelativePattern(folder, '{**/*.test.*,**/*.spec.*,**/test_*.py,**/*_test.go}'),
      new vscode.RelativePattern(folder, '{**/node_modules/**,**/.git/**,**/dist/**,**/out/**,**/.switchboard/**}'),
      500,
    );
    const topLevel = await fs.readdir(folder.uri.fsPath).catch(() => [] as string[]);
    const setting = vscode.workspace.getConfiguration('switchboard.delegation', folder).get<TestLocation>('testLocation', 'auto');
    const convention = detectTestConvention(found.map((uri) => relative(folder, uri)), setting, topLevel);
    return defaultTarget(task, sourceRel, convention);
  }

  async delegate(request: DelegationRequest): Promise<DelegationOutcome> {
    if (!this.deps.isTrusted()) return this.fail('Switchboard delegates nothing in Restricted Mode; trust this workspace first.');
    let folder: vscode.WorkspaceFolder;
    try {
      folder = this.folderOf(request.source);
    } catch (error) {
      return this.fail(describeError(error));
    }
    const sourceRel = relative(folder, request.source);
    const problem = request.target === undefined ? undefined : targetProblem(request.target);
    if (problem) return this.fail(`${problem}: ${request.target}`);
    const target = request.target === undefined ? await this.defaultTarget(request.task, request.source) : normaliseTarget(request.target);
    const targetUri = vscode.Uri.joinPath(folder.uri, ...target.split('/'));
    const targetExists = (await currentHash(targetUri.fsPath)) !== undefined;
    const framework = request.task === 'tests' ? detectTestFramework(await fs.readFile(path.join(folder.uri.fsPath, 'package.json'), 'utf8').catch(() => undefined)) : undefined;
    const prompt = buildPrompt({ task: request.task, sourceRel, targetRel: target, targetExists, instruction: request.instruction, framework });
    const files = [sourceRel, ...(targetExists && target !== sourceRel ? [target] : [])];
    const who = providerName(request.provider);
    this.deps.log.info(`Delegating ${request.task} for ${sourceRel} to ${request.provider} → ${target}`);

    const controller = new AbortController();
    this.running.add(controller);
    void vscode.commands.executeCommand('setContext', DELEGATING_CONTEXT_KEY, true);
    let answer: { structured: DelegateOutput; text: string };
    try {
      answer = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Switchboard: ${TASK_LABELS[request.task]} for ${path.posix.basename(sourceRel)} → ${who}`, cancellable: true },
        async (progress, token) => {
          token.onCancellationRequested(() => controller.abort());
          progress.report({ message: 'starting…' });
          const client = await this.deps.clientFor(folder);
          controller.signal.throwIfAborted();
          return client.callToolWithText(
            'delegate',
            // Verified at the target (the project's check, in a trusted folder), which is then left as it was: Apply stays the user's.
            { task: request.task, prompt, files, output_path: target, propose: true, ...(request.provider === 'auto' ? {} : { provider: request.provider }) },
            { signal: controller.signal, timeoutMs: DELEGATE_TIMEOUT_MS, onProgress: (p) => p.message && progress.report({ message: p.message }) },
          );
        },
      );
    } catch (error) {
      if (isAbort(error, controller.signal)) {
        this.deps.log.info(`Delegation of ${request.task} for ${sourceRel} cancelled`);
        void vscode.window.showInformationMessage('Switchboard: delegation cancelled; nothing was written.');
        return { status: 'cancelled' };
      }
      return this.fail(`${TASK_LABELS[request.task]} for ${sourceRel} via ${who} failed: ${toolErrorMessage(error)}`);
    } finally {
      this.running.delete(controller);
      void vscode.commands.executeCommand('setContext', DELEGATING_CONTEXT_KEY, this.running.size > 0);
    }

    const result = answer.structured;
    let text = answer.text;
    if (result.answer_path) {
      // Too long for an MCP result: the sidecar saved the whole answer in the workspace and sent its head.
      const full = await readSpilledAnswer(folder.uri.fsPath, result.answer_path);
      if (full === undefined) return this.fail(`${TASK_LABELS[request.task]} for ${sourceRel}: the answer was saved to ${result.answer_path}, which could not be read`);
      text = full;
    }
    const proposal = await this.proposals.add({ folder, task: request.task, targetRel: target, content: stripFence(text) /* the generated text alone is the first block; unwrap a single fence as the sidecar does before writing */, result });
    const route = describeRoute(result);
    this.deps.log.info(`Proposal ${proposal.id} for ${target} from ${route}${result.complete ? '' : ' (INCOMPLETE)'}${result.skipped.length ? `; skipped: ${result.skipped.join('; ')}` : ''}`);
    await this.proposals.openDiff(proposal);
    void this.notify(proposal);
    return { status: 'proposed', proposalId: proposal.id, target, complete: result.complete, provider: result.provider, model: result.model };
  }

  async apply(proposal: Proposal, options: { confirmed?: boolean } = {}): Promise<ApplyOutcome> {
    if (!this.proposals.get(proposal.id)) return { status: 'skipped', reason: 'already settled' };
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === proposal.targetUri.toString());
    if (open?.isDirty) {
      void vscode.window.showWarningMessage(`Switchboard: ${proposal.targetRel} has unsaved changes; save or revert them, then apply again.`);
      return { status: 'skipped', reason: 'unsaved changes' };
    }
    if (!options.confirmed) {
      const concerns: string[] = [];
      if ((await currentHash(proposal.targetUri.fsPath)) !== proposal.baselineHash) concerns.push(`${proposal.targetRel} changed on disk after this proposal was made; applying replaces those changes (they are backed up first).`);
      if (!proposal.result.complete) concerns.push('The answer was cut short (incomplete output).');
      if (concerns.length) {
        const choice = await vscode.window.showWarningMessage(`Switchboard: apply the proposal anyway?`, { modal: true, detail: concerns.join('\n') }, 'Apply Anyway');
        if (choice !== 'Apply Anyway') return { status: 'skipped', reason: 'not confirmed' };
      }
    }
    let written: WriteFileOutput;
    try {
      const client = await this.deps.clientFor(proposal.folder);
      written = await client.callTool('write_file', { path: proposal.targetRel, content: proposal.content });
    } catch (error) {
      const message = `Switchboard: could not write ${proposal.targetRel}: ${toolErrorMessage(error)}`;
      this.deps.log.error(message);
      void vscode.window.showErrorMessage(message);
      return { status: 'skipped', reason: toolErrorMessage(error) };
    }
    await this.proposals.settle(proposal);
    this.deps.log.info(`Applied proposal ${proposal.id}: ${written.created ? 'created' : 'wrote'} ${written.path} (${written.bytes} bytes), backup ${written.backup_id}`);
    await vscode.window.showTextDocument(proposal.targetUri, { preview: false });
    void vscode.window
      .showInformationMessage(`Switchboard: ${written.created ? 'created' : 'wrote'} ${written.path}; backup ${written.backup_id}.`, 'Undo')
      .then((choice) => choice === 'Undo' && vscode.commands.executeCommand('switchboard.restoreBackup', { backupId: written.backup_id, folder: proposal.folder }));
    return { status: 'applied', path: written.path, backupId: written.backup_id, created: written.created };
  }

  async discard(proposal: Proposal): Promise<boolean> {
    const pending = await this.proposals.settle(proposal);
    if (pending) this.deps.log.info(`Discarded proposal ${proposal.id} for ${proposal.targetRel}; nothing written`);
    return pending;
  }

  /** Provider, model, tier, cost and quota left, with Apply / Discard; a warning when the output is incomplete. */
  private async notify(proposal: Proposal): Promise<void> {
    const { result } = proposal;
    const quota = describeQuotaLeft(result.quota_left);
    const check = describeProposalCheck(result, proposal.task);
    const text = `Switchboard: proposal for ${proposal.targetRel} from ${describeRoute(result)}${quota ? ` · ${quota}` : ''}${check ? ` · ${check}` : ''}.`;
    const choice = result.complete
      ? await vscode.window.showInformationMessage(`${text} Review the diff.`, 'Apply', 'Discard')
      : await vscode.window.showWarningMessage(`${text} INCOMPLETE: the answer was cut short; review it carefully.`, 'Apply', 'Discard');
    if (choice && !this.proposals.get(proposal.id)) {
      void vscode.window.showInformationMessage(`Switchboard: the proposal for ${proposal.targetRel} was already applied or discarded.`);
    } else if (choice === 'Apply') await this.apply(proposal);
    else if (choice === 'Discard') await this.discard(proposal);
  }

  private fail(message: string): DelegationOutcome {
    this.deps.log.error(message);
    void vscode.window.showErrorMessage(`Switchboard: ${message}`);
    return { status: 'failed', message };
  }
}

function relative(folder: vscode.WorkspaceFolder, uri: vscode.Uri): string {
  return path.relative(folder.uri.fsPath, uri.fsPath).split(path.sep).join('/');
}

/** The whole answer the sidecar spilled to `.switchboard/answers/…`; only a file there is read. */
async function readSpilledAnswer(folder: string, answerPath: string): Promise<string | undefined> {
  const dir = path.join(folder, '.switchboard', 'answers');
  const file = path.resolve(folder, answerPath);
  if (path.dirname(file) !== dir) return undefined;
  return fs.readFile(file, 'utf8').catch(() => undefined);
}
