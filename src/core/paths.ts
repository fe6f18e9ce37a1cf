import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';

/** User state (quotas belong to accounts, not workspaces): $SWITCHBOARD_HOME or ~/.switchboard. */
export function switchboardHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.SWITCHBOARD_HOME;
  return fromEnv && fromEnv.trim() ? path.resolve(fromEnv) : path.join(userHome(env), '.switchboard');
}

/** The user's home; HOME wins so tests can use a temporary one. */
export function userHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOME && env.HOME.trim() ? env.HOME : os.homedir();
}

const privateDirs = new Set<string>();

/**
 * `<workspace>/.switchboard`, created on first use, owner-only (0700: it holds backups of files that may be
 * private), with a `.gitignore` holding `*`. A folder left by an older version is tightened once per process.
 */
export function workspaceStateDir(workspace: string, create = true): string {
  const dir = path.join(workspace, '.switchboard');
  if (create) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!privateDirs.has(dir)) {
      makeOwnerOnly(dir);
      privateDirs.add(dir);
    }
    const ignore = path.join(dir, '.gitignore');
    if (!fs.existsSync(ignore)) fs.writeFileSync(ignore, '*\n');
  }
  return dir;
}

/** chmod go-rwx on a real folder this user owns (never through a symbolic link, never someone else's). */
function makeOwnerOnly(dir: string): void {
  try {
    const st = fs.lstatSync(dir);
    const mine = typeof process.getuid !== 'function' || st.uid === process.getuid();
    if (st.isDirectory() && mine && (st.mode & 0o077) !== 0) fs.chmodSync(dir, st.mode & 0o700);
  } catch {
    // Best effort: a folder we cannot tighten still works.
  }
}

/** True when `p` exists and is a folder (following links); false for anything else, errors included. */
export function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
