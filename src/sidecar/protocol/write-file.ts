import * as z from 'zod';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

export const writeFileDescriptor = describeTool({
  name: 'write_file',
  description: 'Write a workspace file durably, backing up the previous state (restore_backup undoes it).',
  input: { path: z.string().min(1).describe('Workspace-relative path'), content: z.string() },
  output: { path: z.string(), bytes: z.number(), backup_id: z.string(), created: z.boolean() },
  annotations: { idempotentHint: true },
});

export type WriteFileInput = ToolInput<typeof writeFileDescriptor>;
export type WriteFileOutput = ToolOutput<typeof writeFileDescriptor>;
