/**
 * The user-facing CLI commands end to end (child processes on the built dist/sidecar.js): `demo` against its
 * 10 s goal, and `quota` / `backups` beside a bare `node -e ""` start (the floor any Node CLI pays).
 * Uses temp HOME / SWITCHBOARD_HOME / TMPDIR; run `npm run build` first (`npm run bench` does).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ratio, summary, time } from './stats';

const REPO = path.resolve(__dirname, '..', '..');
const SIDECAR = path.join(REPO, 'dist', 'sidecar.js');
const DEMO_GOAL_MS = 10_000;

export async function run(): Promise<object> {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-cli-bench-')));
  try {
    const home = path.join(root, 'home');
    const tmp = path.join(root, 'tmp');
    const workspace = path.join(root, 'workspace');
    fs.mkdirSync(home);
    fs.mkdirSync(tmp);
    fs.cpSync(path.join(REPO, 'media', 'sample-workspace'), workspace, { recursive: true });
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, SWITCHBOARD_HOME: path.join(root, 'sb'), TMPDIR: tmp, SWITCHBOARD_LOCAL_BASE_URL: 'http://127.0.0.1:9/v1' };
    const node = (args: string[]) => execFileSync(process.execPath, args, { env, cwd: root, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });

    const demo = summary(await time(5, () => node([SIDECAR, 'demo', '--json', '--clean']), 1));
    const bare = summary(await time(10, () => node(['-e', '']), 2));
    const quota = summary(await time(10, () => node([SIDECAR, 'quota', '--json', '--workspace', workspace]), 2));
    const backups = summary(await time(10, () => node([SIDECAR, 'backups', '--json', '--workspace', workspace]), 2));
    return {
      demo_wall: { ...demo, goal_ms: DEMO_GOAL_MS, p50_vs_goal: ratio(demo.p50_ms, DEMO_GOAL_MS) },
      node_bare_start: bare,
      quota_json: { ...quota, p50_vs_node_bare: ratio(quota.p50_ms, bare.p50_ms) },
      backups_json: { ...backups, p50_vs_node_bare: ratio(backups.p50_ms, bare.p50_ms) },
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
