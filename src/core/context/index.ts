/**
 * PROJECT_CONTEXT.md: `collectContextState` reads the state (cascades, router config, ledger quota, audit log,
 * git HEAD), `renderProjectContext` turns it into bytes deterministically, `syncProjectContext` writes it
 * through the file policy only when those bytes changed.
 */
export { collectContextState, readExistingContext, type ContextDeps, type KnownServerHealth } from './collect';
export { readGitBranch, readProjectName } from './git';
export {
  renderProjectContext, extractUserSection, changedSections, CONTEXT_FILE, USER_START, USER_END, GENERATED_MARK, DEFAULT_USER_SECTION,
  type ContextState, type ContextAgent, type ContextServer, type ContextProvider, type ContextQuota, type ContextDelegation,
} from './render';
export { syncProjectContext, type SyncOptions, type SyncResult } from './sync';
