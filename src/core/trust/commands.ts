/**
 * The commands a project configures, each named by its slot, so `switchboard trust` can pin them and the code
 * that runs one can check it against its pin (SPEC "Trust": a changed command needs trust again).
 *
 * Slots so far:
 * - `server:<id>` — a project-defined MCP server (`.mcp.json`, `.mcp/servers/*.json`, `.vscode/mcp.json`) or a
 *   docker/npx recipe from `.mcp/discovery-config.yaml`: what a health check would start or request.
 * - `verify.<kind>` — a verification check the project's `.mcp/router.yaml` `verify:` configures. (Detected
 *   checks are pinned on first use under `verify.<kind>.detected:<template>`; see core/verify/resolve.ts.)
 */
import { ServerCascade, type McpServer } from '../cascade';
import { loadRouterConfig } from '../router/config';
import type { ProjectCommand } from './index';
import { isProjectServer } from './layers';

/** A server as a pinned command: the command line (or URL) shown, everything that decides what runs hashed. */
export function serverCommand(server: McpServer): ProjectCommand {
  const text = server.url ? `${server.type} ${server.url}` : [server.command, ...(server.args ?? [])].filter(Boolean).join(' ');
  const fingerprint = JSON.stringify({
    type: server.type,
    command: server.command ?? null,
    args: server.args ?? [],
    env: sorted(server.env),
    cwd: server.cwd ?? null,
    url: server.url ?? null,
    headers: sorted(server.headers),
  });
  return { slot: `server:${server.id}`, text, fingerprint };
}

/** Every command the project in `workspace` configures now, in a stable order. */
export function projectCommands(workspace: string, env: NodeJS.ProcessEnv = process.env, servers?: readonly McpServer[]): ProjectCommand[] {
  const list = servers ?? new ServerCascade({ workspace, env }).load().servers;
  const commands = list.filter(isProjectServer).map(serverCommand);
  const { verify } = loadRouterConfig({ workspace, env }).config;
  for (const [task, check] of Object.entries(verify.checks)) {
    if (check.layer === 'project' && check.command !== undefined) commands.push({ slot: `verify.${task}`, text: check.command });
  }
  return commands.sort((a, b) => (a.slot < b.slot ? -1 : a.slot > b.slot ? 1 : 0));
}

function sorted(record: Readonly<Record<string, string>> | undefined): Array<[string, string]> {
  return Object.entries(record ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
