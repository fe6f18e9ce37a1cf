import * as z from 'zod';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

export const projectContextDescriptor = describeTool({
  name: 'project_context',
  description: 'PROJECT_CONTEXT.md generated from the repo state. sync: write it if stale (with backup).',
  input: { sync: z.boolean().optional() },
  output: {
    path: z.string(),
    content: z.string(),
    stale: z.boolean(),
    changed: z.boolean(),
    /** The `## ` sections that differ from the file on disk ("(header)" for the title block). */
    sections: z.array(z.string()),
    backup_id: z.string().optional(),
  },
  annotations: { readOnlyHint: false, idempotentHint: true },
});

export type ProjectContextInput = ToolInput<typeof projectContextDescriptor>;
export type ProjectContextOutput = ToolOutput<typeof projectContextDescriptor>;
