import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AgentCascade, ServerCascade, WorkspaceCascade } from '../../../src/core/cascade';
import { RACY_MS } from '../../../src/core/file-stamp';
import { BUNDLED, USER_CODE_REVIEWER, scratchWorkspace, write } from './helpers';

async function untilOlderThanRacyWindow(file: string): Promise<void> {
  const st = fs.statSync(file);
  while (Date.now() - RACY_MS <= Math.max(st.mtimeMs, st.ctimeMs)) await new Promise((r) => setTimeout(r, 50));
}

describe('cascade: one-file reload and the parse cache', () => {
  let s: ReturnType<typeof scratchWorkspace>;
  beforeEach(() => { s = scratchWorkspace(); });
  afterEach(() => s.cleanup());

  const file = (rel: string) => path.join(s.workspace, rel);
  const agentCascade = () => new AgentCascade({ workspace: s.workspace, env: s.env, bundledAgentsDir: BUNDLED });
  const replaceIn = (rel: string, from: string, to: string) => fs.writeFileSync(file(rel), fs.readFileSync(file(rel), 'utf8').replace(from, to));

  it('reloadFile re-reads only the named file', () => {
    const c = agentCascade();
    c.load();
    replaceIn('.agents/core/ai-engineer.yaml', 'model: opus', 'model: haiku');
    replaceIn('.agents/project/journey-orchestrator.yaml', 'model: opus', 'model: sonnet');
    const r = c.reloadFile(file('.agents/core/ai-engineer.yaml'));
    assert.equal(r.agents.find((a) => a.id === 'ai-engineer')!.model, 'haiku');
    assert.equal(r.agents.find((a) => a.id === 'journey-orchestrator')!.model, 'opus', 'the other file was not re-read');
    assert.equal(c.load().agents.find((a) => a.id === 'journey-orchestrator')!.model, 'sonnet', 'a full load sees it');
  });

  it('load() serves unchanged files from the cache and sees any change: a same-size edit with the mtime set back too', async function () {
    this.timeout(60_000);
    const rel = '.agents/core/ai-engineer.yaml';
    const fixed = new Date('2026-01-02T03:04:05Z');
    fs.utimesSync(file(rel), fixed, fixed);
    // A stamp taken within RACY_MS of the file's last change is not trusted (see file-stamp.ts): wait that out.
    await untilOlderThanRacyWindow(file(rel));
    const c = agentCascade();
    const first = c.load().agents.find((a) => a.id === 'ai-engineer')!;
    assert.equal(c.load().agents.find((a) => a.id === 'ai-engineer')!.source, first.source, 'unchanged: served from the cache');
    replaceIn(rel, 'model: opus', 'model: xxxx'); // same size
    fs.utimesSync(file(rel), fixed, fixed); // same mtime: only ctime (and the racy window) tell
    assert.equal(c.load().agents.find((a) => a.id === 'ai-engineer')!.model, 'xxxx');
    assert.equal(c.reloadFile(file(rel)).agents.find((a) => a.id === 'ai-engineer')!.model, 'xxxx');
  });

  it('a same-size edit inside the same timestamp tick is seen: a freshly stamped file is parsed again', () => {
    const rel = '.agents/core/ai-engineer.yaml';
    const c = agentCascade();
    replaceIn(rel, 'model: opus', 'model: aaaa');
    assert.equal(c.load().agents.find((a) => a.id === 'ai-engineer')!.model, 'aaaa');
    const before = fs.statSync(file(rel));
    replaceIn(rel, 'model: aaaa', 'model: bbbb');
    // Force the same stamp a coarse clock would give (mtime back; ctime may well be equal on such a disk).
    fs.utimesSync(file(rel), before.atime, before.mtime);
    assert.equal(c.load().agents.find((a) => a.id === 'ai-engineer')!.model, 'bbbb');
  });

  it('a created file joins its layer and overrides; deleting it brings the hidden definition back', () => {
    const c = agentCascade();
    c.load();
    const created = write(s.workspace, '.claude/agents/code-reviewer.md', USER_CODE_REVIEWER);
    let cr = c.reloadFile(created).agents.find((a) => a.id === 'code-reviewer')!;
    assert.deepEqual([cr.layer, cr.hides.map((h) => h.layer)], ['claude', ['core', 'bundled']]);
    fs.rmSync(created);
    cr = c.reloadFile(created).agents.find((a) => a.id === 'code-reviewer')!;
    assert.deepEqual([cr.layer, cr.hides.map((h) => h.layer)], ['core', ['bundled']]);
  });

  it('a user-level file reloads too', () => {
    const c = agentCascade();
    c.load();
    const created = write(s.home, '.claude/agents/code-reviewer.md', USER_CODE_REVIEWER);
    assert.equal(c.reloadFile(created).agents.find((a) => a.id === 'code-reviewer')!.layer, 'user');
  });

  it('a changed discovery config is applied on reload', () => {
    const c = agentCascade();
    c.load();
    const cfg = write(s.workspace, '.agents/discovery-config.yaml', 'disabled: [ai-engineer]\n');
    assert.equal(c.reloadFile(cfg).agents.find((a) => a.id === 'ai-engineer')!.enabled, false);
  });

  it('a file outside the cascade changes nothing and costs no merge', () => {
    const c = agentCascade();
    const first = c.load();
    const other = write(s.workspace, 'src/other.ts', 'export {};\n');
    assert.equal(c.concerns(other), false);
    assert.equal(c.reloadFile(other), first);
  });

  it('server files reload one at a time, including .vscode/mcp.json and new .mcp/servers files', () => {
    const c = new ServerCascade({ workspace: s.workspace, env: s.env });
    c.load();
    replaceIn('.vscode/mcp.json', 'server-memory', 'server-memory@1.0.0');
    let r = c.reloadFile(file('.vscode/mcp.json'));
    assert.deepEqual(r.servers.find((x) => x.id === 'memory')!.args, ['-y', '@modelcontextprotocol/server-memory@1.0.0']);
    const added = write(s.workspace, '.mcp/servers/team.json', JSON.stringify({ mcpServers: { team: { url: 'http://127.0.0.1:7/mcp' } } }));
    r = c.reloadFile(added);
    assert.deepEqual(r.servers.find((x) => x.id === 'team')!.type, 'http');
    fs.rmSync(added);
    assert.equal(c.reloadFile(added).servers.find((x) => x.id === 'team'), undefined);
  });

  it('a lock file appearing makes the running instance win', () => {
    const c = new ServerCascade({ workspace: s.workspace, env: s.env });
    c.load();
    const lock = write(s.env.SWITCHBOARD_HOME!, 'servers/zen.lock', JSON.stringify({ pid: process.pid, url: 'http://127.0.0.1:4999/mcp', startedAt: new Date().toISOString() }));
    assert.equal(c.reloadFile(lock).servers.find((x) => x.id === 'zen')!.layer, 'external');
  });

  it('WorkspaceCascade sends a changed file to the cascade it belongs to', () => {
    const w = new WorkspaceCascade({ workspace: s.workspace, env: s.env, bundledAgentsDir: BUNDLED });
    w.load();
    const a = w.reloadFile(file('.agents/core/ai-engineer.yaml'));
    assert.ok(a.agents && !a.servers);
    const b = w.reloadFile(file('.mcp.json'));
    assert.ok(b.servers && !b.agents);
    assert.deepEqual(w.reloadFile(file('src/slugify.ts')), {});
  });
});
