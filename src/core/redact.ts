/**
 * Two kinds of redaction:
 * - `redact` / `redactDeep`, for log lines, error messages, audit records and tool summaries: API keys by header
 *   name, by query parameter and by value pattern, and every value of a key the user holds;
 * - `maskKnownSecrets`, for file content and generated code (read_file, delegate): only the exact values of the
 *   keys the user holds (key variables, custom `apiKeyEnv` variables, keys from the editor) are replaced, so
 *   `const token = getToken();` comes back byte for byte and a read-modify-write never corrupts a file.
 */

import { KEY_ENV_VARS } from './key-variables';

export { KEY_ENV_VARS };

const MASK = '[REDACTED]';

/** Key shapes, each with a literal every match contains: a text without it skips the (costlier) regex. */
const VALUE_PATTERNS: Array<[literal: string, pattern: RegExp]> = [
  ['sk-', /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}/g], // OpenAI (and Anthropic's sk-ant-)
  ['AIza', /\bAIza[0-9A-Za-z_-]{30,}/g], // Google / Gemini
  ['hf_', /\bhf_[A-Za-z0-9]{20,}/g], // Hugging Face
  ['tgp_v1_', /\btgp_v1_[A-Za-z0-9_-]{20,}/g], // Together
  ['api_org_', /\bapi_org_[A-Za-z0-9]{20,}/g], // Hugging Face organisation tokens (older form)
  ['eyJ', /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g], // JWTs (OAuth bearer tokens, service-account assertions)
  ['gh', /\bgh[pousr]_[A-Za-z0-9]{30,}/g], // GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_)
  ['github_pat_', /\bgithub_pat_[A-Za-z0-9_]{30,}/g], // GitHub fine-grained tokens
  ['xox', /\bxox[abposre]-[A-Za-z0-9-]{10,}/g], // Slack tokens
  ['IA', /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g], // AWS access key ids
];
// Together's older keys are 64 hex digits with no prefix: indistinguishable from a sha256 (which audit records
// carry), so they are caught by header/field name and by the environment values, not by shape.

// Header-style and JSON-style "name: value" / "name=value" where the name says it is a secret.
const NAMED_SECRET = /((?:authorization|proxy-authorization|x-goog-api-key|x-api-key|api[-_]?key|apikey|access[-_]?token|token|secret|password)["']?\s*[:=]\s*["']?)(?:bearer\s+|basic\s+)?([^\s"'&,;}]+)/gi;
const BEARER = /\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
const QUERY_SECRET = /([?&](?:key|api_key|apikey|api-key|access_token|token|auth|signature|sig)=)[^&#\s"']+/gi;
// https://user:password@host — the password part.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+(@)/gi;
/** Every NAMED_SECRET match contains one of these (lower-cased). */
const SECRET_NAME_WORDS = ['authorization', 'api-key', 'api_key', 'apikey', 'token', 'secret', 'password'];
/** Object keys whose string value is a secret whatever it looks like (headers, config objects). */
const SECRET_KEY_NAME = /^(authorization|proxy-authorization|x-goog-api-key|x-api-key|api[-_]?key|apikey|access[-_]?token|refresh[-_]?token|id[-_]?token|token|secret|client[-_]?secret|password|passwd|cookie|set-cookie)$/i;

let extraSecrets: string[] = [];
/** Variables beyond KEY_ENV_VARS whose values are keys: the `apiKeyEnv` names router.yaml gives. */
const extraSecretEnvNames = new Set<string>();

/** Registers secret values known at run time (keys handed over by the editor, for example). */
export function addSecretValues(values: Iterable<string | undefined>): void {
  for (const v of values) if (v && v.length >= 8 && !extraSecrets.includes(v)) extraSecrets.push(v);
  extraSecrets.sort((a, b) => b.length - a.length);
}

/**
 * Registers environment variables that hold keys (router.yaml `apiKeyEnv`): their values are masked everywhere
 * from now on, in file content too, like the standard key variables.
 */
export function addSecretEnvNames(names: Iterable<string>): void {
  for (const name of names) if (name && !(KEY_ENV_VARS as readonly string[]).includes(name)) extraSecretEnvNames.add(name);
}

/** For tests: forget registered run-time secrets. */
export function resetSecretValues(): void {
  extraSecrets = [];
  extraSecretEnvNames.clear();
}

function envSecrets(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const name of KEY_ENV_VARS) {
    const v = env[name]?.trim();
    if (v && v.length >= 8) out.push(v);
  }
  for (const name of extraSecretEnvNames) {
    const v = env[name]?.trim();
    if (v && v.length >= 8) out.push(v);
  }
  return out;
}

/** Every secret value the user holds, longest first (so a key containing another is masked whole). */
function knownSecrets(env: NodeJS.ProcessEnv): string[] {
  const all = [...extraSecrets, ...envSecrets(env)];
  return all.length > 1 ? [...new Set(all)].sort((a, b) => b.length - a.length) : all;
}

/**
 * Masks only the exact values of the keys the user holds; every other byte is kept. For file content and
 * generated code, where pattern-based masking would rewrite ordinary code (`token = getToken()`).
 */
