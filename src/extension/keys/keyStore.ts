import * as vscode from 'vscode';
import { PROVIDER_KEY_VARIABLES } from '../../core/key-variables';
import { KEY_ENV_VARS, addSecretValues } from '../../core/redact';
import { Disposable } from '../disposable';

/** The providers "Set API Key…" offers, with the environment variable their key travels in. */
export const PROVIDER_KEYS = [
  { provider: 'gemini', label: 'Google Gemini', envName: PROVIDER_KEY_VARIABLES.gemini[0] },
  { provider: 'openai', label: 'OpenAI', envName: PROVIDER_KEY_VARIABLES.openai[0] },
  { provider: 'together', label: 'Together AI', envName: PROVIDER_KEY_VARIABLES.together[0] },
  { provider: 'huggingface', label: 'Hugging Face', envName: PROVIDER_KEY_VARIABLES.huggingface[0] },
] as const;

const SECRET_PREFIX = 'switchboard.apiKey.';
/** Names (never values) of keys stored for custom providers (router.yaml `apiKeyEnv`), so all() can find them. */
const CUSTOM_NAMES_STATE = 'switchboard.apiKeyNames';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * API keys in VS Code's SecretStorage (the OS keychain) and nowhere else: not settings, not the workspace,
 * not the log. Each key is stored under the environment variable name it is handed to the sidecar as.
 */
export class KeyStore extends Disposable {
  private readonly changed = this._register(new vscode.EventEmitter<string>());
  /** Fires with the variable name when a key is set or removed (also from another window). */
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly globalState: vscode.Memento,
  ) {
    super();
    this._register(
      secrets.onDidChange((e) => {
        if (e.key.startsWith(SECRET_PREFIX)) this.changed.fire(e.key.slice(SECRET_PREFIX.length));
      }),
    );
  }

  private names(): string[] {
    const custom = this.globalState.get<string[]>(CUSTOM_NAMES_STATE, []).filter((n) => ENV_NAME.test(n));
    return [...new Set<string>([...KEY_ENV_VARS, ...PROVIDER_KEYS.map((p) => p.envName), ...custom])];
  }

  /** Every stored key as environment variables. Values are registered for redaction as they are read. */
  async all(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const name of this.names()) {
      const value = await this.secrets.get(SECRET_PREFIX + name);
      if (value) out[name] = value;
    }
    addSecretValues(Object.values(out));
    return out;
  }

  async has(envName: string): Promise<boolean> {
    return Boolean(await this.secrets.get(SECRET_PREFIX + envName));
  }

  async set(envName: string, value: string): Promise<void> {
    if (!ENV_NAME.test(envName)) throw new Error(`"${envName}" is not an environment variable name`);
    const key = value.trim();
    if (!key) throw new Error('the key is empty');
    addSecretValues([key]);
    await this.secrets.store(SECRET_PREFIX + envName, key);
    if (!this.names().includes(envName)) await this.globalState.update(CUSTOM_NAMES_STATE, [...this.globalState.get<string[]>(CUSTOM_NAMES_STATE, []), envName]);
    // secrets.onDidChange fires too, but only after the store round trip; callers restart on this event.
  }

  async delete(envName: string): Promise<void> {
    await this.secrets.delete(SECRET_PREFIX + envName);
  }
}
