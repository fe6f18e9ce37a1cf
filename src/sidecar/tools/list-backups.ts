import { listBackupsDescriptor } from '../protocol/list-backups';
import { defineTool } from './tool';

export const listBackupsTool = defineTool({
  ...listBackupsDescriptor,
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
