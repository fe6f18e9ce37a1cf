import * as vscode from 'vscode';
import { toDisposable } from '../disposable';
import type { TrustState } from '../trust';

/** Matches `contributes.mcpServerDefinitionProviders[].id` in package.json. */
export const MCP_PROVIDER_ID = 'switchboard.sidecar';

// The MCP server-definition API arrived in VS Code 1.101; @types/vscode 1.100 does not know it, so the shapes
// used here are declared locally and the API is found at run time.
interface McpStdioServerDefinitionCtor {
  new (label: string, command: string, args?: string[], env?: Record<string, string | number | null>, version?: string): { cwd?: vscode.Uri };
}
interface McpServerDefinitionProvider {
  onDidChangeMcpServerDefinitions?: vscode.Event<void>;
  provideMcpServerDefinitions(token: vscode.CancellationToken): unknown[];
}
type RegisterProvider = (id: string, provider: McpServerDefinitionProvider) => vscode.Disposable;

export interface McpRegistration extends vscode.Disposable {
  readonly registered: boolean;
}

/**
 * Offers each trusted workspace folder's sidecar to VS Code's own chat (1.101+). The definitions carry no keys:
 * a sidecar VS Code starts lacks them in its environment and asks this editor over the key channel. On 1.100
 * the API is absent and this does nothing but say so once.
 */
export function registerMcpServerDefinitions(options: {
  sidecarPath: string;
  trust: TrustState;
  version: string;
  log: vscode.LogOutputChannel;
}): McpRegistration {
  const lm = vscode.lm as unknown as { registerMcpServerDefinitionProvider?: RegisterProvider };
  const Definition = (vscode as unknown as { McpStdioServerDefinition?: McpStdioServerDefinitionCtor }).McpStdioServerDefinition;
  if (typeof lm.registerMcpServerDefinitionProvider !== 'function' || typeof Definition !== 'function') {
    options.log.info(`VS Code ${vscode.version} has no MCP server-definition provider API (1.101+); Switchboard is not offered to VS Code's chat`);
    return { registered: false, dispose: () => undefined };
  }
  const changed = new vscode.EventEmitter<void>();
  const subscriptions: vscode.Disposable[] = [
    changed,
    vscode.workspace.onDidChangeWorkspaceFolders(() => changed.fire()),
    options.trust.onDidChange(() => changed.fire()),
  ];
  let registration: vscode.Disposable;
  try {
    registration = lm.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, {
      onDidChangeMcpServerDefinitions: changed.event,
      provideMcpServerDefinitions: () => {
        if (!options.trust.isTrusted) return [];
        const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file');
        return folders.map((folder) => {
          const label = folders.length > 1 ? `Switchboard (${folder.name})` : 'Switchboard';
          const definition = new Definition(label, process.execPath, [options.sidecarPath, 'serve', '--workspace', folder.uri.fsPath], { ELECTRON_RUN_AS_NODE: '1', SWITCHBOARD_TRUSTED_FOLDERS: folder.uri.fsPath }, options.version);
          definition.cwd = folder.uri;
          return definition;
        });
      },
    });
  } catch (error) {
    // 1.100 has the function as a proposed API: calling it without the proposal enabled throws.
    subscriptions.forEach((s) => s.dispose());
    options.log.info(`VS Code ${vscode.version} does not offer the MCP server-definition provider API to extensions (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); Switchboard is not offered to VS Code's chat`);
    return { registered: false, dispose: () => undefined };
  }
  subscriptions.push(registration);
  options.log.info('Registered the Switchboard sidecar with VS Code\'s MCP server definitions');
  const disposable = toDisposable(() => subscriptions.forEach((s) => s.dispose()));
  return { registered: true, dispose: () => disposable.dispose() };
}
