import { z } from 'zod';
import { formatDiagnostic } from '../../core/diagnostics';
import { maskCommandArgs, redact } from '../../core/redact';
import { scrubPaths } from '../plain-error';
import { defineTool } from './tool';

export const listServersTool = defineTool({
  name: 'list_servers',
  description: 'MCP servers after the cascade. check: MCP handshake each (cached 5 min).',
  input: { check: z.boolean().optional() },
  output: {
    servers: z.array(z.object({
      id: z.string(), layer: z.string(), type: z.string(), target: z.string(), optional: z.boolean(), enabled: z.boolean(), source: z.string(),
      health: z.object({ status: z.string(), latency_ms: z.number().optional(), tools: z.number().optional(), error: z.string().optional(), checked_at: z.string().optional() }).optional(),
    })),
    diagnostics: z.array(z.string()),
  },
  annotations: { readOnlyHint: true },
  async run(args, { sidecar }) {
    const result = sidecar.servers();
    const health = await sidecar.serverHealth({ check: args.check === true });
    // Only the command line or URL is shown: env and headers may hold secrets.
    const servers = result.servers.map((s) => {
      const h = health[s.id];
      return {
        id: s.id,
        layer: s.layer,
        type: s.type,
        // Tokens in the arguments (`--token ghp_…`) are masked; the URL's query and password by redact.
        target: redact(s.url ?? [s.command, ...maskCommandArgs(s.args ?? [], sidecar.env)].filter(Boolean).join(' '), sidecar.env),
        optional: s.optional,
        enabled: s.enabled,
        source: `${s.source.file}:${s.source.line}`,
        ...(h ? { health: { status: h.status, latency_ms: h.latencyMs, tools: h.toolCount, error: h.error && scrubPaths(h.error, sidecar.workspace, sidecar.env), checked_at: h.checkedAt } } : {}),
      };
    });
    const diagnostics = result.diagnostics.map((d) => scrubPaths(formatDiagnostic(d), sidecar.workspace, sidecar.env));
    const lines = servers.map((s) => {
      const h = s.health ? `  ${s.health.status}${s.health.latency_ms !== undefined ? ` ${s.health.latency_ms} ms` : ''}${s.health.tools !== undefined ? ` ${s.health.tools} tools` : ''}` : '';
      return `${s.id}  [${s.layer}]  ${s.type}  ${s.target}${s.optional ? '  (optional)' : ''}${s.enabled ? '' : '  (not enabled)'}${h}`;
    });
    if (diagnostics.length) lines.push(`${diagnostics.length} problem(s):`, ...diagnostics);
    return { text: lines.join('\n') || 'no servers', structured: { servers, diagnostics } };
  },
});
