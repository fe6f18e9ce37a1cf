/**
 * A hostile repository and the world around it, for the trust suites:
 * - a scratch HOME holding the user's secrets (~/.ssh/id_rsa, ~/.aws/credentials, ~/.bashrc) outside the workspace;
 * - distinctive fake keys in the sidecar's environment (every one must never reach the attacker);
 * - the user's own router.yaml pointing the providers at a legitimate fake provider server;
 * - the attacker: a second recording HTTP server that answers like a provider, so a leak would "work";
 * - a marker command (and fake `npx` / `docker` on PATH) that records its argv and environment when it runs.
 * Each suite runs the real sidecar (`node dist/sidecar.js`) over real stdio, untrusted and trusted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { formatDiagnostic, type Diagnostic } from '../../../src/core/diagnostics';
import { startFakeProviderServer, type FakeProviderServer } from '../../fakes/provider-server';
import { SIDECAR, buildOnce, childEnv, connectSidecar, makeScratch, textOf, type Connected, type Scratch } from '../helpers';

export const KEYS = {
  OPENAI_API_KEY: 'sk-HOSTILETESTopenai00000000000000000001',
  GEMINI_API_KEY: 'AIzaSyHOSTILETESTgemini000000000000000002',
  TOGETHER_API_KEY: 'tgp_v1_HOSTILETESTtogether0000000000000003',
  HF_TOKEN: 'hf_HOSTILETESTface000000000000000000004',
  GROQ_API_KEY: 'gsk_HOSTILETESTgroq00000000000000000000005',
  AWS_SECRET_ACCESS_KEY: 'HOSTILETESTawsSecretAccessKey0000000000006',
} as const;
export const SSH_KEY = '-----BEGIN OPENSSH PRIVATE KEY----- HOSTILETEST-ssh-private-key';
export const AWS_FILE = '[default]\naws_secret_access_key = HOSTILETEST-aws-credentials-file';
export const BASHRC = '# HOSTILETEST original bashrc\n';
/** Every value that must never reach the attacker (or a provider it does not belong to). */
export const SECRETS = [...Object.values(KEYS), 'HOSTILETEST-ssh-private-key', 'HOSTILETEST-aws-credentials-file'];

export interface World {
  scratch: Scratch;
  workspace: string;
  home: string;
  bin: string;
  legit: FakeProviderServer;
  attacker: FakeProviderServer;
  marker(name: string): string;
  /** The env of a sidecar: the fake keys, a PATH with fake npx/docker first, and editor trust when `trusted`. */
  env(trusted: boolean): Record<string, string>;
  connect(trusted: boolean, options?: { roots?: string[] | 'never' }): Promise<Connected>;
  cli(trusted: boolean, args: string[]): { status: number | null; stdout: string; stderr: string };
  write(rel: string, text: string): void;
  cleanup(): Promise<void>;
}

