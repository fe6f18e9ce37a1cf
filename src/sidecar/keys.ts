/**
 * At startup, a sidecar missing provider keys asks a running editor for them over the per-user key channel
 * (src/core/keys/channel.ts). Keys stay in this process's memory and are registered for redaction; none is
 * written anywhere. Without an editor, environment variables alone decide, as before.
 */
import { PROVIDER_KEY_VARIABLES } from '../core/key-variables';
import { requestKeys } from '../core/keys/channel';
import { addSecretValues } from '../core/redact';

/** Each provider's key variables (any one of a group is enough), from the one list in core/key-variables. */
export const PROVIDER_KEY_GROUPS: readonly (readonly string[])[] = Object.values(PROVIDER_KEY_VARIABLES);

/**
 * The environment plus whatever keys the editor holds that the environment lacks. Asks only when a provider
 * key is missing, and not at all with SWITCHBOARD_KEYS_FROM_EDITOR=0 (the editor's own sidecar gets its keys
 * in its environment).
 */
export async function withEditorKeys(env: NodeJS.ProcessEnv, log: (line: string) => void, folder: string): Promise<NodeJS.ProcessEnv> {
  if (env.SWITCHBOARD_KEYS_FROM_EDITOR === '0') return env;
  const has = (name: string) => Boolean(env[name]?.trim());
  if (PROVIDER_KEY_GROUPS.every((group) => group.some(has))) return env;
  const present = Object.keys(env).filter(has);
  const { keys, reason } = await requestKeys({ folder, env, except: present, timeoutMs: 1_000 });
  const names = Object.keys(keys);
  if (names.length === 0) {
    if (reason && !reason.startsWith('no editor')) log(`keys: ${reason}`);
    return env;
  }
  addSecretValues(Object.values(keys));
  log(`keys: ${names.join(', ')} from the editor`);
  return { ...env, ...keys };
}
