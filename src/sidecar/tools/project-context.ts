import { z } from 'zod';
import { defineTool } from './tool';

export const projectContextTool = defineTool({
  name: 'project_context',
  description: 'PROJECT_CONTEXT.md generated from the repo state. sync: write it if stale (with backup).',
  input: { sync: z.boolean().optional() },
  output: { path: z.string(), content: z.string(), stale: z.boolean(), changed: z.boolean(), backup_id: z.string().optional() },
  annotations: { readOnlyHint: false, idempotentHint: true },
  async run(args, { sidecar }) {
    const r = await sidecar.syncContext({ write: args.sync === true });
    const structured = { path: r.path, content: r.content, stale: r.stale, changed: r.changed, ...(r.backupId ? { backup_id: r.backupId } : {}) };
    return { text: r.content, structured };
  },
});
