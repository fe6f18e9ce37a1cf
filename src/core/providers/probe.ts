/**
 * Is an OpenAI-compatible local server (Ollama, LM Studio, llama.cpp, vLLM) answering at a base URL, and which
 * models does it serve? One GET <baseUrl>/models with a short timeout. Answers — "down" included — are cached per
 * URL for a TTL, and a probe in flight is shared, so calling this for every route costs a map lookup.
 */

export interface LocalProbeResult {
  up: boolean;
  models: string[];
  /** Why the server counts as down, in plain words. */
  reason?: string;
  checkedAtMs: number;
}

export interface ProbeOptions {
  timeoutMs?: number;
  ttlMs?: number;
  now?: () => number;
  fetch?: typeof fetch;
}

export const PROBE_DEFAULT_TIMEOUT_MS = 800;
export const PROBE_DEFAULT_TTL_MS = 30_000;

const cache = new Map<string, { result: Promise<LocalProbeResult>; expiresAtMs: number }>();

export function clearProbeCache(): void {
  cache.clear();
}

export function probeLocalServer(baseUrl: string, options: ProbeOptions = {}): Promise<LocalProbeResult> {
  const now = options.now ?? Date.now;
  const key = baseUrl.replace(/\/+$/, '');
  const hit = cache.get(key);
  if (hit && now() < hit.expiresAtMs) return hit.result;
  const ttl = options.ttlMs ?? PROBE_DEFAULT_TTL_MS;
  // Expiry counts from the start, so a slow probe is not trusted for longer than the TTL.
  const entry = { result: probeOnce(key, options.timeoutMs ?? PROBE_DEFAULT_TIMEOUT_MS, now, options.fetch ?? globalThis.fetch), expiresAtMs: now() + ttl };
  cache.set(key, entry);
  return entry.result;
}

async function probeOnce(baseUrl: string, timeoutMs: number, now: () => number, fetchFn: typeof fetch): Promise<LocalProbeResult> {
  const down = (reason: string): LocalProbeResult => ({ up: false, models: [], reason, checkedAtMs: now() });
  try {
    const res = await fetchFn(`${baseUrl}/models`, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      return down(`local server at ${baseUrl} answered HTTP ${res.status}`);
    }
    const body = (await res.json()) as { data?: unknown; models?: unknown };
    // OpenAI shape `{data:[{id}]}`; Ollama's native `{models:[{name}]}` tolerated too.
    const list = Array.isArray(body?.data) ? body.data : Array.isArray(body?.models) ? body.models : undefined;
    if (!list) return down(`local server at ${baseUrl} did not list models`);
    const models = list
      .map((m: unknown) => (typeof m === 'string' ? m : ((m as { id?: unknown; name?: unknown })?.id ?? (m as { name?: unknown })?.name)))
      .filter((m: unknown): m is string => typeof m === 'string');
    return { up: true, models, checkedAtMs: now() };
  } catch (err) {
    const name = (err as { name?: string })?.name;
    if (name === 'TimeoutError') return down(`local server at ${baseUrl} did not answer within ${timeoutMs} ms`);
    if (err instanceof SyntaxError) return down(`local server at ${baseUrl} did not answer /models with JSON`);
    return down(`no local server answering at ${baseUrl}`);
  }
}
