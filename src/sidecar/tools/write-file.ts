import { writeFileDescriptor } from '../protocol/write-file';
import { defineTool } from './tool';

export const writeFileTool = defineTool({
  ...writeFileDescriptor,
  async run(args, { sidecar }) {
    const files = await sidecar.files();
    const written = await files.write(args.path, args.content, { actor: sidecar.actor, reason: 'write_file' });
    return {
      text: `${written.created ? 'created' : 'wrote'} ${written.path} (${written.bytes} bytes); backup ${written.backupId}`,
      structured: { path: written.path, bytes: written.bytes, backup_id: written.backupId, created: written.created },
    };
  },
});
