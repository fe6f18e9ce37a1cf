import { switchboardHome } from '../paths';
import { registrySources } from './config';
import { RegistryIndex, type SearchHit, type SearchOptions } from './index-store';

/** How old the cache is, so a search served from it says so (the registry may be down). */
export interface CacheInfo {
  synced_at?: string;
  age_s?: number;
  entries: number;
  /** Registries whose last sync failed, with the reason. */
  errors: string[];
}

const open = new Map<string, Promise<RegistryIndex>>();

/** One index per file per process, re-read only when another process replaced the file. */
export async function openRegistryIndex(env: NodeJS.ProcessEnv = process.env): Promise<RegistryIndex> {
  const file = RegistryIndex.fileIn(switchboardHome(env));
  let loading = open.get(file);
  if (!loading) {
    loading = RegistryIndex.open(file);
    open.set(file, loading);
    loading.catch(() => open.delete(file));
  }
  const index = await loading;
  await index.refresh();
  return index;
}

export function cacheInfo(index: RegistryIndex, now = Date.now()): CacheInfo {
  const states = index.registries();
  const synced = states.map((s) => s.syncedAt).filter((t): t is number => t !== undefined);
  const oldest = synced.length ? Math.min(...synced) : undefined;
  return {
    synced_at: oldest === undefined ? undefined : new Date(oldest).toISOString(),
    age_s: oldest === undefined ? undefined : Math.max(0, Math.round((now - oldest) / 1000)),
    entries: states.reduce((n, s) => n + s.entries, 0),
    errors: states.filter((s) => s.error).map((s) => `${s.url}: ${s.error}`),
  };
}

/** "synced 3 h ago", "never synced". */
export function describeAge(info: CacheInfo): string {
  if (info.age_s === undefined) return 'never synced';
  const s = info.age_s;
  const text = s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} days`;
  return `synced ${text} ago`;
}

export async function searchRegistry(options: SearchOptions, env: NodeJS.ProcessEnv = process.env): Promise<{ hits: SearchHit[]; cache: CacheInfo }> {
  const index = await openRegistryIndex(env);
  return { hits: index.search(options), cache: cacheInfo(index) };
}

export { registrySources };
