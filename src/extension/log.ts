import * as vscode from 'vscode';

/** The extension's one output channel; everything else logs through the instance handed to it. */
export function createLog(): vscode.LogOutputChannel {
  return vscode.window.createOutputChannel('Switchboard', { log: true });
}

/** Error text for the log: the message, not the stack (stacks carry absolute install paths, nothing useful). */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
