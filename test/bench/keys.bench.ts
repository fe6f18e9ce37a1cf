/**
 * The key channel and the editor-side sidecar client:
 *  - requestKeys round trip to a running channel (p50/p99), and with no editor running;
 *  - sidecar cold start through SidecarClient (spawn → MCP initialized), with keys missing and an editor
 *    channel to ask vs. told not to ask (SWITCHBOARD_KEYS_FROM_EDITOR=0): what the key fetch adds to start-up.
 * `npm run bench -- keys`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requestKeys, startKeyChannel } from '../../src/core/keys/channel';
import { SidecarClient } from '../../src/extension/sidecarClient/client';
import { round, summary, time } from './stats';

const SIDECAR = path.resolve(__dirname, '..', '..', 'dist', 'sidecar.js');
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

async function coldStarts(n: number, env: NodeJS.ProcessEnv, workspace: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const client = new SidecarClient({ folder: workspace, sidecarPath: SIDECAR, env: () => env, log: quiet });
    await client.start();
    out.push(client.startMs!);
    client.dispose();
    await new Promise((r) => setTimeout(r, 100));
  }
  return out;
}

export async function run(): Promise<object> {
  if (!fs.existsSync(SIDECAR)) throw new Error('dist/sidecar.js is missing: npm run build');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-keys-bench-'));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: root, SWITCHBOARD_HOME: path.join(root, 'sbhome') };
  const workspace = path.join(root, 'ws');
  fs.mkdirSync(workspace);
  try {
    const noEditor = summary(await time(200, () => requestKeys({ folder: '/bench', env })));
    const server = await startKeyChannel({ env, trustsFolder: () => true, keys: () => ({ GEMINI_API_KEY: 'AIzaSyBENCH_0123456789abcdefghijklmnopq' }) });
    let roundTrip;
    let startAsking;
    let startNotAsking;
    try {
      roundTrip = summary(await time(500, () => requestKeys({ folder: '/bench', env })));
      startAsking = summary(await coldStarts(8, env, workspace));
      startNotAsking = summary(await coldStarts(8, { ...env, SWITCHBOARD_KEYS_FROM_EDITOR: '0' }, workspace));
    } finally {
      await server.close();
    }
    return {
      request_keys_round_trip: roundTrip,
      request_keys_no_editor: noEditor,
      sidecar_cold_start_asking_editor: startAsking,
      sidecar_cold_start_not_asking: startNotAsking,
      key_fetch_adds_p50_ms: round(startAsking.p50_ms - startNotAsking.p50_ms),
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
