import { ServerCascade, maskServerSecrets, type McpServer, type ServerCascadeResult } from '../../core/cascade';
import { redact, redactDeep } from '../../core/redact';
import { parseCommandArgs } from './args';
import { checkWorkspace, formatTable, printDiagnostics } from './agents';
import { printJson, type Command } from './commands';

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

export function serversTable(servers: McpServer[]): string {
  const rows: string[][] = [['NAME', 'LAYER', 'STATUS', 'COMMAND / URL', 'SOURCE', 'NOTE']];
  for (const s of servers) {
    rows.push([s.id, s.layer, status(s), launch(s), `${s.source.file}:${s.source.line}`, s.hides.length ? `overrides ${s.hides.map((h) => h.layer).join(', ')}` : '']);
    for (const h of s.hides) rows.push(['  ↳ overridden', h.layer, '', '', `${h.file}:${h.line}`, '']);
  }
  return formatTable(rows);
}

export const serversCommand: Command = {
  name: 'servers',
  summary: 'List MCP servers from the cascade (running, ~/.claude, .mcp/, .mcp.json, .vscode/mcp.json, docker, npx)',
  async run(argv) {
    const { common, values } = parseCommandArgs(argv);
    checkWorkspace(common.workspace, values.workspace);
    const result = collectServers(common.workspace);
    if (common.json) {
      printJson(redactDeep(result));
      return 0;
    }
    const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = result.diagnostics.length - errors;
    const lines = [result.servers.length ? serversTable(result.servers) : 'No MCP servers found.'];
    lines.push('', `${result.servers.length} server(s); ${errors} error(s), ${warnings} warning(s)${result.diagnostics.length ? ' (on stderr)' : ''}.`);
    process.stdout.write(redact(lines.join('\n')) + '\n');
    printDiagnostics(result.diagnostics);
    return 0;
  },
};
