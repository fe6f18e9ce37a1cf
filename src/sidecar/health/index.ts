/**
 * Server health: `checkServers(servers, opts)` starts each enabled stdio server (taking its lock file first),
 * does the MCP handshake (initialize + tools/list) with a deadline, stops it; requests HTTP ones; caches
 * results for 5 minutes. Used by `switchboard servers --check` and the `list_servers` tool (`{check: true}`).
 */
import crypto from 'node:crypto';
import path from 'node:path';
import type { McpServer } from '../../core/cascade';
import { switchboardHome } from '../../core/paths';
import { managedKeyVars } from '../../core/providers/env';
import { loadRouterConfig } from '../../core/router/config';
import { allowListedEnv, checkPinnedCommand, decideTrust, isProjectServer, type TrustDecision } from '../../core/trust';
import { serverCommand } from '../../core/trust/commands';
import { redact } from '../../core/redact';
import { DEFAULT_CACHE_TTL_MS, HealthCache } from './cache';
import { EnvResolver } from './env-refs';
import { ServerLock } from './lock';
import { probeHttp, probeStdio, type ProbeOutcome } from './mcp-probe';
import type { ServerHealth } from './types';

export type { HealthStatus, ServerHealth } from './types';
export type { EnvRef } from './env-refs';
export { HealthCache, DEFAULT_CACHE_TTL_MS, HEALTH_CACHE_FILE } from './cache';
export { ServerLock, serverLockFile, type ServerLockInfo, type AcquireOutcome } from './lock';

export interface CheckOptions {
  /** Where referenced variables are read from, and where $SWITCHBOARD_HOME is (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Working folder for stdio servers without their own `cwd` (the workspace, as Claude Code does). */
  cwd?: string;
  /** Per-server deadline when the discovery config sets no `timeouts.health_ms` (default 10 s). */
  timeoutMs?: number;
  /** Injectable clock (ms). */
  now?: () => number;
  cacheTtlMs?: number;
  /** Ignore cached results (still stores new ones). */
  refresh?: boolean;
  /** Servers checked at once (default 4). */
  concurrency?: number;
  /** Only these ids (default all). */
  ids?: string[];
  /**
   * The folder's trust (default: decided for `cwd`). Project-defined servers (project files, docker/npx
   * recipes) are started or requested only when it is trusted and their pinned command is unchanged.
   */
  trust?: TrustDecision;
  /** Variables never given to a project server nor expanded into it (default: every key Switchboard manages). */
  managedKeys?: ReadonlySet<string>;
}

/** The keys Switchboard manages for this environment: the standard ones and the user router.yaml's apiKeyEnv. */
export function managedKeysFor(env: NodeJS.ProcessEnv): Set<string> {
  return managedKeyVars(loadRouterConfig({ env }).config.providers);
}

/** What a skipped project server says when the folder is not trusted. */
export const UNTRUSTED_CHECK = 'not checked: this folder is not trusted';

export const DEFAULT_HEALTH_TIMEOUT_MS = 10_000;

/** Checks every server (results in input order). Never throws for a server's failure: that is its status. */
export async function checkServers(servers: readonly McpServer[], opts: CheckOptions = {}): Promise<ServerHealth[]> {
  const env = opts.env ?? process.env;
  const now = opts.now ?? Date.now;
  const ttl = opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
  const home = switchboardHome(env);
  const cache = new HealthCache(home);
  const lockDir = path.join(home, 'servers');
  const wanted = opts.ids ? servers.filter((s) => opts.ids!.includes(s.id)) : [...servers];
  const toStore: Array<{ key: string; result: ServerHealth }> = [];
  const trust = opts.trust ?? decideTrust(opts.cwd ?? process.cwd(), env);
  const managedKeys = opts.managedKeys ?? managedKeysFor(env);
  const projectEnv = allowListedEnv(env, managedKeys);
  // The user's own servers get what Claude Code would give them, less the keys Switchboard manages.
  const userEnv = Object.fromEntries(Object.entries(env).filter(([name]) => !managedKeys.has(name)));

  const checkOne = async (server: McpServer): Promise<ServerHealth> => {
    const project = isProjectServer(server);
    const resolver = new EnvResolver(env, project ? { withhold: managedKeys, withholdAll: !trust.trusted } : {});
    const resolved = resolveDefinition(server, resolver);
    const refs = resolver.references();
    const base = { id: server.id, env: refs, cached: false };
    const skip = skipReason(server);
    if (skip) return { ...base, ...skip };
    if (project) {
      if (!trust.trusted) return { ...base, status: 'skipped', error: `${UNTRUSTED_CHECK}; ${untrustedHintShort(trust.folder)}` };
      const pinned = await checkPinnedCommand(trust, serverCommand(server), env);
      if (!pinned.ok) return { ...base, status: 'skipped', error: `not checked: ${pinned.reason}` };
    }

    const cwd = path.resolve(opts.cwd ?? process.cwd(), resolved.cwd ?? '.');
    const key = HealthCache.key(server.id, definitionHash(server, resolved, refs, cwd));
    if (!opts.refresh) {
      const hit = cache.fresh(key, now(), ttl);
      if (hit) return { ...hit.result, env: refs, cached: true };
    }
    const timeoutMs = server.timeouts?.health_ms ?? opts.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
    const checkedAt = new Date(now()).toISOString();
    const started = performance.now();
    let outcome: ProbeOutcome;
    if (resolved.url) {
      outcome = await probeHttp({ url: resolved.url, type: server.type === 'sse' ? 'sse' : 'http', headers: resolved.headers, timeoutMs });
    } else if (!resolved.command) {
      outcome = { ok: false, error: 'the command is empty after resolving environment variables' };
    } else {
      const command = [server.command, ...(server.args ?? [])].join(' ');
      const taken = ServerLock.acquire(lockDir, server.id, { pid: process.pid, command });
      if (!taken.ok) {
        return { ...base, status: 'skipped', error: `already running (pid ${taken.holder.pid}${taken.holder.startedAt ? `, since ${taken.holder.startedAt}` : ''}); not started twice` };
      }
      try {
        outcome = await probeStdio({
          command: resolved.command!,
          args: resolved.args,
          // Never our whole environment: the allow-list (no managed key), then what the definition sets.
          env: { ...(project ? projectEnv : userEnv), ...resolved.env },
          cwd,
          timeoutMs,
          onSpawn: (pid) => taken.lock.update({ pid }),
        });
      } finally {
        taken.lock.release();
      }
    }
    const latencyMs = Math.round(performance.now() - started);
    const missing = refs.filter((r) => r.state === 'missing').map((r) => r.ref);
    const result: ServerHealth = { ...base, status: outcome.ok ? 'healthy' : 'failing', latencyMs, checkedAt };
    if (outcome.toolCount !== undefined) result.toolCount = outcome.toolCount;
    if (outcome.error) result.error = plain(outcome.error + (missing.length ? ` (not set: ${missing.join(', ')})` : ''), resolver);
    if (outcome.note) result.note = plain(outcome.note, resolver);
    toStore.push({ key, result });
    return result;
  };

  const results = await mapLimited(wanted, opts.concurrency ?? 4, checkOne);
  cache.store(toStore, now());
  return results;
}

