import { delegateTool } from './delegate';
import { listAgentsTool } from './list-agents';
import { listBackupsTool } from './list-backups';
import { listServersTool } from './list-servers';
import { projectContextTool } from './project-context';
import { quotaStatusTool } from './quota-status';
import { readFileTool } from './read-file';
import { restoreBackupTool } from './restore-backup';
import { searchRegistryTool } from './search-registry';
import type { ToolDefinition } from './tool';
import { usageReportTool } from './usage-report';
import { writeFileTool } from './write-file';

/** Every tool the sidecar serves, in the order tools/list shows them. */
export const ALL_TOOLS: ToolDefinition[] = [
  delegateTool,
  readFileTool,
  writeFileTool,
  listBackupsTool,
  restoreBackupTool,
  quotaStatusTool,
  listAgentsTool,
  listServersTool,
  projectContextTool,
  searchRegistryTool,
  usageReportTool,
];
