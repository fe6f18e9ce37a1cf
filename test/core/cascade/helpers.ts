import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const FIXTURE = path.resolve(__dirname, '../../../media/sample-workspace');
export const BUNDLED = path.resolve(__dirname, '../../../media/default-agents');

/** A temp folder removed by the returned cleanup. */
export function tempDir(prefix = 'sb-cascade-'): { dir: string; cleanup(): void } {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A copy of the sample workspace (tests may break it) plus an empty HOME and SWITCHBOARD_HOME beside it. */
export function scratchWorkspace(): { workspace: string; home: string; env: NodeJS.ProcessEnv; cleanup(): void } {
  const t = tempDir();
  const workspace = path.join(t.dir, 'ws');
  const home = path.join(t.dir, 'home');
  fs.cpSync(FIXTURE, workspace, { recursive: true });
  fs.mkdirSync(home);
  const env: NodeJS.ProcessEnv = { HOME: home, SWITCHBOARD_HOME: path.join(home, '.switchboard') };
  return { workspace, home, env, cleanup: t.cleanup };
}

export function write(root: string, rel: string, content: string | Buffer): string {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

/** The 1-based line of the first line containing `needle` (so tests do not hard-code line numbers). */
export function lineOf(file: string, needle: string): number {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  if (i === -1) throw new Error(`"${needle}" not in ${file}`);
  return i + 1;
}

export const USER_CODE_REVIEWER = `---
name: code-reviewer
description: My own stricter reviewer
tools: Read, Grep, Bash
model: opus
---
Be strict. Block on any missing test.
`;
