import { z } from 'zod';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

const hit = z.object({
  name: z.string(),
  title: z.string().optional(),
  description: z.string(),
  version: z.string().optional(),
  status: z.enum(['active', 'deprecated', 'deleted']),
  types: z.array(z.string()),
  transports: z.array(z.string()),
});

export const searchRegistryDescriptor = describeTool({
  name: 'search_registry',
  description: 'Search the MCP server registry (local cache). Read-only: suggests servers; the user installs with `switchboard registry add NAME`.',
  input: {
    query: z.string().max(200).describe('words, all required'),
    type: z.enum(['npm', 'pypi', 'oci', 'nuget', 'mcpb', 'remote']).optional(),
    transport: z.enum(['stdio', 'http', 'sse']).optional(),
    limit: z.number().int().min(1).max(50).default(10),
  },
  output: {
    results: z.array(hit),
    cache: z.object({ synced_at: z.string().optional(), age_s: z.number().optional(), entries: z.number(), errors: z.array(z.string()) }),
  },
  annotations: { readOnlyHint: true, idempotentHint: true },
});

export type SearchRegistryInput = ToolInput<typeof searchRegistryDescriptor>;
export type SearchRegistryOutput = ToolOutput<typeof searchRegistryDescriptor>;
