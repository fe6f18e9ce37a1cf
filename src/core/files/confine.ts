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
type Refusal = { ok: false; missing: boolean; reason: string };
type Resolved = { ok: true; real: string; realParts: string[]; givenParts: string[] };

export function confineToWorkspace(workspace: string, file: string): Confined {
  const resolved = resolveInside(workspace, file, false);
  if (!resolved.ok) return resolved;
  const stat = fs.statSync(resolved.real);
  const refusal = fileRefusal(stat);
  return refusal ? { ok: false, missing: false, reason: refusal } : { ok: true, real: resolved.real, stat };
}

/**
 * A workspace folder whose files are read many at a time (an agent layer): its real path is resolved and checked
 * once per load instead of once per file. Files in it are then opened by name without following a final link
 * (openInFolder), so a plain file needs no per-file path resolution, and a link takes confineToWorkspace's path.
 */
export type ConfinedFolder = Resolved | Refusal;

/** The longest key-material pattern, in path components: a match that involves a file's name spans at most this many. */
const KEY_MATERIAL_SPAN = Math.max(...KEY_MATERIAL.map((p) => p.split('/').filter(Boolean).length));

export function confineFolder(workspace: string, dir: string): ConfinedFolder {
  return resolveInside(workspace, dir, true);
}

/**
 * Resolves `target` (links followed) and checks it lies inside the workspace (the workspace itself only when
 * `rootAllowed`) and that neither its real nor its given path names key material.
 */
function resolveInside(workspace: string, target: string, rootAllowed: boolean): Resolved | Refusal {
  let root: string;
  let real: string;
  try {
    root = fs.realpathSync.native(workspace);
  } catch {
    return { ok: false, missing: true, reason: 'the workspace folder does not exist' };
  }
  try {
    real = fs.realpathSync.native(target);
  } catch (err) {
    return unresolved(err);
  }
  const rel = path.relative(root, real);
  if ((rel === '' && !rootAllowed) || rel === '..' || rel.startsWith('..' + path.sep) || path.isAbsolute(rel)) {
    return { ok: false, missing: false, reason: 'it is a link to a file outside the workspace, which is never read' };
  }
  const realParts = rel === '' ? [] : rel.split(path.sep);
  const given = path.relative(path.resolve(workspace), path.resolve(target));
  const givenParts = given === '' ? [] : given.split(path.sep);
  for (const parts of [realParts, givenParts]) {
    const hit = forbiddenMatch(KEY_MATERIAL, parts);
    if (hit) return { ok: false, missing: false, reason: `"${hit}" is key material, which is never read` };
  }
  return { ok: true, real, realParts, givenParts };
}

function unresolved(err: unknown): Refusal {
  const code = (err as NodeJS.ErrnoException).code;
  return { ok: false, missing: code === 'ENOENT', reason: code === 'ENOENT' ? 'it does not exist (or is a link to nothing)' : `it cannot be resolved (${code ?? 'error'})` };
}

/** Why a file that resolved inside the workspace is still not read: not a regular file, or several hard links. */
function fileRefusal(stat: fs.Stats): string | undefined {
  return !stat.isFile() ? 'it is not a regular file' : stat.nlink > 1 ? 'it has several hard links, so its content may live outside the workspace' : undefined;
}

export type OpenedFile = { ok: true; fd: number; stat: fs.Stats } | Refusal | { ok: false; link: true };

// O_NONBLOCK: opening a FIFO planted under an agent's name returns at once (and fstat then refuses it).
const NO_FOLLOW = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/**
 * Opens `name` inside a folder confineFolder accepted, with the same rules as confineToWorkspace: key-material
 * names refused, a regular file with one link only. A final link is not followed: the answer is `link` and the
 * caller resolves it with confineToWorkspace. The file is opened at the folder's real path, and fstat is taken
 * on what was opened, so nothing can be swapped in between the check and the read.
 */
export function openInFolder(folder: Extract<ConfinedFolder, { ok: true }>, name: string): OpenedFile {
  for (const parts of [folder.realParts, folder.givenParts]) {
    const hit = forbiddenMatch(KEY_MATERIAL, [...parts.slice(Math.max(0, parts.length - (KEY_MATERIAL_SPAN - 1))), name]);
    if (hit) return { ok: false, missing: false, reason: `"${hit}" is key material, which is never read` };
  }
  return openChecked(path.join(folder.real, name));
}

/** Opens an already-resolved path without following a link, and checks what was opened. */
export function openChecked(file: string): OpenedFile {
  let fd: number;
  try {
    fd = fs.openSync(file, NO_FOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { ok: false, link: true };
    return unresolved(err);
  }
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    return { ok: false, missing: false, reason: `it cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  const refusal = fileRefusal(stat);
  if (refusal) {
    fs.closeSync(fd);
    return { ok: false, missing: false, reason: refusal };
  }
  return { ok: true, fd, stat };
}