export function maskKnownSecrets(text: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!text) return text;
  return maskValues(text, knownSecrets(env));
}

function maskValues(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(MASK);
  return out;
}

/** Flags whose next argument (or `=value`) is a secret: `--token X`, `--api-key=X`, `-p X` is not one. */
const SECRET_FLAG = /^--?(?:[a-z0-9]+[-_])*(?:token|api[-_]?key|apikey|key|secret|password|passwd|pat|auth|credentials?|access[-_]?key)$/i;

/**
 * A server's command-line arguments as shown to people and models (`list_servers`, `switchboard servers`): the
 * value after a secret-named flag, `--flag=value` forms, `NAME=value` pairs naming a secret and every key-shaped
 * argument are masked; `${VAR}` references stay readable.
 */
export function maskCommandArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const isReference = (v: string): boolean => /^\$\{[^}]+\}$/.test(v) || /^\$[A-Za-z_][A-Za-z0-9_]*$/.test(v);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const previous = i > 0 ? args[i - 1]! : '';
    // `--no-auth` is a switch, not a flag taking a value.
    if (SECRET_FLAG.test(previous) && !/^--?no-/i.test(previous) && !arg.startsWith('-') && !isReference(arg)) {
      out.push(MASK);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 0) {
      const name = arg.slice(0, eq);
      const value = arg.slice(eq + 1);
      if ((SECRET_FLAG.test(name) || SECRET_KEY_NAME.test(name.replace(/^-+/, '')) || /(?:token|secret|password|api[-_]?key|access[-_]?key)$/i.test(name)) && value && !isReference(value)) {
        out.push(`${name}=${MASK}`);
        continue;
      }
    }
    out.push(redact(arg, env));
  }
  return out;
}

/**
 * Removes every secret it can recognise from a string. Each pattern runs only when the text holds a literal
 * every match of it contains (checked with indexOf): tool results carry whole files, and scanning 20 KB of
 * source with every regex would cost more than reading it.
 */
export function redact(text: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!text) return text;
  return redactWith(text, knownSecrets(env));
}

/** `redact` with the user's key values already looked up (reading them from the environment costs more than a short string's scan). */
function redactWith(text: string, secrets: readonly string[]): string {
  if (!text) return text;
  let out = maskValues(text, secrets);
  const lower = out.toLowerCase();
  const hasAssignment = lower.includes('=') || lower.includes(':');
  if (lower.includes('=') && (lower.includes('?') || lower.includes('&'))) out = out.replace(QUERY_SECRET, `$1${MASK}`);
  if (lower.includes('://') && lower.includes('@')) out = out.replace(URL_PASSWORD, `$1${MASK}$2`);
  if (lower.includes('bearer') || lower.includes('basic')) out = out.replace(BEARER, `$1 ${MASK}`);
  if (hasAssignment && SECRET_NAME_WORDS.some((w) => lower.includes(w))) {
    out = out.replace(NAMED_SECRET, (_m, prefix: string, value: string) => (value === MASK ? `${prefix}${value}` : `${prefix}${MASK}`));
  }
  for (const [literal, pattern] of VALUE_PATTERNS) if (out.includes(literal)) out = out.replace(pattern, MASK);
  return out;
}

/**
 * Redacts every string inside a JSON-like value (audit records, tool results). A string under a key that names
 * a secret (authorization, x-api-key, password …) is masked whatever its shape. Errors become
 * `{ name, message, code? }`, Headers and Maps plain objects; cycles are cut.
 */
export function redactDeep<T>(value: T, env: NodeJS.ProcessEnv = process.env, known?: ReadonlyMap<string, string>): T {
  // The key values are looked up once per call, not once per string (an audit record has a dozen strings).
  let secrets: readonly string[] | undefined;
  const redactString = (text: string): string => (text ? redactWith(text, (secrets ??= knownSecrets(env))) : text);
  return walk(value, redactString, new WeakSet(), known) as T;
}

/**
 * A tool result repeats its text in its structured content (read_file: the whole file); `known` maps strings
 * already redacted to their redacted form so large ones are scanned once.
 */
function walk(value: unknown, redactString: (text: string) => string, seen: WeakSet<object>, known?: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return known?.get(value) ?? redactString(value);
  if (!value || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => walk(v, redactString, seen, known));
  if (value instanceof Date) return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    return { name: value.name, message: redactString(value.message), ...(code ? { code } : {}) };
  }
  let entries: Array<[string, unknown]>;
  if (value instanceof Map) entries = [...value.entries()].map(([k, v]) => [String(k), v]);
  else if (typeof (value as { entries?: unknown }).entries === 'function' && typeof (value as { get?: unknown }).get === 'function' && typeof (value as { has?: unknown }).has === 'function') {
    entries = [...(value as unknown as { entries(): Iterable<[string, unknown]> }).entries()]; // Headers, URLSearchParams
  } else entries = Object.entries(value as Record<string, unknown>);
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    out[k] = typeof v === 'string' && v && SECRET_KEY_NAME.test(k) ? MASK : walk(v, redactString, seen, known);
  }
  return out;
}
