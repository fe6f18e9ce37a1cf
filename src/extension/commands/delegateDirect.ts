/**
 * The one-step palette and context-menu commands: a fixed task and provider on the current file, the default
 * target, no questions beyond the instruction that boilerplate and code need.
 */
import * as vscode from 'vscode';
import type { DelegationOutcome, DelegationService } from '../delegation/service';
import { needsInstruction, type TaskKind } from '../delegation/targets';
import { askInstruction, pickTask } from './delegateTask';
import { noFileMessage, sourceFileFrom } from './common';

export interface DirectCommand {
  id: string;
  /** Undefined: ask for the task (Delegate to Cheapest Provider). */
  task?: TaskKind;
  provider: string;
}

export const DIRECT_COMMANDS: DirectCommand[] = [
  { id: 'switchboard.delegateTestsToGemini', task: 'tests', provider: 'gemini' },
  { id: 'switchboard.delegateDocsToGemini', task: 'docs', provider: 'gemini' },
  { id: 'switchboard.delegateBoilerplateToOpenAI', task: 'boilerplate', provider: 'openai' },
  { id: 'switchboard.delegateCodeToTogether', task: 'code', provider: 'together' },
  { id: 'switchboard.delegateToCheapest', provider: 'auto' },
];

/** Extra arguments a caller (a test, a keybinding) may pass to skip the questions. */
export interface DirectArgs {
  instruction?: string;
  task?: TaskKind;
}

export function registerDirectCommands(service: DelegationService): vscode.Disposable[] {
  return DIRECT_COMMANDS.map((command) =>
    vscode.commands.registerCommand(command.id, async (arg?: unknown, extra?: unknown): Promise<DelegationOutcome | undefined> => {
      const source = sourceFileFrom(arg);
      if (!source) return void noFileMessage();
      // Explorer passes (uri, selectedUris); only a plain options object counts as arguments.
      const args = extra && typeof extra === 'object' && !Array.isArray(extra) ? (extra as DirectArgs) : {};
      const task = command.task ?? args.task ?? (await pickTask());
      if (!task) return undefined;
      const instruction = needsInstruction(task) ? (args.instruction ?? (await askInstruction(task, source))) : undefined;
      if (needsInstruction(task) && !instruction) return undefined;
      return service.delegate({ task, provider: command.provider, source, instruction });
    }),
  );
}
