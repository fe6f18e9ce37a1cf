import { ServerCascade, maskServerSecrets, type McpServer, type ServerCascadeResult } from '../../core/cascade';
import { redact, redactDeep } from '../../core/redact';
import { parseCommandArgs } from './args';
import { checkWorkspace, diagnosticSummary, formatTable, printDiagnostics } from './format';
import { printJson, type Command } from './commands';
import { checkServers, managedKeysFor, type ServerHealth } from '../health';
import { decideTrust, isProjectServer } from '../../core/trust';

/**
 * The servers as listed: secrets in env/headers masked. This is the seam for `servers --check`: a health check
 * takes this list, probes each enabled server (bounded by server.timeouts.health_ms) and adds a status column.
 */
export function collectServers(workspace: string, env: NodeJS.ProcessEnv = process.env): ServerCascadeResult {
  const result = new ServerCascade({ workspace, env }).load();
  return { servers: result.servers.map((s) => maskServerSecrets(s)), diagnostics: result.diagnostics };
}

function status(s: McpServer): string {
  if (s.duplicateOf) return `duplicate of ${s.duplicateOf}`;
  if (s.enabled) return s.layer === 'external' ? 'running' : 'enabled';
  return s.optional ? 'optional (off)' : 'disabled';
}

function launch(s: McpServer): string {
  const text = s.url ?? [s.command, ...(s.args ?? [])].join(' ');
  return text.length > 60 ? text.slice(0, 59) + '…' : text;
}

/** With `health` (servers --check), HEALTH / LATENCY / TOOLS columns follow STATUS and a failure's reason goes in NOTE. */
export function serversTable(servers: McpServer[], health?: Map<string, ServerHealth>): string {
  const checkCols = (h: ServerHealth | undefined) => (health ? [h?.status ?? '', h?.latencyMs !== undefined ? `${h.latencyMs} ms${h.cached ? ' (cached)' : ''}` : '', h?.toolCount !== undefined ? String(h.toolCount) : ''] : []);
  const rows: string[][] = [['NAME', 'LAYER', 'STATUS', ...(health ? ['HEALTH', 'LATENCY', 'TOOLS'] : []), 'COMMAND / URL', 'SOURCE', 'NOTE']];
  for (const s of servers) {
    const h = health?.get(s.id);
    const note = [s.hides.length ? `overrides ${s.hides.map((x) => x.layer).join(', ')}` : '', h?.error ?? h?.note ?? ''].filter(Boolean).join('; ');
    rows.push([s.id, s.layer, status(s), ...checkCols(h), launch(s), `${s.source.file}:${s.source.line}`, note]);
    for (const x of s.hides) rows.push(['  ↳ overridden', x.layer, '', ...(health ? ['', '', ''] : []), '', `${x.file}:${x.line}`, '']);
  }
  return formatTable(rows);
}

export const serversCommand: Command = {
  name: 'servers',
  summary: 'List MCP servers from the cascade (running, ~/.claude, .mcp/, .mcp.json, .vscode/mcp.json, docker, npx)',
  async run(argv) {
    const { common, values } = parseCommandArgs(argv, { check: { type: 'boolean' } });
    checkWorkspace(common.workspace, values.workspace);
    const result = collectServers(common.workspace);
    const trust = decideTrust(common.workspace);
    let health: Map<string, ServerHealth> | undefined;
    if (values.check === true) {
      // The unmasked definitions: a masked env value would start the server with "[REDACTED]" as its key.
      const raw = new ServerCascade({ workspace: common.workspace }).load();
      health = new Map((await checkServers(raw.servers, { cwd: common.workspace, trust, managedKeys: managedKeysFor(process.env) })).map((h) => [h.id, h]));
    }
    // Told on stderr in either output mode; the JSON keeps its shape.
    if (!trust.trusted && result.servers.some(isProjectServer)) {
      process.stderr.write(`switchboard: the servers this project defines are listed but never ${values.check === true ? 'checked' : 'started'}: ${trust.explanation}\n`);
    }
    if (common.json) {
      printJson(redactDeep(health ? { ...result, servers: result.servers.map((s) => ({ ...s, health: health!.get(s.id) })) } : result));
      return 0;
    }
    const lines = [result.servers.length ? serversTable(result.servers, health) : 'No MCP servers found.'];
    lines.push('', `${result.servers.length} server(s); ${diagnosticSummary(result.diagnostics)}.`);
    process.stdout.write(redact(lines.join('\n')) + '\n');
    printDiagnostics(result.diagnostics);
    return 0;
  },
};
