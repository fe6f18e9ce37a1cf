import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { endpointFor, keyChannelDir, requestKeys, startKeyChannel, tokenFileFor, type KeyChannelServer } from '../../../src/core/keys/channel';
import { redact, resetSecretValues } from '../../../src/core/redact';
import { withEditorKeys } from '../../../src/sidecar/keys';

const GEMINI_KEY = 'AIzaSyTEST_channel_0123456789abcdefghijkl';
const TOGETHER_KEY = 'tgp_v1_channeltest_0123456789abcdefghij';
const posix = process.platform !== 'win32';
/** The folder the editor trusts in these tests (keys go only to sidecars of trusted folders). */
const TRUSTED = path.resolve(os.tmpdir(), 'sb-trusted-folder');

/** Sends one raw line to the endpoint and returns the parsed answer. */
function rawExchange(endpoint: string, line: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(endpoint, () => socket.write(line + '\n'));
    let text = '';
    socket.setTimeout(3000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (b: Buffer) => (text += b.toString()));
    socket.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
    socket.on('error', reject);
  });
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

describe('key channel (editor → sidecar keys over a per-user socket)', function () {
  this.timeout(20_000);
  let home: string;
  let env: NodeJS.ProcessEnv;
  let server: KeyChannelServer | undefined;
  let stored: Record<string, string>;

  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-keys-'));
    env = { SWITCHBOARD_HOME: path.join(home, 'sbhome'), HOME: home };
    stored = { GEMINI_API_KEY: GEMINI_KEY, TOGETHER_API_KEY: TOGETHER_KEY };
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
    resetSecretValues();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('round trip: a client holding the token gets the stored keys, minus those it already has', async () => {
    server = await startKeyChannel({ env, keys: () => stored, trustsFolder: (f) => f === TRUSTED });
    const all = await requestKeys({ folder: TRUSTED, env });
    assert.deepEqual(all.keys, stored);
    const some = await requestKeys({ folder: TRUSTED, env, except: ['GEMINI_API_KEY'] });
    assert.deepEqual(some.keys, { TOGETHER_API_KEY: TOGETHER_KEY });
    assert.equal(server.stats.served, 2);
    // Keys are read at request time: a key set after start is served too.
    stored.OPENAI_API_KEY = 'sk-channeltest0123456789abcdefgh';
    assert.equal((await requestKeys({ folder: TRUSTED, env })).keys.OPENAI_API_KEY, stored.OPENAI_API_KEY);
  });

  it('refuses a wrong, missing or truncated token and hands out nothing', async () => {
    server = await startKeyChannel({ env, keys: () => stored, trustsFolder: (f) => f === TRUSTED });
    const token = fs.readFileSync(server.tokenFile, 'utf8');
    for (const bad of [{ v: 1, token: 'f'.repeat(64) }, { v: 1 }, { v: 1, token: token.slice(0, 63) }, { v: 1, token: token + '0' }]) {
      const answer = await rawExchange(server.endpoint, JSON.stringify(bad));
      assert.deepEqual(answer, { v: 1, error: 'refused' });
    }
    assert.equal((await rawExchange(server.endpoint, 'not json')).error, 'bad request');
    assert.equal(server.stats.refused, 4);
    assert.equal(server.stats.served, 0);
    // A token file that no longer matches the server (e.g. replaced) gets nothing either.
    fs.writeFileSync(server.tokenFile, 'a'.repeat(64), { mode: 0o600 });
    const result = await requestKeys({ folder: TRUSTED, env });
    assert.deepEqual(result.keys, {});
    assert.match(result.reason ?? '', /refused/);
  });

  it('creates run/ 0700 and the socket and token 0600; a world-readable token is not trusted', async function () {
    if (!posix) this.skip();
    fs.mkdirSync(keyChannelDir(env), { recursive: true, mode: 0o755 });
    fs.chmodSync(keyChannelDir(env), 0o755);
    server = await startKeyChannel({ env, keys: () => stored, trustsFolder: (f) => f === TRUSTED });
    assert.equal(mode(keyChannelDir(env)), 0o700, 'an existing run/ with group/other access is tightened');
    assert.equal(mode(server.endpoint), 0o600);
    assert.ok(fs.statSync(server.endpoint).isSocket());
    assert.equal(mode(server.tokenFile), 0o600);
    assert.match(fs.readFileSync(server.tokenFile, 'utf8'), /^[0-9a-f]{64}$/);
    assert.equal(path.dirname(server.tokenFile), keyChannelDir(env));
    assert.equal(server.endpoint, endpointFor(keyChannelDir(env), server.id));
    assert.equal(server.tokenFile, tokenFileFor(keyChannelDir(env), server.id));
    // The client refuses to send a token that others could have read (or swapped).
    fs.chmodSync(server.tokenFile, 0o644);
    assert.deepEqual((await requestKeys({ folder: TRUSTED, env })).keys, {});
    fs.chmodSync(server.tokenFile, 0o600);
    fs.chmodSync(keyChannelDir(env), 0o755);
    const loose = await requestKeys({ folder: TRUSTED, env });
    assert.deepEqual(loose.keys, {});
    assert.match(loose.reason ?? '', /not a private folder/);
  });

  it('another user cannot read the token nor connect to the socket', async function () {
    // Needs root to act as another uid; the mode bits are asserted in the test above either way.
    if (!posix || process.getuid!() !== 0) this.skip();
    fs.chmodSync(home, 0o755);
    fs.mkdirSync(env.SWITCHBOARD_HOME!, { mode: 0o755 });
    server = await startKeyChannel({ env, keys: () => stored, trustsFolder: (f) => f === TRUSTED });
    const probe = `
      const fs = require('fs'), net = require('net');
      const out = {};
      try { fs.readFileSync(${JSON.stringify(server.tokenFile)}); out.read = 'ok'; } catch (e) { out.read = e.code; }
      const s = net.connect(${JSON.stringify(server.endpoint)});
      s.on('connect', () => { out.connect = 'ok'; console.log(JSON.stringify(out)); s.destroy(); });
      s.on('error', (e) => { out.connect = e.code; console.log(JSON.stringify(out)); });`;
    const result = spawnSync(process.execPath, ['-e', probe], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 10_000, cwd: '/' });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { read: 'EACCES', connect: 'EACCES' });
  });

  it('removes endpoints left by an editor that died, and its own on close', async () => {
    const dir = keyChannelDir(env);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // A pid that cannot be running: above the kernel's pid_max.
    const staleToken = tokenFileFor(dir, '99999999-deadbeef');
    fs.writeFileSync(staleToken, 'b'.repeat(64), { mode: 0o600 });
    server = await startKeyChannel({ env, keys: () => stored, trustsFolder: (f) => f === TRUSTED });
    assert.equal(fs.existsSync(staleToken), false);
    const { endpoint, tokenFile } = server;
    await server.close();
    server = undefined;
    assert.equal(fs.existsSync(tokenFile), false);
    if (posix) assert.equal(fs.existsSync(endpoint), false);
    const after = await requestKeys({ folder: TRUSTED, env });
    assert.deepEqual(after.keys, {});
    assert.match(after.reason ?? '', /no editor/);
  });

  it('without an editor, requestKeys returns nothing and a reason, quickly', async () => {
    const result = await requestKeys({ folder: TRUSTED, env });
    assert.deepEqual(result.keys, {});
    assert.ok(result.reason);
  });

  it('keys go only to a request naming a folder the editor trusts', async () => {
    server = await startKeyChannel({ env, keys: () => stored, trustsFolder: (f) => f === TRUSTED });
    const elsewhere = await requestKeys({ folder: path.join(TRUSTED, '..', 'cloned-repo'), env });
    assert.deepEqual(elsewhere.keys, {});
    assert.equal(elsewhere.reason, 'the editor answered: untrusted folder');
    const token = fs.readFileSync(server.tokenFile, 'utf8').trim();
    const noFolder = await rawExchange(server.endpoint, JSON.stringify({ v: 1, token }));
    assert.deepEqual(noFolder, { v: 1, error: 'untrusted folder' }, 'a request that names no folder gets nothing');
    assert.equal(server.stats.untrusted, 2);
    assert.equal(server.stats.served, 0);
    assert.equal((await requestKeys({ folder: TRUSTED, env })).keys.GEMINI_API_KEY, GEMINI_KEY);
  });

  describe('sidecar side (withEditorKeys)', () => {
    it('fills only missing keys, registers them for redaction, and asks nothing when all are set', async () => {
      server = await startKeyChannel({ env, keys: () => stored, trustsFolder: (f) => f === TRUSTED });
      const lines: string[] = [];
      const merged = await withEditorKeys({ ...env, TOGETHER_API_KEY: 'from-env-together-key' }, (l) => lines.push(l), TRUSTED);
      assert.equal(merged.GEMINI_API_KEY, GEMINI_KEY);
      assert.equal(merged.TOGETHER_API_KEY, 'from-env-together-key', 'the environment wins over the editor');
      assert.equal(redact(`key=${GEMINI_KEY} plain ${GEMINI_KEY}`, {}), 'key=[REDACTED] plain [REDACTED]');
      assert.ok(lines.some((l) => l.includes('GEMINI_API_KEY') && !l.includes(GEMINI_KEY)), lines.join('\n'));

      const served = server.stats.served;
      const full = { ...env, OPENAI_API_KEY: 'x', GEMINI_API_KEY: 'x', HF_TOKEN: 'x', TOGETHER_API_KEY: 'x' };
      assert.equal(await withEditorKeys(full, () => {}, TRUSTED), full);
      assert.equal(await withEditorKeys({ ...env, SWITCHBOARD_KEYS_FROM_EDITOR: '0' }, () => {}, TRUSTED).then((e) => e.GEMINI_API_KEY), undefined);
      assert.equal(server.stats.served, served, 'no request when nothing is missing or when told not to ask');
    });

    it('a real sidecar process started without keys gets them from the editor (quota_status shows the key)', async function () {
      const sidecar = path.resolve(__dirname, '..', '..', '..', 'dist', 'sidecar.js');
      if (!fs.existsSync(sidecar)) throw new Error('dist/sidecar.js is missing: run npm run build first');
      const workspace = fs.mkdtempSync(path.join(home, 'ws-'));
      server = await startKeyChannel({ env, keys: () => stored, trustsFolder: (f) => f === workspace });
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [sidecar, 'serve', '--workspace', workspace],
        env: { PATH: process.env.PATH ?? '', ...env },
        stderr: 'pipe',
      });
      let stderr = '';
      transport.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
      const client = new Client({ name: 'keys-test', version: '0' });
      try {
        await client.connect(transport, { timeout: 15_000 });
        const result = await client.callTool({ name: 'quota_status', arguments: {} });
        const providers = (result.structuredContent as { providers: Array<{ id: string; has_key: boolean }> }).providers;
        assert.equal(providers.find((p) => p.id === 'gemini')?.has_key, true, JSON.stringify(providers));
        assert.equal(providers.find((p) => p.id === 'openai')?.has_key, false);
        assert.equal(server.stats.served, 1);
        assert.ok(!JSON.stringify(result).includes(GEMINI_KEY));
      } finally {
        await client.close();
      }
      assert.match(stderr, /GEMINI_API_KEY/);
      assert.ok(!stderr.includes(GEMINI_KEY), 'the key value never reaches stderr');
      // Nothing with the key's value was written under the user's home.
      const grep = spawnSync('grep', ['-rl', GEMINI_KEY, home], { encoding: 'utf8' });
      assert.equal(grep.stdout.trim(), '', 'no file holds the key');
      void spawn;
    });
  });
});
