/**
 * For files Switchboard reads by itself from the workspace (agent definitions, the project context, package.json)
 * rather than through the file tools: the same containment rules as the path guard — the real file (links
 * followed) lies inside the workspace, is a regular file with one link, and is not key material — without the
 * file tools' forbidden list and extension allowlist (agent files live in `.claude/agents/`, which the file
 * tools may not touch).
 */
import fs from 'node:fs';
import path from 'node:path';
import { forbiddenMatch } from './path-guard';
import { KEY_MATERIAL } from './policy';

export type Confined = { ok: true; real: string; stat: fs.Stats } | { ok: false; missing: boolean; reason: string };

export function confineToWorkspace(workspace: string, file: string): Confined {
  let real: string;
  let root: string;
  try {
    root = fs.realpathSync.native(workspace);
  } catch {
    return { ok: false, missing: true, reason: 'the workspace folder does not exist' };
  }
  try {
    real = fs.realpathSync.native(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, missing: code === 'ENOENT', reason: code === 'ENOENT' ? 'it does not exist (or is a link to nothing)' : `it cannot be resolved (${code ?? 'error'})` };
  }
  const rel = path.relative(root, real);
  if (rel === '' || rel === '..' || rel.startsWith('..' + path.sep) || path.isAbsolute(rel)) {
    return { ok: false, missing: false, reason: 'it is a link to a file outside the workspace, which is never read' };
  }
  const given = path.relative(path.resolve(workspace), path.resolve(file));
  for (const parts of [rel.split(path.sep), given.split(path.sep)]) {
    const hit = forbiddenMatch(KEY_MATERIAL, parts);
    if (hit) return { ok: false, missing: false, reason: `"${hit}" is key material, which is never read` };
  }
  const stat = fs.statSync(real);
  if (!stat.isFile()) return { ok: false, missing: false, reason: 'it is not a regular file' };
  if (stat.nlink > 1) return { ok: false, missing: false, reason: 'it has several hard links, so its content may live outside the workspace' };
  return { ok: true, real, stat };
}
