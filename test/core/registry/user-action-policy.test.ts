/**
 * The registry install's "user action" exemption lets exactly `.mcp/servers/registry.json` through the file
 * policy; everything else under `.mcp/` (and that file reached through a link) stays forbidden.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PathDenied, WorkspaceFiles, defaultPolicy, forUserAction } from '../../../src/core/files';

describe('file policy: the registry install user action', () => {
  let ws: string;
  beforeEach(() => {
    ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-useraction-')));
  });
  afterEach(() => fs.rmSync(ws, { recursive: true, force: true }));

  it('allows the one file, with a backup, and nothing else under .mcp/', async () => {
    const files = await WorkspaceFiles.open(ws, { actor: 'cli', policy: forUserAction(defaultPolicy(ws), '.mcp/servers/registry.json') });
    const written = await files.write('.mcp/servers/registry.json', '{"mcpServers":{}}\n', { actor: 'cli' });
    assert.ok(written.backupId);
    for (const other of ['.mcp/policy.yaml', '.mcp/servers/core.json', '.mcp/servers/registry.json/x.json', '.MCP/servers/registry.json', '.mcp.json', '.vscode/mcp.json']) {
      await assert.rejects(files.write(other, 'x', { actor: 'cli' }), (err: unknown) => err instanceof PathDenied, other);
    }
    // Without the exemption the same file is forbidden, as for the MCP tools.
    const plain = await WorkspaceFiles.open(ws, { actor: 'claude-code', policy: defaultPolicy(ws) });
    await assert.rejects(plain.write('.mcp/servers/registry.json', '{}', { actor: 'claude-code' }), (err: unknown) => err instanceof PathDenied && err.rule === 'forbidden');
  });

  it('refuses the file when a link on the way points elsewhere', async () => {
    fs.mkdirSync(path.join(ws, '.mcp'));
    fs.mkdirSync(path.join(ws, 'elsewhere'));
    fs.symlinkSync(path.join(ws, 'elsewhere'), path.join(ws, '.mcp', 'servers'));
    const files = await WorkspaceFiles.open(ws, { actor: 'cli', policy: forUserAction(defaultPolicy(ws), '.mcp/servers/registry.json') });
    await assert.rejects(files.write('.mcp/servers/registry.json', '{}', { actor: 'cli' }), (err: unknown) => err instanceof PathDenied);
    assert.deepEqual(fs.readdirSync(path.join(ws, 'elsewhere')), []);
  });
});
