/**
 * The one redaction function applied to every log line, error message, audit record and tool result.
 * It removes API keys by header name, by query parameter and by value pattern, and any value of a known
 * key variable found in the environment (so a key with an unusual shape is still caught).
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

/** Registers secret values known at run time (keys handed over by the editor, for example). */
export function addSecretValues(values: Iterable<string | undefined>): void {
  for (const v of values) if (v && v.length >= 8 && !extraSecrets.includes(v)) extraSecrets.push(v);
  extraSecrets.sort((a, b) => b.length - a.length);
}

/** For tests: forget registered run-time secrets. */
export function resetSecretValues(): void {
  extraSecrets = [];
}

function envSecrets(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const name of KEY_ENV_VARS) {
    const v = env[name];
    if (v && v.length >= 8) out.push(v);
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
  let out = text;
  for (const secret of [...extraSecrets, ...envSecrets(env)]) if (out.includes(secret)) out = out.split(secret).join(MASK);
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
  return walk(value, env, new WeakSet(), known) as T;
}

/**
 * A tool result repeats its text in its structured content (read_file: the whole file); `known` maps strings
 * already redacted to their redacted form so large ones are scanned once.
 */
function walk(value: unknown, env: NodeJS.ProcessEnv, seen: WeakSet<object>, known?: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return known?.get(value) ?? redact(value, env);
  if (!value || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => walk(v, env, seen, known));
  if (value instanceof Date) return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    return { name: value.name, message: redact(value.message, env), ...(code ? { code } : {}) };
  }
  let entries: Array<[string, unknown]>;
  if (value instanceof Map) entries = [...value.entries()].map(([k, v]) => [String(k), v]);
  else if (typeof (value as { entries?: unknown }).entries === 'function' && typeof (value as { get?: unknown }).get === 'function' && typeof (value as { has?: unknown }).has === 'function') {
    entries = [...(value as unknown as { entries(): Iterable<[string, unknown]> }).entries()]; // Headers, URLSearchParams
  } else entries = Object.entries(value as Record<string, unknown>);
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    out[k] = typeof v === 'string' && v && SECRET_KEY_NAME.test(k) ? MASK : walk(v, env, seen, known);
  }
  return out;
}
