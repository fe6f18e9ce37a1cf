import os from 'node:os';
import path from 'node:path';
import { isUserError } from '../core/errors';
import { ProviderError } from '../core/providers/types';
import { redact } from '../core/redact';

/**
 * Turns any failure into the one line a client may see: the message of a user error or provider failure as is,
 * anything else marked as internal; then redacted, workspace paths made relative, the home folder shown as `~`,
 * and any other absolute path reduced to its last segment. Never a stack.
 */
export function plainErrorMessage(err: unknown, workspace: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  let message: string;
  if (isUserError(err) || err instanceof ProviderError) message = err.message;
  else if (err instanceof Error && err.name === 'AbortError') message = 'cancelled';
  else message = `internal error: ${err instanceof Error ? err.message : String(err)}`;
  message = message.split('\n')[0]!.trim() || 'failed';
  return scrubPaths(redact(message, env), workspace, env);
}

export function scrubPaths(text: string, workspace: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  if (workspace) {
    // Longest first, with and without the trailing separator, so "<ws>/src/a.ts" becomes "src/a.ts".
    for (const root of [workspace + path.sep, workspace]) out = out.split(root).join(root === workspace ? '.' : '');
  }
  const home = env.HOME || os.homedir();
  if (home && home !== '/') out = out.split(home + path.sep).join('~/');
  // Anything still absolute lies outside the workspace: keep only its last segment.
  return out.replace(/(^|[\s'"`(=:])\/(?:[^\s'"`()/]+\/)+([^\s'"`()/]*)/g, (_m, lead: string, last: string) => `${lead}…/${last}`);
}
