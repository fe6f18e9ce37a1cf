import * as z from 'zod';
import { diagnosticShape, hiddenShape, sourceShape } from './common';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

export const listServersDescriptor = describeTool({
  name: 'list_servers',
  description: 'MCP servers after the cascade. check: MCP handshake each (cached 5 min).',
  input: { check: z.boolean().optional() },
  output: {
    servers: z.array(z.object({
      id: z.string(),
      layer: z.string(),
      type: z.string(),
      /** Command line or URL only: env and headers may hold secrets. */
      target: z.string(),
      optional: z.boolean(),
      enabled: z.boolean(),
      source: sourceShape,
      /** Not started because it runs the same command (or URL) as this other server. */
      duplicate_of: z.string().optional(),
      /** Why a non-optional server is not enabled. */
      reason: z.string().optional(),
      hidden: z.array(hiddenShape),
      health: z.object({ status: z.string(), latency_ms: z.number().optional(), tools: z.number().optional(), error: z.string().optional(), checked_at: z.string().optional() }).optional(),
    })),
    diagnostics: z.array(diagnosticShape),
  },
  annotations: { readOnlyHint: true },
});

export type ListServersInput = ToolInput<typeof listServersDescriptor>;
export type ListServersOutput = ToolOutput<typeof listServersDescriptor>;
export type ServerRow = ListServersOutput['servers'][number];
