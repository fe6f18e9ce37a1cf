import { z } from 'zod';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

const hit = z.object({
  name: z.string(),
  description: z.string(),
  version: z.string().optional(),
  status: z.string(),
  types: z.array(z.string()),
});

/** Terse on purpose: tools/list as a whole must stay under 6,000 characters. Cache age is in the text. */
export const searchRegistryDescriptor = describeTool({
  name: 'search_registry',
  description: 'Search the MCP registry cache (read-only); install: `switchboard registry add NAME`.',
  input: {
    query: z.string().max(200),
    type: z.string().max(16).optional(),
    transport: z.enum(['stdio', 'http', 'sse']).optional(),
  },
  output: {
    results: z.array(hit),
    cache_age_s: z.number().optional(),
  },
  annotations: { readOnlyHint: true },
});

export type SearchRegistryInput = ToolInput<typeof searchRegistryDescriptor>;
export type SearchRegistryOutput = ToolOutput<typeof searchRegistryDescriptor>;
