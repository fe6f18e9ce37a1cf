/**
 * Shared by the sidecar suites: builds dist/sidecar.js once, makes a scratch workspace (a copy of
 * media/sample-workspace) with its own HOME and SWITCHBOARD_HOME, and connects the real SDK Client to the built
 * sidecar over real stdio.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

export const REPO = path.resolve(__dirname, '..', '..');
export const SIDECAR = path.join(REPO, 'dist', 'sidecar.js');

let built = false;
/** `npm run build` once per mocha run (about a second). */
export function buildOnce(): void {
  if (built) return;
  execFileSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { cwd: REPO, stdio: 'inherit', timeout: 120_000 });
  built = true;
}

export interface Scratch {
  root: string;
  workspace: string;
  home: string;
  switchboardHome: string;
  cleanup(): void;
}

/** A temp folder with `workspace/` (the sample workspace), `home/` and `sb/`. */
export function makeScratch(options: { sample?: boolean } = {}): Scratch {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-sidecar-')));
  const workspace = path.join(root, 'workspace');
  const home = path.join(root, 'home');
  const switchboardHome = path.join(root, 'sb');
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(switchboardHome, { recursive: true });
  if (options.sample !== false) fs.cpSync(path.join(REPO, 'media', 'sample-workspace'), workspace, { recursive: true });
  else fs.mkdirSync(workspace, { recursive: true });
  return { root, workspace, home, switchboardHome, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

/** A clean environment for the child: no real keys from the developer's shell, state in the scratch folder. */
export function childEnv(scratch: Scratch, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: scratch.home,
    SWITCHBOARD_HOME: scratch.switchboardHome,
    // Nothing must reach a real local model server on this machine.
    SWITCHBOARD_LOCAL_BASE_URL: 'http://127.0.0.1:9/v1',
  };
  return { ...env, ...extra };
}

export interface Connected {
  client: Client;
  transport: StdioClientTransport;
  stderr(): string;
  close(): Promise<void>;
}

export async function connectSidecar(scratch: Scratch, options: { env?: Record<string, string>; args?: string[]; roots?: string[] } = {}): Promise<Connected> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [SIDECAR, 'serve', '--workspace', scratch.workspace, ...(options.args ?? [])],
    env: childEnv(scratch, options.env),
    cwd: scratch.root,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const client = new Client({ name: 'switchboard-tests', version: '1.0.0' }, { capabilities: options.roots ? { roots: {} } : {} });
  if (options.roots) {
    const { ListRootsRequestSchema } = await import('@modelcontextprotocol/sdk/types.js');
    const roots = options.roots;
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: roots.map((uri) => ({ uri })) }));
  }
  await client.connect(transport, { timeout: 15_000 });
  return {
    client,
    transport,
    stderr: () => stderr,
    close: async () => {
      await client.close().catch(() => {});
    },
  };
}

/** The text of a tool result's first content item. */
export function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content.map((c) => c.text ?? '').join('\n');
}
