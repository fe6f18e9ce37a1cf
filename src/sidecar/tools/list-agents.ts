import { z } from 'zod';
import { formatDiagnostic } from '../../core/diagnostics';
import { scrubPaths } from '../plain-error';
import { defineTool } from './tool';

export const listAgentsTool = defineTool({
  name: 'list_agents',
  description: 'Agents after the cascade, with layer, model and source.',
  input: {},
  output: {
    agents: z.array(z.object({ id: z.string(), layer: z.string(), model: z.string().optional(), description: z.string().optional(), source: z.string(), hides: z.number(), enabled: z.boolean(),
      // What the editor's Agents view needs besides the above: fallbacks, and each hidden lower definition.
      fallback_models: z.array(z.string()).optional(), hidden: z.array(z.object({ layer: z.string(), source: z.string() })).optional() })),
    diagnostics: z.array(z.string()),
  },
  annotations: { readOnlyHint: true },
  async run(_args, { sidecar }) {
    const result = sidecar.agents();
    const agents = result.agents.map((a) => ({
      id: a.id,
      layer: a.layer,
      model: a.model,
      description: a.description,
      source: `${a.source.file}:${a.source.line}`,
      hides: a.hides.length,
      enabled: a.enabled,
      fallback_models: a.fallbackModels,
      hidden: a.hides.map((h) => ({ layer: h.layer, source: `${h.file}:${h.line}` })),
    }));
    const diagnostics = result.diagnostics.map((d) => scrubPaths(formatDiagnostic(d), sidecar.workspace, sidecar.env));
    const lines = agents.map((a) => `${a.id}  [${a.layer}]  ${a.model ?? '-'}  ${a.source}${a.hides ? `  (overrides ${a.hides})` : ''}${a.enabled ? '' : '  (disabled)'}`);
    if (diagnostics.length) lines.push(`${diagnostics.length} problem(s):`, ...diagnostics);
    return { text: lines.join('\n') || 'no agents', structured: { agents, diagnostics } };
  },
});
