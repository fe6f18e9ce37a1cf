import * as z from 'zod';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

export const DELEGATE_TASKS = ['tests', 'docs', 'boilerplate', 'code', 'review'] as const;

export const delegateDescriptor = describeTool({
  name: 'delegate',
  description:
    'Route a generation task to the cheapest capable model (local, free, then paid if allowed). output_path: write the answer there, backed up. A long answer goes to answer_path.',
  input: {
    task: z.string().min(1).describe(DELEGATE_TASKS.join('|')),
    prompt: z.string().min(1),
    files: z.array(z.string()).max(50).optional().describe('Context files'),
    provider: z.string().optional().describe('Provider id, or auto'),
    agent: z.string().optional().describe('Agent id'),
    output_path: z.string().optional(),
    max_tokens: z.number().int().positive().max(200_000).optional(),
  },
  output: {
    provider: z.string(),
    model: z.string(),
    tier: z.string(),
    input_tokens: z.number(),
    output_tokens: z.number(),
    cost_usd: z.number(),
    quota_left: z.array(z.object({ metric: z.string(), window: z.string(), left: z.number(), limit: z.number() })),
    backup_id: z.string().optional(),
    complete: z.boolean(),
    skipped: z.array(z.string()),
    /** Without output_path, an answer too long for the client is saved here (workspace path); the text is its head. */
    answer_path: z.string().optional(),
  },
  annotations: { openWorldHint: true },
});

export type DelegateInput = ToolInput<typeof delegateDescriptor>;
export type DelegateOutput = ToolOutput<typeof delegateDescriptor>;
