/**
 * The one redaction function applied to every log line, error message, audit record and tool result.
 * It removes API keys by header name, by query parameter and by value pattern, and any value of a known
 * key variable found in the environment (so a key with an unusual shape is still caught).
 */

export const KEY_ENV_VARS = [
  'OPENAI_API_KEY',
  'GEMINI_API_KEY',
  'GOOGLE_API_KEY',
  'HF_TOKEN',
  'HUGGINGFACE_API_TOKEN',
  'TOGETHER_API_KEY',
  'TOGETHER_AI_API_KEY',
  'ANTHROPIC_API_KEY',
] as const;

const MASK = '[REDACTED]';

const VALUE_PATTERNS: RegExp[] = [
  /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}/g, // OpenAI
  /\bAIza[0-9A-Za-z_-]{30,}/g, // Google / Gemini
  /\bhf_[A-Za-z0-9]{20,}/g, // Hugging Face
  /\btgp_v1_[A-Za-z0-9_-]{20,}/g, // Together
  /\bsk-ant-[A-Za-z0-9_-]{16,}/g, // Anthropic
];

// Header-style and JSON-style "name: value" / "name=value" where the name says it is a secret.
const NAMED_SECRET = /((?:authorization|proxy-authorization|x-goog-api-key|x-api-key|api[-_]?key|apikey|access[-_]?token|token|secret|password)["']?\s*[:=]\s*["']?)(?:bearer\s+|basic\s+)?([^\s"'&,;}]+)/gi;
const BEARER = /\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
const QUERY_SECRET = /([?&](?:key|api_key|apikey|access_token|token)=)[^&#\s"']+/gi;

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

/** Removes every secret it can recognise from a string. */
export function redact(text: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!text) return text;
  let out = text;
  for (const secret of [...extraSecrets, ...envSecrets(env)]) out = out.split(secret).join(MASK);
  out = out.replace(QUERY_SECRET, `$1${MASK}`);
  out = out.replace(BEARER, `$1 ${MASK}`);
  out = out.replace(NAMED_SECRET, (_m, prefix: string, value: string) => (value === MASK ? `${prefix}${value}` : `${prefix}${MASK}`));
  for (const p of VALUE_PATTERNS) out = out.replace(p, MASK);
  return out;
}

/** Redacts every string inside a JSON-like value (audit records, tool results). */
export function redactDeep<T>(value: T, env: NodeJS.ProcessEnv = process.env): T {
  if (typeof value === 'string') return redact(value, env) as unknown as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, env)) as unknown as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactDeep(v, env);
    return out as T;
  }
  return value;
}
