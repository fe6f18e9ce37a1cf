import { z } from 'zod';
import { defineTool } from './tool';

const backupRow = z.object({ id: z.string(), path: z.string(), time: z.string(), actor: z.string(), bytes: z.number(), existed: z.boolean(), restorable: z.boolean() });

/** One row of `list_backups`'s structuredContent, as the CLI, the demo and the extension read it. */
export type BackupRow = z.infer<typeof backupRow>;

export const listBackupsTool = defineTool({
  name: 'list_backups',
  description: 'List backups made before Switchboard writes, newest first.',
  input: { path: z.string().optional().describe('Only this file'), limit: z.number().int().positive().max(1000).optional() },
  output: {
    backups: z.array(backupRow),
  },
  annotations: { readOnlyHint: true },
  async run(args, { sidecar }) {
    const files = await sidecar.files();
    const list = await files.listBackups({ path: args.path, limit: args.limit ?? 50 });
    const backups = list.map((b) => ({ id: b.id, path: b.path, time: b.time, actor: b.actor, bytes: b.bytes, existed: b.existed, restorable: b.restorable }));
    const text = backups.length
      ? backups.map((b) => `${b.id}  ${b.time}  ${b.path}  ${b.existed ? `${b.bytes} B` : '(did not exist)'}  ${b.actor}`).join('\n')
      : 'no backups';
    return { text, structured: { backups } };
  },
});
