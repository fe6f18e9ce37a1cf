/**
 * "Switchboard: Delegate Task…": task kind → provider (Auto first, each with its quota left) → target file
 * (the project's convention as default) → the instruction when the task needs one; then the proposal diff.
 */
import path from 'node:path';
import * as vscode from 'vscode';
import { describeQuota } from '../delegation/output';
import { providerName, type DelegationOutcome, type DelegationService } from '../delegation/service';
import { needsInstruction, normaliseTarget, TASK_DESCRIPTIONS, TASK_KINDS, TASK_LABELS, targetProblem, type TaskKind } from '../delegation/targets';
import type { QuotaStatusOutput } from '../../sidecar/protocol';
import { toolErrorMessage, type ClientFor } from '../delegation/tools';
import { noFileMessage, sourceFileFrom } from './common';

export const DELEGATE_TASK_COMMAND = 'switchboard.delegateTask';

export async function pickTask(): Promise<TaskKind | undefined> {
  const picked = await vscode.window.showQuickPick(
    TASK_KINDS.map((task) => ({ label: TASK_LABELS[task], description: TASK_DESCRIPTIONS[task], task })),
    { title: 'Switchboard: Delegate Task', placeHolder: 'What should be generated?' },
  );
  return picked?.task;
}

export async function askInstruction(task: TaskKind, source: vscode.Uri): Promise<string | undefined> {
  const value = await vscode.window.showInputBox({
    title: `Switchboard: ${TASK_LABELS[task]} for ${path.basename(source.fsPath)}`,
    prompt: task === 'code' ? 'What should change in this file?' : 'What should be written?',
    placeHolder: task === 'code' ? 'e.g. add a maxLength check that throws a RangeError' : 'e.g. an Express router with CRUD routes for users',
    ignoreFocusOut: true,
    validateInput: (text) => (text.trim() ? undefined : 'Describe the work in a sentence or two'),
  });
  return value?.trim() || undefined;
}

interface ProviderItem extends vscode.QuickPickItem {
  provider: string;
}

/** Auto first; then each configured provider with its tier, key and quota left (from quota_status). */
export async function providerItems(clientFor: ClientFor, folder: vscode.WorkspaceFolder): Promise<ProviderItem[]> {
  const auto: ProviderItem = { label: 'Auto — cheapest', description: 'local, then free tiers, then paid if allowed', provider: 'auto' };
  let status: QuotaStatusOutput;
  try {
    status = await (await clientFor(folder)).callTool('quota_status', {}, { timeoutMs: 20_000 });
  } catch (error) {
    return [auto, ...['gemini', 'together', 'huggingface', 'openai'].map((id) => ({ label: providerName(id), description: `quota unknown (${toolErrorMessage(error)})`, provider: id }))];
  }
  return [
    auto,
    ...status.providers.map((p) => {
      const quota = p.quotas.map(describeQuota).join(', ');
      return {
        label: providerName(p.id),
        description: [p.tier, p.has_key ? undefined : 'no key', quota || undefined].filter(Boolean).join(' · '),
        provider: p.id,
      };
    }),
  ];
}

export interface DelegateTaskArgs {
  source?: vscode.Uri;
  task?: TaskKind;
  provider?: string;
  target?: string;
  instruction?: string;
}

export async function delegateTask(service: DelegationService, clientFor: ClientFor, arg?: unknown): Promise<DelegationOutcome | undefined> {
  const given: DelegateTaskArgs = arg && typeof arg === 'object' && !(arg instanceof vscode.Uri) ? (arg as DelegateTaskArgs) : {};
  const source = given.source ?? sourceFileFrom(arg);
  if (!source) return void noFileMessage();
  const folder = service.folderOf(source);

  const task = given.task ?? (await pickTask());
  if (!task) return undefined;

  const steps = needsInstruction(task) ? 4 : 3;
  let provider = given.provider;
  if (!provider) {
    const picked = await vscode.window.showQuickPick(providerItems(clientFor, folder), {
      title: `Switchboard: Delegate ${TASK_LABELS[task]} (2/${steps})`,
      placeHolder: 'Which provider? Auto takes the cheapest one with quota left.',
    });
    if (!picked) return undefined;
    provider = picked.provider;
  }

  let target = given.target;
  if (target === undefined) {
    const proposed = await service.defaultTarget(task, source);
    target = await vscode.window.showInputBox({
      title: `Switchboard: Delegate ${TASK_LABELS[task]} (3/${steps})`,
      prompt: 'Where does the result go? (relative to the workspace folder; nothing is written before you apply the diff)',
      value: proposed,
      valueSelection: [proposed.lastIndexOf('/') + 1, proposed.length],
      ignoreFocusOut: true,
      validateInput: targetProblem,
    });
    if (target === undefined) return undefined;
    target = normaliseTarget(target);
  }

  const instruction = needsInstruction(task) ? (given.instruction ?? (await askInstruction(task, source))) : given.instruction;
  if (needsInstruction(task) && !instruction) return undefined;
  return service.delegate({ task, provider, source, target, instruction });
}
