import fs from 'node:fs';
import path from 'node:path';
import { AgentCascade, ServerCascade, type AgentCascadeResult, type McpServer, type ServerCascadeResult } from '../cascade';
import { readAudit, type AuditRecord } from '../files';
import type { Ledger } from '../ledger/types';
import { loadRouterConfig, type RouterConfig } from '../router/config';
import { readGitBranch, readProjectName } from './git';
import { CONTEXT_FILE, extractUserSection, type ContextDelegation, type ContextProvider, type ContextServer, type ContextState } from './render';

/** A health check's verdict, when one is known (the sidecar's health cache). */
export interface KnownServerHealth {
  status: string;
  toolCount?: number;
}

/** Where the state comes from. Everything is optional: what is not given is read from the workspace. */
export interface ContextDeps {
  env?: NodeJS.ProcessEnv;
  bundledAgentsDir?: string;
  /** Already-loaded cascades (the sidecar and the extension keep them). */
  agents?: AgentCascadeResult;
  servers?: ServerCascadeResult;
  routerConfig?: RouterConfig;
  /** Quota source; without it quota shows as unknown. */
  ledger?: Pick<Ledger, 'quota'>;
  /** Last known health per server id. */
  serverHealth?: Record<string, KnownServerHealth | undefined>;
  /** How many recent delegations to list (default 5). */
  recentDelegations?: number;
}

const DEFAULT_RECENT = 5;
/** A hand-written PROJECT_CONTEXT.md larger than this is not read into the user section. */
const MAX_EXISTING_BYTES = 1024 * 1024;

/** Everything PROJECT_CONTEXT.md shows, read from the workspace and user state. */
export async function collectContextState(workspace: string, deps: ContextDeps = {}, existing: string | undefined = readExistingContext(workspace)): Promise<ContextState> {
  const env = deps.env ?? process.env;
  const agentResult = deps.agents ?? new AgentCascade({ workspace, env, bundledAgentsDir: deps.bundledAgentsDir }).load();
  const serverResult = deps.servers ?? new ServerCascade({ workspace, env }).load();
  const config = deps.routerConfig ?? loadRouterConfig({ workspace, env }).config;
  const enabledAgents = agentResult.agents.filter((a) => a.enabled);
  const branch = readGitBranch(workspace);
  return {
    project: branch === undefined ? { name: readProjectName(workspace) } : { name: readProjectName(workspace), branch },
    agents: enabledAgents.map((a) => ({ id: a.id, layer: a.layer, model: a.model, description: a.description })),
    disabledAgents: agentResult.agents.length - enabledAgents.length,
    servers: serverResult.servers.map((s) => toServer(s, deps.serverHealth?.[s.id])),
    providers: await providers(config, deps.ledger),
    delegations: await recentDelegations(workspace, deps.recentDelegations ?? DEFAULT_RECENT),
    userSection: extractUserSection(existing),
  };
}

/**
 * The current PROJECT_CONTEXT.md text, or undefined when there is none. Read directly (not through the audited
 * file layer: a `--check` must leave no trace), refusing anything that is not a regular file inside the workspace.
 */
export function readExistingContext(workspace: string): string | undefined {
  const file = path.join(workspace, CONTEXT_FILE);
  try {
    const stat = fs.lstatSync(file);
    // A link or a second hard link could make the user section show a file from outside the workspace.
    if (!stat.isFile() || stat.nlink > 1 || stat.size > MAX_EXISTING_BYTES) return undefined;
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function toServer(s: McpServer, health: KnownServerHealth | undefined): ContextServer {
  let status: string;
  if (s.duplicateOf) status = `duplicate of ${s.duplicateOf}`;
  else if (s.enabled) status = s.layer === 'external' ? 'running' : 'enabled';
  else status = s.optional ? 'optional (off)' : 'disabled';
  if (health && (health.status === 'healthy' || health.status === 'failing')) {
    status += `, ${health.status}${health.toolCount !== undefined ? ` (${health.toolCount} tools)` : ''}`;
  }
  return { id: s.id, layer: s.layer, type: s.type, status };
}

async function providers(config: RouterConfig, ledger: Pick<Ledger, 'quota'> | undefined): Promise<ContextProvider[]> {
  const out: ContextProvider[] = [];
  for (const p of config.providers) {
    let quotas: ContextProvider['quotas'];
    if (!p.quotas.length) quotas = [];
    else if (ledger) {
      try {
        const states = await ledger.quota(p.id, p.quotas);
        quotas = states.map((s) => ({ metric: s.rule.metric, window: s.rule.window, limit: s.rule.limit, used: s.used }));
      } catch {
        quotas = undefined; // shown as unknown; the quota command reports ledger problems
      }
    }
    out.push({ id: p.id, kind: p.kind, tier: p.tier, disabled: p.disabled, models: p.models.map((m) => m.id), quotas });
  }
  return out;
}

async function recentDelegations(workspace: string, limit: number): Promise<ContextDelegation[]> {
  if (limit <= 0) return [];
  const records = await readAudit(workspace, { ops: ['delegate'], limit });
  return records.map(toDelegation);
}

function toDelegation(r: AuditRecord): ContextDelegation {
  const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const d: ContextDelegation = { time: text(r.time) ?? '', outcome: r.outcome ?? 'ok' };
  const task = text(r.task);
  const agent = text(r.agent);
  if (task) d.task = task;
  if (agent) d.agent = agent;
  if (text(r.provider)) d.provider = r.provider;
  if (text(r.model)) d.model = r.model;
  if (text(r.path)) d.path = r.path;
  return d;
}
