import { projectContextDescriptor } from '../protocol/project-context';
import { defineTool } from './tool';

export const projectContextTool = defineTool({
  ...projectContextDescriptor,
  async run(args, { sidecar }) {
    const r = await sidecar.syncContext({ write: args.sync === true });
    const structured = { path: r.path, content: r.content, stale: r.stale, changed: r.changed, sections: r.sections, ...(r.backupId ? { backup_id: r.backupId } : {}) };
    return { text: r.content, structured };
  },
});
