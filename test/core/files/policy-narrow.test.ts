/** A repository's policy.yaml can only narrow the file policy; key material is never reachable. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentCascade } from '../../../src/core/cascade';
import { confineToWorkspace } from '../../../src/core/files/confine';
import { DEFAULT_MAX_FILE_BYTES, WorkspaceFiles, loadPolicy } from '../../../src/core/files';

describe('file policy: a project can only narrow it', () => {
  let root: string;
  let ws: string;
  let outside: string;
  beforeEach(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-policy-narrow-')));
    ws = path.join(root, 'ws');
    outside = path.join(root, 'outside');
    fs.mkdirSync(path.join(ws, '.mcp'), { recursive: true });
    fs.mkdirSync(path.join(ws, 'src'), { recursive: true });
    fs.mkdirSync(outside, { recursive: true });
    fs.writeFileSync(path.join(outside, 'secret.md'), 'OUTSIDE-SECRET');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('ignores allowed_paths outside the workspace (absolute, relative, or a link out), with a line each', () => {
    fs.symlinkSync(outside, path.join(ws, 'out-link'));
    fs.writeFileSync(path.join(ws, '.mcp/policy.yaml'), ['allowed_paths:', '  - /', '  - ../outside', '  - out-link', '  - src'].join('\n'));
    const { policy, diagnostics } = loadPolicy(ws);
    assert.deepEqual(policy.allowedPaths, [path.join(ws, 'src')]);
    for (const line of [2, 3, 4]) {
      const d = diagnostics.find((x) => x.line === line);
      assert.ok(d && d.severity === 'warning' && /outside the workspace/.test(d.message), JSON.stringify(diagnostics));
    }
  });

  it('ignores added extensions and a larger max_file_bytes; keeps a smaller list and limit', () => {
    fs.writeFileSync(path.join(ws, '.mcp/policy.yaml'), ['allowed_extensions: [".ts", ".pem", "id_rsa"]', 'max_file_bytes: 1073741824'].join('\n'));
    const { policy, diagnostics } = loadPolicy(ws);
    assert.deepEqual(policy.allowedExtensions, ['.ts']);
    assert.equal(policy.maxFileBytes, DEFAULT_MAX_FILE_BYTES);
    assert.equal(diagnostics.filter((d) => /may only narrow/.test(d.message)).length, 3);
  });

  it('key material is refused even by a policy object that allows everything', async () => {
    fs.mkdirSync(path.join(ws, '.ssh'));
    fs.writeFileSync(path.join(ws, '.ssh', 'config.txt'), 'Host *');
    fs.writeFileSync(path.join(ws, 'server.key.txt'), 'k');
    const files = await WorkspaceFiles.open(ws, { policy: { allowedPaths: ['/'], forbidden: [], maxFileBytes: 1e9, allowedExtensions: ['.txt', '.npmrc'], backup: true, backupRetention: { count: 1, days: 1 } } });
    await assert.rejects(files.read('.ssh/config.txt', { actor: 'cli' }), /rule: key_material/);
    fs.writeFileSync(path.join(ws, '.npmrc'), '//registry/:_authToken=x');
    await assert.rejects(files.read('.npmrc', { actor: 'cli' }), /rule: key_material/);
    await assert.rejects(files.write('id_ed25519.txt', 'x', { actor: 'cli' }), /rule: key_material/);
  });

  it('confineToWorkspace refuses links out, key material and hard links; accepts plain files', () => {
    fs.writeFileSync(path.join(ws, 'ok.md'), 'ok');
    fs.symlinkSync(path.join(outside, 'secret.md'), path.join(ws, 'link.md'));
    fs.writeFileSync(path.join(ws, 'id_rsa'), 'k');
    fs.writeFileSync(path.join(ws, 'twice.md'), 'x');
    fs.linkSync(path.join(ws, 'twice.md'), path.join(ws, 'twice2.md'));
    assert.equal(confineToWorkspace(ws, path.join(ws, 'ok.md')).ok, true);
    assert.match(String((confineToWorkspace(ws, path.join(ws, 'link.md')) as { reason: string }).reason), /outside the workspace/);
    assert.match(String((confineToWorkspace(ws, path.join(ws, 'id_rsa')) as { reason: string }).reason), /key material/);
    assert.match(String((confineToWorkspace(ws, path.join(ws, 'twice.md')) as { reason: string }).reason), /hard links/);
  });

  it('an agent file linked to outside the workspace is not loaded and says why', () => {
    fs.writeFileSync(path.join(outside, 'evil.md'), '---\nname: evil\ndescription: x\n---\nOUTSIDE-SECRET');
    fs.mkdirSync(path.join(ws, '.claude', 'agents'), { recursive: true });
    fs.symlinkSync(path.join(outside, 'evil.md'), path.join(ws, '.claude', 'agents', 'evil.md'));
    fs.writeFileSync(path.join(ws, '.claude', 'agents', 'fine.md'), '---\nname: fine\ndescription: y\n---\nbody');
    const bundled = path.join(root, 'bundled');
    fs.mkdirSync(bundled);
    const result = new AgentCascade({ workspace: ws, env: { HOME: path.join(root, 'home') }, bundledAgentsDir: bundled }).load();
    assert.deepEqual(result.agents.map((a) => a.id), ['fine']);
    const d = result.diagnostics.find((x) => x.file === '.claude/agents/evil.md');
    assert.ok(d && /outside the workspace/.test(d.message), JSON.stringify(result.diagnostics));
    assert.ok(!JSON.stringify(result).includes('OUTSIDE-SECRET'));
  });

  it('context files outside the workspace are ignored with a warning', () => {
    fs.mkdirSync(path.join(ws, '.agents'), { recursive: true });
    fs.writeFileSync(path.join(ws, '.agents', 'discovery-config.yaml'), `context:\n  - ${path.join(outside, 'secret.md')}\n  - ../outside/secret.md\n`);
    const bundled = path.join(root, 'bundled');
    fs.mkdirSync(bundled);
    const result = new AgentCascade({ workspace: ws, env: { HOME: path.join(root, 'home') }, bundledAgentsDir: bundled }).load();
    assert.deepEqual(result.context, []);
    assert.equal(result.diagnostics.filter((d) => /inside the workspace only/.test(d.message)).length, 2);
  });
});
