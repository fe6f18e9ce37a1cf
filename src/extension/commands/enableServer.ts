import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { isMap, isSeq, parseDocument } from 'yaml';
import { describeError } from '../log';
import type { ServerEntry } from '../data/source';
import type { CascadeNode } from '../views/cascadeTree';

export const ENABLE_SERVER_COMMAND = 'switchboard.enableServer';
const DISCOVERY_CONFIG = path.join('.mcp', 'discovery-config.yaml');

/**
 * The text of `.mcp/discovery-config.yaml` with `name` added to `enabled:` (comments and layout kept), or
 * undefined when it is already there. Throws a plain error when the file is not a YAML mapping.
 */
export function withServerEnabled(text: string, name: string): string | undefined {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new Error(`${DISCOVERY_CONFIG} has a YAML error: ${doc.errors[0]!.message.split('\n')[0]}`);
  if (doc.contents === null) return `enabled: [${name}]\n${text}`;
  if (!isMap(doc.contents)) throw new Error(`${DISCOVERY_CONFIG} is not a mapping`);
  const enabled = doc.get('enabled', true);
  if (enabled === undefined || enabled === null || (typeof enabled === 'object' && 'value' in enabled && enabled.value === null)) {
    doc.set('enabled', doc.createNode([name], { flow: true }));
  } else if (isSeq(enabled)) {
    if (enabled.items.some((item) => String((item as { value?: unknown }).value ?? item) === name)) return undefined;
    enabled.add(doc.createNode(name));
  } else {
    throw new Error(`"enabled" in ${DISCOVERY_CONFIG} is not a list`);
  }
  return doc.toString();
}

/** "Enable": adds an optional server to `enabled:` through a WorkspaceEdit (undoable), then saves. */
export function registerEnableServer(log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand(ENABLE_SERVER_COMMAND, async (node?: CascadeNode<ServerEntry>) => {
    if (node?.kind !== 'entry') return;
    const name = node.entry.name;
    const file = vscode.Uri.file(path.join(node.state.path, DISCOVERY_CONFIG));
    try {
      const exists = fs.existsSync(file.fsPath);
      const document = exists ? await vscode.workspace.openTextDocument(file) : undefined;
      const updated = withServerEnabled(document?.getText() ?? '', name);
      if (updated === undefined) {
        void vscode.window.showInformationMessage(`Switchboard: ${name} is already enabled.`);
        return;
      }
      const edit = new vscode.WorkspaceEdit();
      if (document) edit.replace(file, new vscode.Range(0, 0, document.lineCount, 0), updated);
      else {
        edit.createFile(file, { ignoreIfExists: true });
        edit.insert(file, new vscode.Position(0, 0), updated);
      }
      if (!(await vscode.workspace.applyEdit(edit, { isRefactoring: false }))) throw new Error('the editor refused the edit');
      await (await vscode.workspace.openTextDocument(file)).save();
      log.info(`Enabled optional server ${name} in ${DISCOVERY_CONFIG}`);
      // Our own edit: reload now rather than wait for the file watcher.
      node.state.invalidate();
    } catch (error) {
      log.error(`Could not enable ${name}: ${describeError(error)}`);
      void vscode.window.showErrorMessage(`Switchboard: could not enable ${name}: ${describeError(error)}`);
    }
  });
}
