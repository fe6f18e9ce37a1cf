import { WorkspaceFiles, type Actor } from '../files';
import { collectContextState, readExistingContext, type ContextDeps } from './collect';
import { CONTEXT_FILE, changedSections, renderProjectContext } from './render';

export interface SyncOptions {
  /** Who asks (recorded with the backup and in the audit log). */
  actor: Actor;
  /** Compare only: write nothing, report whether the file is stale. */
  check?: boolean;
  /** An already-open file layer (the sidecar's); opened here when absent. */
  files?: WorkspaceFiles;
}

export interface SyncResult {
  /** The file was (re)written. */
  changed: boolean;
  /** The file on disk differs from what the state renders to (after a write: false). */
  stale: boolean;
  /** Workspace-relative. */
  path: string;
  /** Backup of the previous state (restore it to undo); only when written. */
  backupId?: string;
  /** There was a PROJECT_CONTEXT.md before this run. */
  existed: boolean;
  /** `## ` sections that differ ("(header)" for the title block); empty when nothing changed. */
  sections: string[];
  /** The rendered text (what is, or would be, on disk). */
  content: string;
}

/**
 * Regenerates PROJECT_CONTEXT.md when the state changed. Nothing is written when the rendered bytes equal the
 * file's (so its mtime and the editor's buffer stay put); a write goes through the file policy with a backup.
 */
export async function syncProjectContext(workspace: string, deps: ContextDeps, options: SyncOptions): Promise<SyncResult> {
  const existing = readExistingContext(workspace);
  let content = renderProjectContext(await collectContextState(workspace, deps, existing));
  // A checkout with core.autocrlf turns the file to CRLF: keep its line endings, or every check says stale.
  if (existing !== undefined && /^[^\n]*\r\n/.test(existing)) content = content.replace(/\r?\n/g, '\r\n');
  const existed = existing !== undefined;
  if (existing === content) return { changed: false, stale: false, path: CONTEXT_FILE, existed, sections: [], content };
  const sections = changedSections(existing, content);
  if (options.check) return { changed: false, stale: true, path: CONTEXT_FILE, existed, sections, content };
  const files = options.files ?? (await WorkspaceFiles.open(workspace, { actor: options.actor }));
  const written = await files.write(CONTEXT_FILE, content, { actor: options.actor, reason: 'regenerate project context' });
  // What the write found, not the first look: a file too large or unreadable for the comparison was still replaced.
  return { changed: true, stale: false, path: written.path, backupId: written.backupId, existed: !written.created, sections, content };
}
