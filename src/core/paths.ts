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

/** `<workspace>/.switchboard`, created on first use with a `.gitignore` holding `*`. */
export function workspaceStateDir(workspace: string, create = true): string {
  const dir = path.join(workspace, '.switchboard');
  if (create) {
    fs.mkdirSync(dir, { recursive: true });
    const ignore = path.join(dir, '.gitignore');
    if (!fs.existsSync(ignore)) fs.writeFileSync(ignore, '*\n');
  }
  return dir;
}

/** True when `p` exists and is a folder (following links); false for anything else, errors included. */
export function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
