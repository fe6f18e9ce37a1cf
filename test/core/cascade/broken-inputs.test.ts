import assert from 'node:assert/strict';
import path from 'node:path';
import type { Diagnostic } from '../../../src/core/diagnostics';
import { AgentCascade, ServerCascade } from '../../../src/core/cascade';
import { BUNDLED, lineOf, scratchWorkspace, write } from './helpers';

/** Every broken input gives a diagnostic at the right line, and the rest of the cascade still loads. */
describe('cascade: broken inputs', () => {
  let s: ReturnType<typeof scratchWorkspace>;
  beforeEach(() => { s = scratchWorkspace(); });
  afterEach(() => s.cleanup());

  const agents = () => new AgentCascade({ workspace: s.workspace, env: s.env, bundledAgentsDir: BUNDLED }).load();
  const servers = () => new ServerCascade({ workspace: s.workspace, env: s.env }).load();
  const FIXTURE_AGENTS = ['ai-engineer', 'code-reviewer', 'docs-writer', 'journey-orchestrator', 'test-writer'];
  const only = (ds: Diagnostic[], file: string) => ds.filter((d) => d.file === file);
  const assertFixtureAgentsLoad = (ids: string[]) => {
    for (const id of FIXTURE_AGENTS) assert.ok(ids.includes(id), `${id} still loads`);
  };

  it('invalid YAML: error at the offending line, the file is skipped', () => {
    write(s.workspace, '.agents/core/bad.yaml', 'metadata:\n  id: bad\n description: mis-indented\n');
    const r = agents();
    const ds = only(r.diagnostics, '.agents/core/bad.yaml');
    assert.deepEqual(ds.map((d) => [d.line, d.severity]), [[3, 'error']]);
    assert.match(ds[0]!.message, /same column/);
    assert.ok(!r.agents.some((a) => a.id === 'bad'));
    assertFixtureAgentsLoad(r.agents.map((a) => a.id));
  });

  it('wrong types: an error at each bad value; the agent loads without them', () => {
    const f = write(s.workspace, '.agents/core/typed.yaml', 'metadata:\n  id: typed\n  description: ok\nruntime:\n  model: 42\n  fallback_models: sonnet\n  execution_mode: later\n');
    const r = agents();
    const ds = only(r.diagnostics, '.agents/core/typed.yaml');
    assert.deepEqual(ds.map((d) => [d.line, d.severity]), [
      [lineOf(f, 'model: 42'), 'error'],
      [lineOf(f, 'fallback_models'), 'error'],
      [lineOf(f, 'execution_mode'), 'error'],
    ]);
    assert.match(ds[0]!.message, /runtime\.model: must be string/);
    assert.match(ds[2]!.message, /must be one of "sync", "async"/);
    const a = r.agents.find((x) => x.id === 'typed')!;
    assert.equal(a.description, 'ok');
    assert.equal(a.model, undefined);
    assert.deepEqual(a.fallbackModels, []);
  });

  it('duplicate id within one layer: the first file wins, a diagnostic at the duplicate line', () => {
    const dup = write(s.workspace, '.agents/core/zz-copy.yaml', '# a copy\nmetadata:\n  id: code-reviewer\n  description: the copy\n');
    const r = agents();
    const ds = only(r.diagnostics, '.agents/core/zz-copy.yaml');
    assert.equal(ds.length, 1);
    assert.equal(ds[0]!.line, lineOf(dup, 'id: code-reviewer'));
    assert.match(ds[0]!.message, /duplicate agent id "code-reviewer" in the core layer; the first definition \(\.agents\/core\/code-reviewer\.yaml:\d+\) is used/);
    const cr = r.agents.find((a) => a.id === 'code-reviewer')!;
    assert.equal(cr.source.file, '.agents/core/code-reviewer.yaml');
  });

  it('duplicate server name within the project layer: core.json wins over .mcp.json', () => {
    const f = write(s.workspace, '.mcp.json', JSON.stringify({ mcpServers: { zen: { command: 'other-zen' } } }, null, 2));
    const r = servers();
    const ds = only(r.diagnostics, '.mcp.json');
    assert.deepEqual(ds.map((d) => d.line), [lineOf(f, '"zen"')]);
    assert.equal(r.servers.find((x) => x.id === 'zen')!.command, 'uvx');
  });

  it('unknown top-level key: a warning, the agent still loads', () => {
    const f = write(s.workspace, '.agents/core/extra.yaml', 'metadata:\n  id: extra\ncolour: blue\n');
    const r = agents();
    const ds = only(r.diagnostics, '.agents/core/extra.yaml');
    assert.deepEqual(ds.map((d) => [d.line, d.severity]), [[lineOf(f, 'colour'), 'warning']]);
    assert.match(ds[0]!.message, /unknown key "colour"/);
    assert.ok(r.agents.some((a) => a.id === 'extra'));
  });

  it('empty file: a warning at line 1', () => {
    write(s.workspace, '.agents/core/empty.yaml', '\n  \n');
    const ds = only(agents().diagnostics, '.agents/core/empty.yaml');
    assert.deepEqual(ds.map((d) => [d.line, d.severity]), [[1, 'warning']]);
    assert.match(ds[0]!.message, /empty/);
  });

  it('a 5 MB file: not loaded, an error saying so', () => {
    write(s.workspace, '.agents/core/huge.yaml', 'metadata:\n  id: huge\n' + '# padding\n'.repeat(520_000));
    const r = agents();
    const ds = only(r.diagnostics, '.agents/core/huge.yaml');
    assert.deepEqual(ds.map((d) => [d.line, d.severity]), [[1, 'error']]);
    assert.match(ds[0]!.message, /5\.0 MB, over the 1\.0 MB limit/);
    assert.ok(!r.agents.some((a) => a.id === 'huge'));
    assertFixtureAgentsLoad(r.agents.map((a) => a.id));
  });

  it('a binary file: not loaded, an error saying so', () => {
    write(s.workspace, '.agents/core/blob.yaml', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0xff]));
    write(s.workspace, '.mcp/servers/blob.json', Buffer.from([0x00, 0x00, 0x10]));
    const ad = only(agents().diagnostics, '.agents/core/blob.yaml');
    const sd = only(servers().diagnostics, '.mcp/servers/blob.json');
    for (const ds of [ad, sd]) {
      assert.deepEqual(ds.map((d) => [d.line, d.severity]), [[1, 'error']]);
      assert.match(ds[0]!.message, /binary/);
    }
  });

  it('a Markdown agent without front matter: an error at line 1', () => {
    write(s.workspace, '.claude/agents/plain.md', '# Just notes\n\nNo front matter here.\n');
    const r = agents();
    const ds = only(r.diagnostics, '.claude/agents/plain.md');
    assert.deepEqual(ds.map((d) => [d.line, d.severity]), [[1, 'error']]);
    assert.match(ds[0]!.message, /no YAML front matter/);
    assertFixtureAgentsLoad(r.agents.map((a) => a.id));
  });

  it('Markdown front matter: errors keep their line in the file; unclosed front matter is reported', () => {
    write(s.workspace, '.claude/agents/bad-fm.md', '---\nname: bad-fm\ndescription: x\ntools: [Read\n---\nbody\n');
    write(s.workspace, '.claude/agents/open.md', '---\nname: open\ndescription: x\nbody\n');
    write(s.workspace, '.claude/agents/noname.md', '---\ndescription: x\n---\nbody\n');
    const r = agents();
    const bad = only(r.diagnostics, '.claude/agents/bad-fm.md');
    assert.ok(bad.length >= 1 && bad.every((d) => d.line >= 4 && d.line <= 5), JSON.stringify(bad));
    assert.match(only(r.diagnostics, '.claude/agents/open.md')[0]!.message, /never closed/);
    const noname = only(r.diagnostics, '.claude/agents/noname.md');
    assert.ok(noname.some((d) => /name/.test(d.message) && d.severity === 'error'));
    assert.ok(!r.agents.some((a) => ['bad-fm', 'open'].includes(a.id)));
  });

  it('a server with neither command nor url: an error at its line, the others in the file load', () => {
    const f = write(s.workspace, '.mcp/servers/extra.json', JSON.stringify({ mcpServers: { ok: { command: 'ok-server' }, hollow: { args: ['x'] }, web: { type: 'sse', command: 'nope' } } }, null, 2));
    const r = servers();
    const ds = only(r.diagnostics, '.mcp/servers/extra.json');
    assert.deepEqual(ds.map((d) => [d.line, d.severity]), [[lineOf(f, '"hollow"'), 'error'], [lineOf(f, '"web"'), 'error']]);
    assert.match(ds[0]!.message, /server "hollow" has neither "command" nor "url"/);
    assert.match(ds[1]!.message, /type sse but has no "url"/);
    const ids = r.servers.map((x) => x.id);
    assert.ok(ids.includes('ok') && !ids.includes('hollow') && !ids.includes('web'));
    assert.ok(ids.includes('zen'));
  });

  it('invalid JSON in .mcp.json and a wrong type in .vscode/mcp.json (JSONC): lines as the user sees them', () => {
    write(s.workspace, '.mcp.json', '{\n  "mcpServers": {\n    "a": {"command": "x"}\n    "b": {"command": "y"}\n  }\n}\n');
    const vs = write(s.workspace, '.vscode/mcp.json', '{\n  // comment\n  "servers": {\n    "m": {\n      "command": "npx",\n      /* why */ "args": "not-a-list",\n    },\n  },\n}\n');
    const r = servers();
    assert.deepEqual(only(r.diagnostics, '.mcp.json').map((d) => [d.line, d.column]), [[4, 5]]);
    const vd = only(r.diagnostics, '.vscode/mcp.json');
    assert.deepEqual(vd.map((d) => d.line), [lineOf(vs, '"args"')]);
    assert.match(vd[0]!.message, /servers\.m\.args: must be array/);
    const m = r.servers.find((x) => x.id === 'm')!;
    assert.deepEqual([m.command, m.args], ['npx', undefined]);
    assert.ok(!r.servers.some((x) => x.id === 'playwright'), '.mcp.json did not load');
    assert.ok(r.servers.some((x) => x.id === 'zen'));
  });

  it('a broken discovery config: reported, and the cascade loads with defaults', () => {
    const f = write(s.workspace, '.agents/discovery-config.yaml', 'limits:\n  max_concurrent: many\ndisabled: code-reviewer\n');
    write(s.workspace, '.mcp/discovery-config.yaml', 'enabled: [context7\n');
    const a = agents();
    assert.deepEqual(only(a.diagnostics, '.agents/discovery-config.yaml').map((d) => d.line), [lineOf(f, 'max_concurrent'), lineOf(f, 'disabled')]);
    assert.equal(a.agents.find((x) => x.id === 'code-reviewer')!.enabled, true);
    const sv = servers();
    assert.equal(only(sv.diagnostics, '.mcp/discovery-config.yaml')[0]!.severity, 'error');
    assert.equal(sv.servers.find((x) => x.id === 'context7')!.enabled, false, 'optional stays off without a readable enabled list');
  });

  it('diagnostics never show absolute paths of home files', () => {
    write(s.home, '.claude/agents/broken.md', 'no front matter');
    const ds = agents().diagnostics;
    assert.deepEqual(ds.map((d) => d.file), ['~/.claude/agents/broken.md']);
    assert.ok(!JSON.stringify(ds).includes(path.dirname(s.home)));
  });
});
