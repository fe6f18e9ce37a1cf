/**
 * The one list of environment variables that carry provider keys: the router reads them (first set wins per
 * provider), redaction masks their values, the sidecar asks the editor for missing ones, and "Set API Key…" stores
 * each provider's key under the first name of its list. Dependency-free, so every layer may import it.
 */
export const PROVIDER_KEY_VARIABLES = {
  openai: ['OPENAI_API_KEY'],
  gemini: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
  huggingface: ['HF_TOKEN', 'HUGGINGFACE_API_TOKEN'],
  together: ['TOGETHER_API_KEY', 'TOGETHER_AI_API_KEY'],
} as const satisfies Record<string, readonly [string, ...string[]]>;

/** Every key variable whose value is masked wherever it appears (Anthropic's too: never ours to leak). */
export const KEY_ENV_VARS: readonly string[] = [...Object.values(PROVIDER_KEY_VARIABLES).flat(), 'ANTHROPIC_API_KEY'];
