/**
 * Every tool's descriptor by name: clients call tools by name and get the types of that tool's input and
 * output (`InputOf<'quota_status'>`), so code that imports this folder for types only stays fully typed.
 */
import { delegateDescriptor } from './delegate';
import type { ToolInput, ToolOutput } from './descriptor';
import { listAgentsDescriptor } from './list-agents';
import { listBackupsDescriptor } from './list-backups';
import { listServersDescriptor } from './list-servers';
import { projectContextDescriptor } from './project-context';
import { quotaStatusDescriptor } from './quota-status';
import { readFileDescriptor } from './read-file';
import { restoreBackupDescriptor } from './restore-backup';
import { searchRegistryDescriptor } from './search-registry';
import { usageReportDescriptor } from './usage-report';
import { writeFileDescriptor } from './write-file';

export const TOOL_DESCRIPTORS = {
  delegate: delegateDescriptor,
  read_file: readFileDescriptor,
  write_file: writeFileDescriptor,
  list_backups: listBackupsDescriptor,
  restore_backup: restoreBackupDescriptor,
  quota_status: quotaStatusDescriptor,
  list_agents: listAgentsDescriptor,
  list_servers: listServersDescriptor,
  project_context: projectContextDescriptor,
  search_registry: searchRegistryDescriptor,
  usage_report: usageReportDescriptor,
} as const;

export type ToolDescriptors = typeof TOOL_DESCRIPTORS;
export type ToolName = keyof ToolDescriptors;
export type InputOf<N extends ToolName> = ToolInput<ToolDescriptors[N]>;
export type OutputOf<N extends ToolName> = ToolOutput<ToolDescriptors[N]>;
