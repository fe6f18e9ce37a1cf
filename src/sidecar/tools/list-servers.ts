import type { McpServer } from '../../core/cascade';
import { maskCommandArgs, redact } from '../../core/redact';
import { isProjectServer } from '../../core/trust';
import { scrubPaths } from '../plain-error';
import { listServersDescriptor } from '../protocol/list-servers';
import { defineTool } from './tool';
import { formatDiagnostic } from '../../core/diagnostics';
import { diagnosticsOut } from './structured';

export const listServersTool = defineTool({
  ...listServersDescriptor,
  async run(args, { sidecar }) {
    const result = sidecar.servers();
    const trust = sidecar.trust();
    const health = await sidecar.serverHealth({ check: args.check === true });
    // Only the command line or URL is shown: env and headers may hold secrets.
    const servers = result.servers.map((s) => {
      const h = health[s.id];
      const reason = disabledReason(s);
      return {
        id: s.id,
        layer: s.layer,
        type: s.type,
        // Tokens in the arguments (`--token ghp_…`) are masked; the URL's query and password by redact.
        target: redact(s.url ?? [s.command, ...maskCommandArgs(s.args ?? [], sidecar.env)].filter(Boolean).join(' '), sidecar.env),
        optional: s.optional,
        enabled: s.enabled,
        source: { file: s.source.file, line: s.source.line },
        ...(s.duplicateOf ? { duplicate_of: s.duplicateOf } : {}),
        ...(reason ? { reason } : {}),
        hidden: s.hides.map((x) => ({ layer: x.layer, source: { file: x.file, line: x.line } })),
        ...(h ? { health: { status: h.status, latency_ms: h.latencyMs, tools: h.toolCount, error: h.error && scrubPaths(h.error, sidecar.workspace, sidecar.env), checked_at: h.checkedAt } } : {}),
      };
    });
    const diagnostics = diagnosticsOut([...result.diagnostics, ...sidecar.untrustedServerDiagnostics(trust)], sidecar);
    const lines = servers.map((s) => {
      const h = s.health ? `  ${s.health.status}${s.health.latency_ms !== undefined ? ` ${s.health.latency_ms} ms` : ''}${s.health.tools !== undefined ? ` ${s.health.tools} tools` : ''}` : '';
      const state = s.duplicate_of ? `  (duplicate of ${s.duplicate_of})` : s.enabled ? '' : s.optional ? '  (optional, off)' : '  (not enabled)';
      return `${s.id}  [${s.layer}]  ${s.type}  ${s.target}${state}${s.hidden.length ? `  (overrides ${s.hidden.length})` : ''}${h}`;
    });
    if (!trust.trusted && result.servers.some(isProjectServer)) {
      lines.push(`${args.check ? 'Not checked' : 'Never started'}: the servers this project defines (${trust.explanation}).`);
    }
    if (diagnostics.length) lines.push(`${diagnostics.length} problem(s):`, ...diagnostics.map(formatDiagnostic));
    return { text: lines.join('\n') || 'no servers', structured: { servers, diagnostics } };
  },
});

/** Why a server that is not optional is not started; undefined when it is enabled or merely optional and off. */
function disabledReason(s: McpServer): string | undefined {
  if (s.enabled) return undefined;
  if (s.duplicateOf) return `same command as ${s.duplicateOf}`;
  if (s.optional) return undefined;
  return 'disabled in .mcp/discovery-config.yaml';
}