/**
 * Last known health of each server whatever its age (PROJECT_CONTEXT.md shows it without starting anything).
 * Only results for the server's current definition count.
 */
export function lastKnownHealth(servers: readonly McpServer[], options: Pick<CheckOptions, 'env' | 'cwd' | 'trust' | 'managedKeys'> = {}): Record<string, ServerHealth> {
  const env = options.env ?? process.env;
  const cache = new HealthCache(switchboardHome(env));
  const out: Record<string, ServerHealth> = {};
  const trust = options.trust ?? decideTrust(options.cwd ?? process.cwd(), env);
  const managedKeys = options.managedKeys ?? managedKeysFor(env);
  for (const server of servers) {
    // Resolved exactly as checkServers does, so the cache key matches; nothing is started.
    const resolver = new EnvResolver(env, isProjectServer(server) ? { withhold: managedKeys, withholdAll: !trust.trusted } : {});
    const resolved = resolveDefinition(server, resolver);
    const cwd = path.resolve(options.cwd ?? process.cwd(), resolved.cwd ?? '.');
    const last = cache.last(HealthCache.key(server.id, definitionHash(server, resolved, resolver.references(), cwd)));
    if (last) out[server.id] = last;
  }
  return out;
}

interface ResolvedDefinition {
  command?: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  url?: string;
  headers: Record<string, string>;
}

function resolveDefinition(server: McpServer, resolver: EnvResolver): ResolvedDefinition {
  const env = resolver.resolveRecord(server.env);
  const headers = resolver.resolveRecord(server.headers);
  // Values written out in full (not as references) are just as secret when a server echoes them.
  resolver.protect([...Object.values(env), ...Object.values(headers)]);
  const out: ResolvedDefinition = { args: resolver.resolveAll(server.args), env, headers };
  if (server.command) out.command = resolver.resolve(server.command);
  if (server.cwd) out.cwd = resolver.resolve(server.cwd);
  if (server.url) out.url = resolver.resolve(server.url);
  return out;
}

function untrustedHintShort(folder: string): string {
  return `\`switchboard trust --workspace ${JSON.stringify(folder)}\` allows it`;
}

function skipReason(server: McpServer): Pick<ServerHealth, 'status' | 'error'> | undefined {
  if (server.duplicateOf) return { status: 'skipped', error: `same command as "${server.duplicateOf}"; not started twice` };
  if (!server.enabled) return server.optional ? { status: 'optional-off' } : { status: 'skipped', error: 'disabled in .mcp/discovery-config.yaml' };
  if (!server.url && server.layer === 'external') {
    return { status: 'skipped', error: `running as pid ${server.pid ?? '?'}; a stdio server only talks to the process that started it` };
  }
  if (!server.url && !server.command) return { status: 'skipped', error: 'no command or url' };
  return undefined;
}

/**
 * What the cached verdict depends on: the definition as written, a digest of the resolved values (a new token
 * must trigger a new check) and, for stdio, the folder it runs in (the cache is shared by every workspace).
 * Only a truncated digest is stored, never a value.
 */
function definitionHash(server: McpServer, resolved: ResolvedDefinition, refs: ReadonlyArray<{ ref: string; state: string }>, cwd: string): string {
  const written = { type: server.type, command: server.command, args: server.args, env: server.env, cwd: server.cwd, url: server.url, headers: server.headers, timeouts: server.timeouts };
  return crypto.createHash('sha256').update(JSON.stringify([written, refs, resolved, server.url ? '' : cwd])).digest('hex').slice(0, 16);
}

function plain(text: string, resolver: EnvResolver): string {
  return redact(resolver.scrub(text)).replace(/\s+/g, ' ').trim();
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
