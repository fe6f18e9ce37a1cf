/** Which server layers a repository defines: cheap to import (no cascade, no parser), for the serve path. */
import type { McpServer } from '../cascade';

/** Server layers whose definitions come from the workspace (the project layer of SPEC "Trust"). */
export const PROJECT_SERVER_LAYERS: ReadonlySet<string> = new Set(['project', 'docker', 'npx']);

export function isProjectServer(server: Pick<McpServer, 'layer'>): boolean {
  return PROJECT_SERVER_LAYERS.has(server.layer);
}
