/**
 * Writes an install plan: project scope merges the server into `.mcp/servers/registry.json` through the
 * workspace file layer (policy, backup, journal, audit) — a user action allowed to write exactly that one file
 * under the otherwise forbidden `.mcp/`; user scope writes `~/.claude/mcp/servers/<key>.json` atomically,
 * keeping the old file as a backup under `$SWITCHBOARD_HOME/backups/registry/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseStructuredText } from '../config/structured-file';
import { UserError } from '../errors';
import { atomicReplace } from '../files/durable';
import { WorkspaceFiles } from '../files/workspace-files';
import { forUserAction, loadPolicy } from '../files/policy';
import type { Actor } from '../files/backups';
import { switchboardHome, userHome } from '../paths';
import type { InstallPlan } from './install-plan';

export const PROJECT_REGISTRY_FILE = '.mcp/servers/registry.json';

export interface WriteResult {
  scope: 'project' | 'user';
  /** Workspace-relative (project) or ~-relative (user) path. */
  file: string;
  backup?: string;
  replaced: boolean;
}

export async function writeInstall(plan: InstallPlan, scope: 'project' | 'user', options: { workspace: string; env?: NodeJS.ProcessEnv; actor: Actor }): Promise<WriteResult> {
  return scope === 'project' ? writeProject(plan, options.workspace, options.actor) : writeUser(plan, options.env ?? process.env);
}

function mergedDocument(text: string | undefined, file: string, plan: InstallPlan): { doc: Record<string, unknown>; replaced: boolean } {
  let doc: Record<string, unknown> = {};
  if (text !== undefined && text.trim()) {
    const parsed = parseStructuredText<unknown>(file, text);
    const error = parsed.diagnostics.find((d) => d.severity === 'error');
    if (error) throw new UserError(`${file}:${error.line}:${error.column}: ${error.message}; fix it first, nothing was changed`);
    if (!parsed.value || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) throw new UserError(`${file} must hold a JSON object; nothing was changed`);
    doc = parsed.value as Record<string, unknown>;
  }
  const servers = doc.mcpServers ?? {};
  if (typeof servers !== 'object' || servers === null || Array.isArray(servers)) throw new UserError(`${file}: "mcpServers" must be an object; nothing was changed`);
  const replaced = Object.prototype.hasOwnProperty.call(servers, plan.key);
  doc.mcpServers = { ...(servers as Record<string, unknown>), [plan.key]: plan.definition };
  return { doc, replaced };
}

async function writeProject(plan: InstallPlan, workspace: string, actor: Actor): Promise<WriteResult> {
  const loaded = loadPolicy(workspace);
  const files = await WorkspaceFiles.open(workspace, { actor, policy: forUserAction(loaded.policy, PROJECT_REGISTRY_FILE) });
  const target = files.check(PROJECT_REGISTRY_FILE, 'write');
  const text = target.exists ? (await files.read(PROJECT_REGISTRY_FILE, { actor })).text : undefined;
  const { doc, replaced } = mergedDocument(text, PROJECT_REGISTRY_FILE, plan);
  const written = await files.write(PROJECT_REGISTRY_FILE, JSON.stringify(doc, null, 2) + '\n', { actor, reason: `registry add ${plan.name}@${plan.version}` });
  return { scope: 'project', file: PROJECT_REGISTRY_FILE, backup: written.backupId, replaced };
}

async function writeUser(plan: InstallPlan, env: NodeJS.ProcessEnv): Promise<WriteResult> {
  const dir = path.join(userHome(env), '.claude', 'mcp', 'servers');
  const file = path.join(dir, `${plan.key}.json`);
  const shown = `~/.claude/mcp/servers/${plan.key}.json`;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(file, { throwIfNoEntry: false });
  if (stat && !stat.isFile()) throw new UserError(`${shown} is not a regular file; nothing was changed`);
  const old = stat ? fs.readFileSync(file, 'utf8') : undefined;
  const { doc, replaced } = mergedDocument(old, shown, plan);
  let backup: string | undefined;
  if (old !== undefined) {
    const backups = path.join(switchboardHome(env), 'backups', 'registry');
    fs.mkdirSync(backups, { recursive: true, mode: 0o700 });
    backup = path.join(backups, `${plan.key}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await atomicReplace(backup, Buffer.from(old), { mode: 0o600 });
  }
  await atomicReplace(file, Buffer.from(JSON.stringify(doc, null, 2) + '\n'), { mode: 0o600 });
  return { scope: 'user', file: shown, backup: backup && `$SWITCHBOARD_HOME/backups/registry/${path.basename(backup)}`, replaced };
}
