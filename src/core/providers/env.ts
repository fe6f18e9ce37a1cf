/**
 * Where a provider's key and base URL come from (SPEC "Environment"):
 * - key: the router.yaml entry's `apiKeyEnv` when it names one (it then replaces the defaults, so a second
 *   account never falls back to the first one's key), else the kind's standard variables, first set wins;
 * - base URL: `SWITCHBOARD_<ID>_BASE_URL` over router.yaml `baseUrl` over the SDK's default (left undefined).
 * Values are trimmed; blank counts as unset.
 */
import { UserError } from '../errors';
import { PROVIDER_KEY_VARIABLES } from '../key-variables';
import { KEY_ENV_VARS, redact } from '../redact';
import type { ProviderConfig, ProviderKind, Tier } from './types';

export const DEFAULT_KEY_ENV: Readonly<Record<ProviderKind, readonly string[]>> = {
  ...PROVIDER_KEY_VARIABLES,
  // Local servers usually need no key; an entry may still name one with apiKeyEnv.
  'openai-compatible': [],
  // A team server's bearer token: router.yaml names its variable with apiKeyEnv (there is no standard one).
  switchboard: [],
};

/**
 * Every environment variable that holds a key Switchboard manages: the kinds' standard variables, the other
 * known key variables redaction watches, and each configured provider's `apiKeyEnv` (pass the user layer's
 * providers). Project commands never get these in their environment, nor expanded into their `${VAR}`s.
 */
export function managedKeyVars(providers: ReadonlyArray<{ apiKeyEnv?: string | readonly string[] }> = []): Set<string> {
  const names = new Set<string>([...Object.values(DEFAULT_KEY_ENV).flat(), ...KEY_ENV_VARS]);
  for (const p of providers) {
    if (p.apiKeyEnv === undefined) continue;
    for (const n of typeof p.apiKeyEnv === 'string' ? [p.apiKeyEnv] : p.apiKeyEnv) if (n.trim()) names.add(n.trim());
  }
  return names;
}

/** The router.yaml fields this module reads. */
export interface ProviderEntry {
  id: string;
  kind: ProviderKind;
  tier: Tier;
  baseUrl?: string;
  apiKeyEnv?: string | readonly string[];
}

export interface ResolvedProviderConfig extends ProviderConfig {
  /** The variable the key came from (its name only), for "no key: set X" messages. */
  keyEnvVar?: string;
  /** Every variable that was consulted for the key. */
  keyEnvVars: string[];
  baseUrlSource: 'env' | 'router.yaml' | 'default';
}

/** `SWITCHBOARD_<ID>_BASE_URL`, ID upper-cased with every non-alphanumeric character as `_`. */
export function baseUrlEnvVar(providerId: string): string {
  return `SWITCHBOARD_${providerId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_BASE_URL`;
}

export function keyEnvVars(entry: Pick<ProviderEntry, 'kind' | 'apiKeyEnv'>): string[] {
  if (entry.apiKeyEnv !== undefined) return (typeof entry.apiKeyEnv === 'string' ? [entry.apiKeyEnv] : [...entry.apiKeyEnv]).filter((n) => n.trim() !== '');
  return [...DEFAULT_KEY_ENV[entry.kind]];
}

/** Base URLs already checked: the router resolves every candidate's on each route, and parsing one costs ~10 µs. */
const checkedUrls = new Map<string, string>();
const MAX_CHECKED_URLS = 256;

function checkedUrl(value: string, source: string): string {
  let ok = checkedUrls.get(value);
  if (ok === undefined) {
    ok = checkUrl(value, source);
    if (checkedUrls.size >= MAX_CHECKED_URLS) checkedUrls.clear();
    checkedUrls.set(value, ok);
  }
  return ok;
}

function checkUrl(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UserError(`${source} is not a valid URL: "${redact(value)}"`, 'bad_base_url');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError(`${source} must be an http:// or https:// URL, got "${redact(value)}"`, 'bad_base_url');
  }
  return value.replace(/\/+$/, '');
}

/** The provider's key alone (first set variable wins); independent of its base URL, which may be invalid. */
export function resolveProviderKey(entry: Pick<ProviderEntry, 'kind' | 'apiKeyEnv'>, env: NodeJS.ProcessEnv = process.env): { apiKey?: string; keyEnvVar?: string; keyEnvVars: string[] } {
  const vars = keyEnvVars(entry);
  for (const name of vars) {
    const v = env[name]?.trim();
    if (v) return { apiKey: v, keyEnvVar: name, keyEnvVars: vars };
  }
  return { keyEnvVars: vars };
}

export function resolveProviderConfig(entry: ProviderEntry, env: NodeJS.ProcessEnv = process.env): ResolvedProviderConfig {
  const { apiKey, keyEnvVar, keyEnvVars: vars } = resolveProviderKey(entry, env);
  const envName = baseUrlEnvVar(entry.id);
  const fromEnv = env[envName]?.trim();
  const fromYaml = entry.baseUrl?.trim();
  let baseUrl: string | undefined;
  let baseUrlSource: ResolvedProviderConfig['baseUrlSource'] = 'default';
  if (fromEnv) {
    baseUrl = checkedUrl(fromEnv, envName);
    baseUrlSource = 'env';
  } else if (fromYaml) {
    baseUrl = checkedUrl(fromYaml, `baseUrl of provider "${entry.id}"`);
    baseUrlSource = 'router.yaml';
  }
  return { id: entry.id, kind: entry.kind, tier: entry.tier, baseUrl, apiKey, keyEnvVar, keyEnvVars: vars, baseUrlSource };
}
