import fs from 'node:fs';
import path from 'node:path';
import { confineToWorkspace } from '../files/confine';

/**
 * The checked-out branch, read from `.git/HEAD` without a git binary (the editor host may have none).
 * Walks up from `start` (a workspace can be a sub-folder of a repository). A `.git` *file* (worktree,
 * submodule) points at the real git dir. Detached HEAD gives "detached at <short sha>". Undefined outside git.
 */
export function readGitBranch(start: string): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    const head = readHead(path.join(dir, '.git'));
    if (head !== undefined) return describeHead(head);
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The HEAD text of the repository whose `.git` entry is `dotGit`, or undefined when there is none. */
function readHead(dotGit: string): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dotGit);
  } catch {
    return undefined;
  }
  let gitDir = dotGit;
  if (stat.isFile()) {
    const pointer = readSmall(dotGit);
    const match = pointer === undefined ? null : /^gitdir:\s*(.+?)\s*$/m.exec(pointer);
    if (!match) return undefined;
    gitDir = path.resolve(path.dirname(dotGit), match[1]!);
  }
  return readSmall(path.join(gitDir, 'HEAD'))?.trim();
}

function describeHead(head: string): string | undefined {
  const ref = /^ref:\s*(\S+)$/.exec(head);
  if (ref) return ref[1]!.replace(/^refs\/heads\//, '');
  if (/^[0-9a-f]{40,64}$/i.test(head)) return `detached at ${head.slice(0, 7).toLowerCase()}`;
  return undefined;
}

/** HEAD and gitdir pointers are a line long; anything large is not one. */
function readSmall(file: string): string | undefined {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile() || stat.size > 4096) return undefined;
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** package.json "name", else the folder's name. */
export function readProjectName(workspace: string): string {
  try {
    const file = path.join(workspace, 'package.json');
    // Its name ends up in PROJECT_CONTEXT.md: a package.json linked from outside the workspace is not read.
    const text = confineToWorkspace(workspace, file).ok ? readSmallJson(file) : undefined;
    const name = text && typeof text === 'object' ? (text as { name?: unknown }).name : undefined;
    if (typeof name === 'string' && name.trim()) return name.trim();
  } catch {
    // A broken package.json is not ours to report; the folder name will do.
  }
  return path.basename(path.resolve(workspace));
}

function readSmallJson(file: string): unknown {
  const stat = fs.statSync(file);
  if (!stat.isFile() || stat.size > 1024 * 1024) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}
