import { listAgentsDescriptor } from '../protocol/list-agents';
import { defineTool } from './tool';
import { formatDiagnostic } from '../../core/diagnostics';
import { diagnosticsOut } from './structured';

export const listAgentsTool = defineTool({
  ...listAgentsDescriptor,
  async run(_args, { sidecar }) {
    const result = sidecar.agents();
    const agents = result.agents.map((a) => ({
      id: a.id,
      layer: a.layer,
      model: a.model,
      description: a.description,
      source: { file: a.source.file, line: a.source.line },
      enabled: a.enabled,
      fallback_models: a.fallbackModels,
      hidden: a.hides.map((h) => ({ layer: h.layer, source: { file: h.file, line: h.line } })),
    }));
    const diagnostics = diagnosticsOut(result.diagnostics, sidecar);
    const lines = agents.map((a) => `${a.id}  [${a.layer}]  ${a.model ?? '-'}  ${a.source.file}:${a.source.line}${a.hidden.length ? `  (overrides ${a.hidden.length})` : ''}${a.enabled ? '' : '  (disabled)'}`);
    if (diagnostics.length) lines.push(`${diagnostics.length} problem(s):`, ...diagnostics.map(formatDiagnostic));
    return { text: lines.join('\n') || 'no agents', structured: { agents, diagnostics } };
  },
});
