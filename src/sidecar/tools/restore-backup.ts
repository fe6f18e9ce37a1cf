import { z } from 'zod';
import { defineTool } from './tool';

export const restoreBackupTool = defineTool({
  name: 'restore_backup',
  description: 'Restore a file from a backup; refuses if edited since Switchboard wrote it unless force (backs it up first).',
  input: { backup_id: z.string().min(1), force: z.boolean().optional() },
  output: { path: z.string(), restored_from: z.string(), backup_id: z.string(), deleted: z.boolean(), forced: z.boolean(), unchanged: z.boolean() },
  annotations: { destructiveHint: true },
  async run(args, { sidecar }) {
    const files = await sidecar.files();
    const r = await files.restore(args.backup_id, { actor: sidecar.actor, force: args.force });
    const what = r.unchanged ? 'already in that state' : r.deleted ? 'deleted (it did not exist before)' : `restored (${r.bytes} bytes)`;
    return {
      text: `${r.path} ${what} from ${r.restoredFrom}${r.unchanged ? '' : `; undo with backup ${r.backupId}`}`,
      structured: { path: r.path, restored_from: r.restoredFrom, backup_id: r.backupId, deleted: r.deleted, forced: r.forced, unchanged: r.unchanged },
    };
  },
});
