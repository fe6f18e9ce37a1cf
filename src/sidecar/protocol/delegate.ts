import * as z from 'zod';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

export const DELEGATE_TASKS = ['tests', 'docs', 'boilerplate', 'code', 'review'] as const;

export const verificationAttemptShape = z.object({
  provider: z.string(),
  model: z.string(),
  passed: z.boolean(),
  summary: z.string(),
  repair: z.boolean().optional(),
  cost_usd: z.number().optional(),
});

/** `verification` in delegate's structuredContent. */
export const verificationShape = z.object({
  status: z.enum(['passed', 'failed', 'skipped']),
  command: z.string().optional(),
  origin: z.string().optional(),
  reason: z.string().optional(),
  attempts: z.array(verificationAttemptShape),
});

export const delegateDescriptor = describeTool({
  name: 'delegate',
  description:
    'Route a generation task to the cheapest capable model (local, free, then paid if allowed). output_path: write the answer there, backed up, kept only if the project\'s check passes. A long answer goes to answer_path.',
  input: {
    task: z.string().min(1).describe(DELEGATE_TASKS.join('|')),
    prompt: z.string().min(1),
    files: z.array(z.string()).max(50).optional().describe('Context files'),
    provider: z.string().optional().describe('Provider id, or auto'),
    agent: z.string().optional().describe('Agent id'),
    output_path: z.string().optional(),
    max_tokens: z.number().int().positive().max(200_000).optional(),
    verify: z.boolean().optional().describe('false: write unchecked'),
    propose: z.boolean().optional().describe('Check at output_path, return text, keep file'),
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
    /** With output_path: whether the project's check passed (failed never returns here: it is an isError result). */
    verification: verificationShape.optional(),
    /** Every generation of a verified delegation, failed attempts included (cost_usd is the accepted one's). */
    total_cost_usd: z.number().optional(),
  },
  annotations: { openWorldHint: true },
});

export type DelegateInput = ToolInput<typeof delegateDescriptor>;
export type DelegateOutput = ToolOutput<typeof delegateDescriptor>;
