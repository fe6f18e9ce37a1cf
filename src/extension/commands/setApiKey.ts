import * as vscode from 'vscode';
import { describeError } from '../log';
import { PROVIDER_KEYS, type KeyStore } from '../keys/keyStore';

export const SET_API_KEY_COMMAND = 'switchboard.setApiKey';

/**
 * "Set API Key…": pick a provider, type the key into a password box. It goes to SecretStorage only; the
 * running sidecars restart with it (KeyStore.onDidChange). An empty entry removes a stored key.
 */
export function registerSetApiKey(keys: KeyStore, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand(SET_API_KEY_COMMAND, async (arg?: unknown) => {
    // From the palette: nothing; from a Quota row: its tree node; from a walkthrough link: a provider id.
    const providerId = typeof arg === 'string' ? arg : (arg as { entry?: { providerId?: unknown } } | undefined)?.entry?.providerId;
    const preset = typeof providerId === 'string' ? PROVIDER_KEYS.find((p) => p.provider === providerId || p.envName === providerId) : undefined;
    let choice = preset;
    if (!choice) {
      const items = await Promise.all(
        PROVIDER_KEYS.map(async (p) => ({ label: p.label, description: p.envName, detail: (await keys.has(p.envName)) ? 'Key stored — enter a new one to replace it' : 'No key stored', provider: p })),
      );
      choice = (await vscode.window.showQuickPick(items, { title: 'Switchboard: Set API Key', placeHolder: 'Provider' }))?.provider;
    }
    if (!choice) return;
    const stored = await keys.has(choice.envName);
    const value = await vscode.window.showInputBox({
      title: `Switchboard: ${choice.label} API key`,
      prompt: `Stored in the editor's secret storage and handed to Switchboard as ${choice.envName}.${stored ? ' Leave empty to remove the stored key.' : ''}`,
      password: true,
      ignoreFocusOut: true,
      placeHolder: choice.envName,
      validateInput: (text) => (/\s/.test(text.trim()) ? 'A key has no spaces' : undefined),
    });
    if (value === undefined) return;
    try {
      if (!value.trim()) {
        if (!stored) return;
        await keys.delete(choice.envName);
        log.info(`API key for ${choice.label} removed`);
        void vscode.window.showInformationMessage(`Switchboard: the ${choice.label} key was removed.`);
        return;
      }
      await keys.set(choice.envName, value);
      // Names only: the value never reaches the log.
      log.info(`API key for ${choice.label} stored (${choice.envName}); restarting the sidecar`);
      void vscode.window.showInformationMessage(`Switchboard: ${choice.label} key stored in the editor's secret storage.`);
    } catch (error) {
      void vscode.window.showErrorMessage(`Switchboard: could not store the key: ${describeError(error)}`);
    }
  });
}
