import { restoreBackupDescriptor } from '../protocol/restore-backup';
import { defineTool } from './tool';

export const restoreBackupTool = defineTool({
  ...restoreBackupDescriptor,
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
