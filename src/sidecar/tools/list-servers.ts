import { z } from 'zod';
import { formatDiagnostic } from '../../core/diagnostics';
import { scrubPaths } from '../plain-error';
import { defineTool } from './tool';

export const listServersTool = defineTool({
  name: 'list_servers',
  description: 'MCP servers after the cascade, with layer and source.',
  input: {},
  output: {
    servers: z.array(z.object({ id: z.string(), layer: z.string(), type: z.string(), target: z.string(), optional: z.boolean(), enabled: z.boolean(), source: z.string() })),
    diagnostics: z.array(z.string()),
  },
  annotations: { readOnlyHint: true },
  async run(_args, { sidecar }) {
    const result = sidecar.servers();
    // Only the command line or URL is shown: env and headers may hold secrets.
    const servers = result.servers.map((s) => ({
      id: s.id,
      layer: s.layer,
      type: s.type,
      target: s.url ?? [s.command, ...(s.args ?? [])].filter(Boolean).join(' '),
      optional: s.optional,
      enabled: s.enabled,
      source: `${s.source.file}:${s.source.line}`,
    }));
    const diagnostics = result.diagnostics.map((d) => scrubPaths(formatDiagnostic(d), sidecar.workspace, sidecar.env));
    const lines = servers.map((s) => `${s.id}  [${s.layer}]  ${s.type}  ${s.target}${s.optional ? '  (optional)' : ''}${s.enabled ? '' : '  (not enabled)'}`);
    if (diagnostics.length) lines.push(`${diagnostics.length} problem(s):`, ...diagnostics);
    return { text: lines.join('\n') || 'no servers', structured: { servers, diagnostics } };
  },
});