export async function makeWorld(): Promise<World> {
  buildOnce();
  const scratch = makeScratch({ sample: false });
  const { workspace, home } = scratch;
  const bin = path.join(scratch.root, 'bin');
  fs.mkdirSync(bin);
  fs.mkdirSync(path.join(home, '.ssh'));
  fs.writeFileSync(path.join(home, '.ssh', 'id_rsa'), SSH_KEY, { mode: 0o600 });
  fs.mkdirSync(path.join(home, '.aws'));
  fs.writeFileSync(path.join(home, '.aws', 'credentials'), AWS_FILE);
  fs.writeFileSync(path.join(home, '.bashrc'), BASHRC);
  fs.writeFileSync(path.join(workspace, 'index.ts'), 'export const add = (a: number, b: number) => a + b;\n');
  // Fake npx and docker: a recipe that runs leaves a marker named after the tool.
  for (const tool of ['npx', 'docker']) {
    fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\n"${process.execPath}" "${markerScript(scratch.root)}" "${path.join(scratch.root, `ran-${tool}.json`)}" "$@"\n`, { mode: 0o755 });
  }
  const legit = await startFakeProviderServer();
  const attacker = await startFakeProviderServer();
  // The user's own router.yaml: every provider the user has points at the legitimate fake server.
  fs.writeFileSync(path.join(scratch.switchboardHome, 'router.yaml'), [
    'providers:',
    `  - {id: gemini, baseUrl: "${legit.baseUrl('gemini')}"}`,
    `  - {id: openai, baseUrl: "${legit.baseUrl('openai')}"}`,
    `  - {id: groq, kind: openai-compatible, tier: free, apiKeyEnv: GROQ_API_KEY, baseUrl: "${legit.baseUrl('openai-compatible', 'groq')}", models: [{id: llama}], disabled: true}`,
    '  - {id: together, disabled: true}',
    '  - {id: huggingface, disabled: true}',
    '  - {id: local, disabled: true}',
  ].join('\n'));
  const world: World = {
    scratch, workspace, home, bin, legit, attacker,
    marker: (name) => path.join(scratch.root, `ran-${name}.json`),
    env: (trusted) => ({
      ...KEYS,
      PATH: `${bin}${path.delimiter}${process.env.PATH ?? '/usr/bin:/bin'}`,
      ...(trusted ? { SWITCHBOARD_TRUSTED_FOLDERS: workspace } : {}),
    }),
    connect: async (trusted, options = {}) => {
      const roots = options.roots;
      if (roots === 'never') return connectNeverAnsweringRoots(scratch, world.env(trusted));
      return connectSidecar(scratch, { env: world.env(trusted), roots });
    },
    cli: (trusted, args) => {
      const r = spawnSync(process.execPath, [SIDECAR, ...args, ...(args.includes('--workspace') ? [] : ['--workspace', workspace])], { env: childEnv(scratch, world.env(trusted)), encoding: 'utf8', timeout: 60_000, cwd: scratch.root });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    write: (rel, text) => {
      const file = path.join(workspace, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
    },
    cleanup: async () => {
      await legit.close();
      await attacker.close();
      scratch.cleanup();
    },
  };
  return world;
}

/** A node script that records argv and env to the file named by its first argument, then exits. */
function markerScript(root: string): string {
  const file = path.join(root, 'marker.cjs');
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, "require('fs').writeFileSync(process.argv[2], JSON.stringify({ argv: process.argv.slice(3), env: process.env }));\n");
  }
  return file;
}

/** A project server definition whose command leaves `world.marker(name)` when it runs. */
export function markerServer(world: World, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { command: process.execPath, args: [markerScript(world.scratch.root), world.marker(name), ...((extra.args as string[]) ?? [])], ...omit(extra, 'args') };
}

function omit(o: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...o };
  delete copy[key];
  return copy;
}

export function ran(world: World, name: string): { argv: string[]; env: Record<string, string> } | undefined {
  const file = world.marker(name);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { argv: string[]; env: Record<string, string> }) : undefined;
}

/** Nothing that reached the attacker carries any secret (URL, headers or body). */
export function assertAttackerGotNoSecret(world: World): void {
  for (const r of world.attacker.requests) {
    const seen = JSON.stringify({ path: r.path, query: r.query, headers: r.headers, body: r.body });
    for (const s of SECRETS) assert.ok(!seen.includes(s), `the attacker received a secret in ${r.method} ${r.path}`);
  }
}

/** The text contains none of the user's secrets. */
export function assertNoSecretIn(text: string, what: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${what} holds a secret`);
}

export function assertRecordNoManagedKey(record: { argv: string[]; env: Record<string, string> }): void {
  const text = JSON.stringify(record);
  for (const [name, value] of Object.entries(KEYS)) {
    if (name === 'AWS_SECRET_ACCESS_KEY') continue; // not a key Switchboard manages; still never passed (allow-list)
    assert.ok(!text.includes(value), `${name} reached the project command`);
  }
  assert.ok(!text.includes(KEYS.AWS_SECRET_ACCESS_KEY), 'the environment was not allow-listed');
}

export async function call(c: Connected, name: string, args: Record<string, unknown> = {}): Promise<{ text: string; structured: Record<string, unknown>; isError: boolean }> {
  const r = await c.client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
  return { text: textOf(r), structured: (r.structuredContent ?? {}) as Record<string, unknown>, isError: r.isError === true };
}

/** A client that advertises roots but never answers roots/list (the sidecar must fall back to the workspace). */
async function connectNeverAnsweringRoots(scratch: Scratch, env: Record<string, string>): Promise<Connected> {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
  const { ListRootsRequestSchema } = await import('@modelcontextprotocol/sdk/types.js');
  const transport = new StdioClientTransport({ command: process.execPath, args: [SIDECAR, 'serve'], env: childEnv(scratch, env), cwd: scratch.workspace, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const client = new Client({ name: 'silent-roots', version: '1.0.0' }, { capabilities: { roots: {} } });
  client.setRequestHandler(ListRootsRequestSchema, () => new Promise<never>(() => {}));
  await client.connect(transport, { timeout: 15_000 });
  return { client, transport, stderr: () => stderr, close: async () => void (await client.close().catch(() => {})) };
}

/** Runs `fn` untrusted and trusted, naming each run. */
export function bothTrusts(title: string, fn: (trusted: boolean) => Promise<void>): void {
  for (const trusted of [false, true]) it(`${title} [${trusted ? 'trusted' : 'untrusted'}]`, () => fn(trusted));
}

/** A tool's structured diagnostics (objects, as the protocol sends them) as "file:line:column: severity: message" lines. */
export function diagnosticLines(value: unknown): string[] {
  return ((value as Diagnostic[] | undefined) ?? []).map(formatDiagnostic);
}
