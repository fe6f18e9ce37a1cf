/** The providers layer: one Provider per kind through its official SDK, with our own transport limits. */
export * from './types';
export { createProvider, createProviderFromEntry } from './registry';
export { resolveProviderConfig, baseUrlEnvVar, keyEnvVars, DEFAULT_KEY_ENV, type ProviderEntry, type ResolvedProviderConfig } from './env';
export { probeLocalServer, clearProbeCache, type LocalProbeResult } from './probe';
export { toProviderError, classifyStatus, MalformedResponseError } from './failure';
export { parseRetryAfterMs, parseRateLimitHeaders, parseResetMs } from './transport';
