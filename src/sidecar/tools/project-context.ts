import { defineTool } from './tool';
import { z } from 'zod';

export const projectContextTool = defineTool({
  name: 'project_context',
  description: 'PROJECT_CONTEXT.md: agents, MCP servers, quota left, recent delegations.',
  input: {},
  output: { path: z.string(), content: z.string() },
  annotations: { readOnlyHint: true },
  async run(_args, { sidecar }) {
    const content = await sidecar.projectContextText();
    return { text: content, structured: { path: 'PROJECT_CONTEXT.md', content } };
  },
});
