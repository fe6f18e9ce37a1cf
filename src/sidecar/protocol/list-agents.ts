import * as z from 'zod';
import { diagnosticShape, hiddenShape, sourceShape } from './common';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

export const listAgentsDescriptor = describeTool({
  name: 'list_agents',
  description: 'Agents after the cascade, with layer, model and source.',
  input: {},
  output: {
    agents: z.array(z.object({
      id: z.string(),
      layer: z.string(),
      model: z.string().optional(),
      description: z.string().optional(),
      source: sourceShape,
      enabled: z.boolean(),
      fallback_models: z.array(z.string()),
      /** Each lower definition this one overrides, highest first. */
      hidden: z.array(hiddenShape),
    })),
    diagnostics: z.array(diagnosticShape),
  },
  annotations: { readOnlyHint: true },
});

export type ListAgentsInput = ToolInput<typeof listAgentsDescriptor>;
export type ListAgentsOutput = ToolOutput<typeof listAgentsDescriptor>;
