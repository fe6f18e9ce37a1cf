/** File safety: the path policy, durable backed-up writes, restore, and the audit log. See workspace-files.ts. */
export { WorkspaceFiles, type OpenOptions, type WriteOptions, type ReadResult, type WriteResult, type RestoreResult, type RecoverReport, type RecoverOutcome } from './workspace-files';
export { checkPath, createPathContext, PathDenied, type CheckedPath, type PathContext, type PathPurpose, type DenyRule } from './path-guard';
export { loadPolicy, defaultPolicy, forUserAction, BUILTIN_FORBIDDEN, DEFAULT_ALLOWED_EXTENSIONS, DEFAULT_MAX_FILE_BYTES, KEY_MATERIAL, type FilePolicy, type LoadedPolicy } from './policy';
export { appendAudit, readAudit, type AuditRecord, type AuditOp } from './audit';
export { ACTORS, type Actor, type BackupInfo, type PruneReport } from './backups';
