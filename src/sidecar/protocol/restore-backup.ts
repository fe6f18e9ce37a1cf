import * as z from 'zod';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

export const restoreBackupDescriptor = describeTool({
  name: 'restore_backup',
  description: 'Restore a file from a backup; refuses if edited since Switchboard wrote it unless force (backs it up first).',
  input: { backup_id: z.string().min(1), force: z.boolean().optional() },
  output: { path: z.string(), restored_from: z.string(), backup_id: z.string(), deleted: z.boolean(), forced: z.boolean(), unchanged: z.boolean() },
  annotations: { destructiveHint: true },
});

export type RestoreBackupInput = ToolInput<typeof restoreBackupDescriptor>;
export type RestoreBackupOutput = ToolOutput<typeof restoreBackupDescriptor>;
