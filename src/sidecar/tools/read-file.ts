import { z } from 'zod';
import { defineTool } from './tool';

export const readFileTool = defineTool({
  name: 'read_file',
  description: 'Read a workspace text file (file policy applies).',
  input: { path: z.string().min(1).describe('Workspace-relative path') },
  output: { path: z.string(), bytes: z.number(), sha256: z.string(), content: z.string() },
  annotations: { readOnlyHint: true },
  // The file's bytes, so a read-modify-write keeps it intact; only the user's own key values are masked.
  textIsContent: true,
  async run(args, { sidecar }) {
    const files = await sidecar.files();
    const read = await files.read(args.path, { actor: sidecar.actor });
    return { text: read.text, structured: { path: read.path, bytes: read.bytes, sha256: read.sha256, content: read.text } };
  },
});
