import * as z from 'zod';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

export const listBackupsDescriptor = describeTool({
  name: 'list_backups',
  description: 'List backups made before Switchboard writes, newest first.',
  input: { path: z.string().optional().describe('Only this file'), limit: z.number().int().positive().max(1000).optional() },
  output: {
    backups: z.array(z.object({ id: z.string(), path: z.string(), time: z.string(), actor: z.string(), bytes: z.number(), existed: z.boolean(), restorable: z.boolean() })),
  },
  annotations: { readOnlyHint: true },
});

export type ListBackupsInput = ToolInput<typeof listBackupsDescriptor>;
export type ListBackupsOutput = ToolOutput<typeof listBackupsDescriptor>;
/** One row of `list_backups`. */
export type BackupRow = ListBackupsOutput['backups'][number];
