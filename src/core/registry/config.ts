import path from 'node:path';
import { readStructuredFile } from '../config/structured-file';
import type { Diagnostic } from '../diagnostics';
import { UserError } from '../errors';
import { switchboardHome } from '../paths';

export const OFFICIAL_REGISTRY = 'https://registry.modelcontextprotocol.io';

export interface RegistrySources {
  /** Base URLs, highest priority first: on a name found in several, the first registry's entry wins. */
  urls: string[];
  /** Where the list came from (for `registry sync` output). */
  from: 'env' | 'router.yaml' | 'default';
  diagnostics: Diagnostic[];
}

/**
 * Which registries to read. User layer only: `SWITCHBOARD_REGISTRY_URL` (one URL or several, comma-separated),
 * else `registry.urls` in `$SWITCHBOARD_HOME/router.yaml`, else the official registry. A project's
 * `.mcp/router.yaml` is never read here: a repository must not choose where install commands come from.
 * Either setting replaces the default (SPEC); list the official URL too to merge a private registry with it.
 */
export function registrySources(env: NodeJS.ProcessEnv = process.env): RegistrySources {
  const fromEnv = env.SWITCHBOARD_REGISTRY_URL?.trim();
  if (fromEnv) return { urls: fromEnv.split(',').map((u) => normalizeRegistryUrl(u.trim(), 'SWITCHBOARD_REGISTRY_URL')), from: 'env', diagnostics: [] };
  const file = path.join(switchboardHome(env), 'router.yaml');
  const parsed = readStructuredFile<{ registry?: { urls?: unknown } }>(file);
  const urls = parsed.value?.registry?.urls;
  const diagnostics: Diagnostic[] = [];
  if (Array.isArray(urls) && urls.length > 0) {
    const good: string[] = [];
    urls.forEach((u, i) => {
      try {
        if (typeof u !== 'string') throw new UserError('must be a URL string');
        good.push(normalizeRegistryUrl(u, 'registry.urls'));
      } catch (err) {
        diagnostics.push({ file, line: parsed.lineOf(['registry', 'urls', i]), column: 1, message: `registry.urls[${i}]: ${(err as Error).message}; ignored`, severity: 'warning' });
      }
    });
    if (good.length) return { urls: good, from: 'router.yaml', diagnostics };
  }
  return { urls: [OFFICIAL_REGISTRY], from: 'default', diagnostics };
}

/** http(s) only, no credentials in the URL, no query or fragment; trailing slashes dropped. */
export function normalizeRegistryUrl(raw: string, where: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UserError(`${where}: "${raw.slice(0, 80)}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UserError(`${where}: only http(s) registries are supported`);
  if (url.username || url.password) throw new UserError(`${where}: put no credentials in the registry URL`);
  if (url.search || url.hash) throw new UserError(`${where}: the registry URL must not have a query or fragment`);
  return url.toString().replace(/\/+$/, '');
}
