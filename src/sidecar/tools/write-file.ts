import { z } from 'zod';
import { defineTool } from './tool';

export const writeFileTool = defineTool({
  name: 'write_file',
  description: 'Write a workspace file durably, backing up the previous state (restore_backup undoes it).',
  input: { path: z.string().min(1).describe('Workspace-relative path'), content: z.string() },
  output: { path: z.string(), bytes: z.number(), backup_id: z.string(), created: z.boolean() },
  annotations: { idempotentHint: true },
  async run(args, { sidecar }) {
    const files = await sidecar.files();
    const written = await files.write(args.path, args.content, { actor: sidecar.actor, reason: 'write_file' });
    return {
      text: `${written.created ? 'created' : 'wrote'} ${written.path} (${written.bytes} bytes); backup ${written.backupId}`,
      structured: { path: written.path, bytes: written.bytes, backup_id: written.backupId, created: written.created },
    };
  },
});
