/**
 * Every tool and both resources of the BUILT sidecar (dist/sidecar.js), through the real SDK Client over real
 * stdio, on a scratch copy of the sample workspace. Delegation against the fake provider is in delegate.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { listAgentsDescriptor, listServersDescriptor, readToolResult } from '../../src/sidecar/protocol';
import { compactToolList } from '../../src/sidecar/server';
import { ALL_TOOLS } from '../../src/sidecar/tools';
import { buildOnce, connectSidecar, makeScratch, textOf, type Connected, type Scratch } from './helpers';

describe('sidecar MCP server: tools and resources over stdio', function () {
  this.timeout(60_000);
  let scratch: Scratch;
  let s: Connected;

  before(async () => {
    buildOnce();
    scratch = makeScratch();
    fs.writeFileSync(path.join(scratch.workspace, 'notes.md'), '# Notes\nhello\n');
    s = await connectSidecar(scratch);
  });
  after(async () => {
    await s?.close();
    scratch?.cleanup();
  });

  it('lists the eleven tools, each with an output schema, all within 6,000 characters', async () => {
    const { tools } = await s.client.listTools();
    assert.deepEqual(
      tools.map((t) => t.name).sort(),
      ['delegate', 'list_agents', 'list_backups', 'list_servers', 'project_context', 'quota_status', 'read_file', 'restore_backup', 'search_registry', 'usage_report', 'write_file'],
    );
    for (const t of tools) assert.ok(t.outputSchema && t.outputSchema.type === 'object', `${t.name} declares an output schema`);
    const size = JSON.stringify(tools).length;
    assert.ok(size <= 6000, `tools/list is ${size} characters`);
  });

  it('the built listing (computed at build time) is exactly what the tool definitions give now', async () => {
    const { tools } = await s.client.listTools();
    assert.deepEqual(tools, JSON.parse(JSON.stringify(compactToolList(ALL_TOOLS))));
  });

  it('read_file returns the content as text and structured content', async () => {
    const r = await s.client.callTool({ name: 'read_file', arguments: { path: 'notes.md' } });
    assert.equal(r.isError, undefined);
    assert.equal(textOf(r), '# Notes\nhello\n');
    const sc = r.structuredContent as { path: string; bytes: number; content: string; sha256: string };
    assert.equal(sc.path, 'notes.md');
    assert.equal(sc.bytes, 14);
    assert.match(sc.sha256, /^[0-9a-f]{64}$/);
  });

  it('write_file writes durably with a backup; list_backups and restore_backup undo it', async () => {
    const w = await s.client.callTool({ name: 'write_file', arguments: { path: 'notes.md', content: 'changed\n' } });
    assert.equal(w.isError, undefined, textOf(w));
    const backupId = (w.structuredContent as { backup_id: string }).backup_id;
    assert.ok(backupId);
    assert.equal(fs.readFileSync(path.join(scratch.workspace, 'notes.md'), 'utf8'), 'changed\n');
    assert.match(textOf(w), /backup/);

    const list = await s.client.callTool({ name: 'list_backups', arguments: { path: 'notes.md' } });
    const backups = (list.structuredContent as { backups: Array<{ id: string; path: string; existed: boolean }> }).backups;
    assert.ok(backups.some((b) => b.id === backupId && b.path === 'notes.md' && b.existed));

    const r = await s.client.callTool({ name: 'restore_backup', arguments: { backup_id: backupId } });
    assert.equal(r.isError, undefined, textOf(r));
    assert.equal(fs.readFileSync(path.join(scratch.workspace, 'notes.md'), 'utf8'), '# Notes\nhello\n');
    assert.equal((r.structuredContent as { restored_from: string }).restored_from, backupId);
  });

  it('restore_backup refuses a file edited since, unless force', async () => {
    const w = await s.client.callTool({ name: 'write_file', arguments: { path: 'edited.md', content: 'by switchboard\n' } });
    const backupId = (w.structuredContent as { backup_id: string }).backup_id;
    fs.writeFileSync(path.join(scratch.workspace, 'edited.md'), 'by a human\n');
    const refused = await s.client.callTool({ name: 'restore_backup', arguments: { backup_id: backupId } });
    assert.equal(refused.isError, true);
    assert.match(textOf(refused), /edited|changed|conflict/i);
    assert.equal(fs.readFileSync(path.join(scratch.workspace, 'edited.md'), 'utf8'), 'by a human\n');
    const forced = await s.client.callTool({ name: 'restore_backup', arguments: { backup_id: backupId, force: true } });
    assert.equal(forced.isError, undefined, textOf(forced));
    // The backup was of "did not exist": restoring it deletes the file.
    assert.equal(fs.existsSync(path.join(scratch.workspace, 'edited.md')), false);
  });

  it('policy refusals are isError results with a plain message: no stack, no outside absolute path', async () => {
    for (const p of ['../outside.md', '/etc/passwd', '.env', '.git/config', path.join(scratch.root, 'home', 'x.md')]) {
      const r = await s.client.callTool({ name: 'read_file', arguments: { path: p } });
      assert.equal(r.isError, true, p);
      const text = textOf(r);
      assert.doesNotMatch(text, /\n\s+at /, 'no stack');
      assert.ok(!text.includes(scratch.root + '/home'), `no outside path in: ${text}`);
      assert.ok(!text.includes('/etc/passwd') || p === '/etc/passwd', text);
    }
    const w = await s.client.callTool({ name: 'write_file', arguments: { path: '.mcp.json', content: '{}' } });
    assert.equal(w.isError, true);
  });

  it('wrong argument types get an error result and the session keeps serving', async () => {
    const r = await s.client.callTool({ name: 'read_file', arguments: { path: 42 as unknown as string } });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /path/);
    await s.client.ping();
  });

  it('list_agents shows the cascade (layer, structured source, what it overrides)', async () => {
    const { structured, text } = readToolResult(listAgentsDescriptor, await s.client.callTool({ name: 'list_agents', arguments: {} }));
    const ai = structured.agents.find((a) => a.id === 'ai-engineer');
    assert.ok(ai, text);
    assert.match(ai.source.file, /^\.agents\/.+/);
    assert.ok(ai.source.line >= 1);
    const overriding = structured.agents.find((a) => a.hidden.length > 0);
    assert.ok(overriding, 'some agent overrides a lower one in the sample');
    assert.ok(overriding.hidden.every((h) => h.layer && h.source.file && h.source.line >= 1));
  });

  it('list_servers shows project servers, optional ones marked, no env values', async () => {
    const { structured, text } = readToolResult(listServersDescriptor, await s.client.callTool({ name: 'list_servers', arguments: {} }));
    const { servers } = structured;
    assert.ok(servers.length > 0, text);
    assert.ok(servers.some((x) => x.optional), 'optional.json servers are listed as optional');
    assert.ok(servers.every((x) => x.layer.length > 0 && x.target.length > 0 && x.source.line >= 1));
  });

  it('quota_status shows each provider with its quota windows and the month spend', async () => {
    const r = await s.client.callTool({ name: 'quota_status', arguments: {} });
    assert.equal(r.isError, undefined, textOf(r));
    const sc = r.structuredContent as { providers: Array<{ id: string; has_key: boolean; quotas: Array<{ metric: string; window: string; limit: number; left: number }> }>; month: { calls: number } };
    const gemini = sc.providers.find((p) => p.id === 'gemini');
    assert.ok(gemini);
    assert.equal(gemini.has_key, false, 'no key in the child environment');
    assert.deepEqual(gemini.quotas.map((q) => [q.metric, q.window, q.limit, q.left]), [['requests', 'day', 1500, 1500]]);
    assert.equal(sc.month.calls, 0);
    assert.match(textOf(r), /gemini/);
  });

  it('project_context and switchboard://project-context give PROJECT_CONTEXT.md generated from the state; sync writes it once', async () => {
    const file = path.join(scratch.workspace, 'PROJECT_CONTEXT.md');
    fs.rmSync(file, { force: true });
    const r = await s.client.callTool({ name: 'project_context', arguments: {} });
    const sc = r.structuredContent as { content: string; stale: boolean; changed: boolean; backup_id?: string };
    assert.match(sc.content, /ai-engineer/, 'agents are listed');
    assert.match(sc.content, /zen/, 'servers are listed');
    assert.equal(sc.stale, true, 'no file yet');
    assert.equal(sc.changed, false);
    assert.equal(fs.existsSync(file), false, 'without sync nothing is written');
    const res = await s.client.readResource({ uri: 'switchboard://project-context' });
    assert.equal((res.contents[0] as { text: string }).text, sc.content);

    const synced = (await s.client.callTool({ name: 'project_context', arguments: { sync: true } })).structuredContent as typeof sc;
    assert.equal(synced.changed, true);
    assert.ok(synced.backup_id, 'the write was backed up');
    assert.equal(fs.readFileSync(file, 'utf8'), sc.content);
    const mtime = fs.statSync(file).mtimeMs;
    const again = (await s.client.callTool({ name: 'project_context', arguments: { sync: true } })).structuredContent as typeof sc;
    assert.equal(again.changed, false, 'unchanged state: nothing rewritten');
    assert.equal(again.stale, false);
    assert.equal(fs.statSync(file).mtimeMs, mtime);
  });

  it('switchboard://agents/{id} lists and reads each effective agent', async () => {
    const templates = await s.client.listResourceTemplates();
    assert.ok(templates.resourceTemplates.some((t) => t.uriTemplate === 'switchboard://agents/{id}'));
    const list = await s.client.listResources();
    const uris = list.resources.map((r) => r.uri);
    assert.ok(uris.includes('switchboard://agents/ai-engineer'), uris.join(', '));
    assert.ok(uris.includes('switchboard://project-context'));
    const res = await s.client.readResource({ uri: 'switchboard://agents/ai-engineer' });
    const text = (res.contents[0] as { text: string }).text;
    assert.match(text, /^# ai-engineer/);
    assert.match(text, /layer: /);
  });

  it('an unknown agent resource is an error naming the known ones', async () => {
    await assert.rejects(s.client.readResource({ uri: 'switchboard://agents/nope' }), /unknown agent "nope"/);
    await s.client.ping();
  });

  it('writes only protocol to stdout (the session survived every call above) and logs to stderr', () => {
    assert.match(s.stderr(), /read_file: /);
  });
});

describe('sidecar MCP server: client roots narrow, never widen', function () {
  this.timeout(60_000);
  let scratch: Scratch;
  before(() => {
    buildOnce();
    scratch = makeScratch();
    fs.mkdirSync(path.join(scratch.workspace, 'docs'), { recursive: true });
    fs.writeFileSync(path.join(scratch.workspace, 'docs', 'a.md'), 'a\n');
    fs.writeFileSync(path.join(scratch.workspace, 'top.md'), 'top\n');
    fs.writeFileSync(path.join(scratch.root, 'outside.md'), 'outside\n');
  });
  after(() => scratch?.cleanup());

  it('a root inside the workspace narrows the file tools to it', async () => {
    const s = await connectSidecar(scratch, { roots: [`file://${path.join(scratch.workspace, 'docs')}`] });
    try {
      const ok = await s.client.callTool({ name: 'read_file', arguments: { path: 'docs/a.md' } });
      assert.equal(ok.isError, undefined, textOf(ok));
      const denied = await s.client.callTool({ name: 'read_file', arguments: { path: 'top.md' } });
      assert.equal(denied.isError, true);
    } finally {
      await s.close();
    }
  });

  it('a root outside the workspace does not widen it', async () => {
    const s = await connectSidecar(scratch, { roots: [`file://${scratch.root}`] });
    try {
      const inside = await s.client.callTool({ name: 'read_file', arguments: { path: 'top.md' } });
      assert.equal(inside.isError, undefined, textOf(inside));
      const outside = await s.client.callTool({ name: 'read_file', arguments: { path: path.join(scratch.root, 'outside.md') } });
      assert.equal(outside.isError, true);
    } finally {
      await s.close();
    }
  });
});
