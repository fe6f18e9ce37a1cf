/**
 * Agent files in workspace layers are opened once, by descriptor, with the folder checked once per load (see
 * confineFolder / openInFolder): every refusal confineToWorkspace made per file must still happen, on the first
 * load, from the cache, and on a one-file reload.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Diagnostic } from '../../../src/core/diagnostics';
import { AgentCascade } from '../../../src/core/cascade';
import { RACY_MS } from '../../../src/core/file-stamp';
import { BUNDLED, scratchWorkspace, write } from './helpers';

const agentYaml = (id: string) => `metadata:\n  id: ${id}\n  description: ${id}\n`;

describe('cascade: agent files stay inside the workspace', () => {
  let s: ReturnType<typeof scratchWorkspace>;
  beforeEach(() => { s = scratchWorkspace(); });
  afterEach(() => s.cleanup());

  const cascade = () => new AgentCascade({ workspace: s.workspace, env: s.env, bundledAgentsDir: BUNDLED });
  const messages = (ds: Diagnostic[], file: string) => ds.filter((d) => d.file === file).map((d) => `${d.line}:${d.column}: ${d.severity}: ${d.message}`);
  const outside = () => write(path.dirname(s.workspace), 'outside/secret-agent.yaml', agentYaml('leaked'));

  it('a link to a file outside the workspace is refused, on every load and on reload', () => {
    const link = path.join(s.workspace, '.agents/core/leaky.yaml');
    fs.symlinkSync(outside(), link);
    const c = cascade();
    for (const r of [c.load(), c.load(), c.reloadFile(link)]) {
      assert.deepEqual(messages(r.diagnostics, '.agents/core/leaky.yaml'), ['1:1: error: agent file not loaded: it is a link to a file outside the workspace, which is never read']);
      assert.ok(!r.agents.some((a) => a.id === 'leaked'));
    }
  });

  it('a link inside the workspace loads, and re-pointing it outside is seen on the next load', () => {
    const target = write(s.workspace, 'docs/agent.yaml', agentYaml('linked'));
    const link = path.join(s.workspace, '.agents/core/linked.yaml');
    fs.symlinkSync(target, link);
    const c = cascade();
    assert.ok(c.load().agents.some((a) => a.id === 'linked'));
    assert.ok(c.load().agents.some((a) => a.id === 'linked'), 'from the cache');
    fs.unlinkSync(link);
    fs.symlinkSync(outside(), link);
    const r = c.load();
    assert.ok(!r.agents.some((a) => a.id === 'leaked' || a.id === 'linked'));
    assert.match(messages(r.diagnostics, '.agents/core/linked.yaml')[0]!, /link to a file outside the workspace/);
  });

  it('a layer folder that is a link out of the workspace: each of its files is refused', () => {
    const away = path.join(path.dirname(s.workspace), 'away');
    write(away, 'one.yaml', agentYaml('away-one'));
    write(away, 'two.md', '---\nname: away-two\ndescription: x\n---\nbody\n');
    fs.rmSync(path.join(s.workspace, '.agents/project'), { recursive: true, force: true });
    fs.symlinkSync(away, path.join(s.workspace, '.agents/project'));
    const c = cascade();
    for (const r of [c.load(), c.load()]) {
      assert.ok(!r.agents.some((a) => a.id.startsWith('away-')));
      for (const f of ['one.yaml', 'two.md']) assert.match(messages(r.diagnostics, `.agents/project/${f}`)[0]!, /agent file not loaded: it is a link to a file outside the workspace/);
    }
  });

  it('a hard link is refused (its content may live outside), also when it appears after a cached load', async function () {
    this.timeout(60_000);
    const file = write(s.workspace, '.agents/core/hard.yaml', agentYaml('hard'));
    // Past the racy window, so the second load really answers from the cache unless the stamp changed.
    const st = fs.statSync(file);
    while (Date.now() - RACY_MS <= Math.max(st.mtimeMs, st.ctimeMs)) await new Promise((r) => setTimeout(r, 50));
    const c = cascade();
    assert.ok(c.load().agents.some((a) => a.id === 'hard'));
    fs.linkSync(file, path.join(path.dirname(s.workspace), 'hard-elsewhere.yaml'));
    const r = c.load();
    assert.ok(!r.agents.some((a) => a.id === 'hard'));
    assert.deepEqual(messages(r.diagnostics, '.agents/core/hard.yaml'), ['1:1: error: agent file not loaded: it has several hard links, so its content may live outside the workspace']);
  });

  it('key-material names are never read, even as agent files', () => {
    write(s.workspace, '.agents/core/id_rsa.yaml', agentYaml('keyish'));
    const r = cascade().load();
    assert.ok(!r.agents.some((a) => a.id === 'keyish'));
    assert.deepEqual(messages(r.diagnostics, '.agents/core/id_rsa.yaml'), ['1:1: error: agent file not loaded: "id_rsa*" is key material, which is never read']);
  });

  it('a named pipe under an agent name is refused at once, not waited on', () => {
    const fifo = path.join(s.workspace, '.agents/core/pipe.yaml');
    execFileSync('mkfifo', [fifo]);
    // listAgentFiles lists only files and links; a link to the pipe is what reaches the open.
    fs.symlinkSync(fifo, path.join(s.workspace, '.agents/core/to-pipe.yaml'));
    const r = cascade().load();
    assert.deepEqual(messages(r.diagnostics, '.agents/core/to-pipe.yaml'), ['1:1: error: agent file not loaded: it is not a regular file']);
    assert.ok(r.agents.some((a) => a.id === 'ai-engineer'), 'the rest loads');
  });

  it('a dangling link is reported; a deleted file just disappears', () => {
    fs.symlinkSync(path.join(s.workspace, 'nowhere.yaml'), path.join(s.workspace, '.agents/core/dangling.yaml'));
    const c = cascade();
    const r = c.load();
    assert.deepEqual(messages(r.diagnostics, '.agents/core/dangling.yaml'), ['1:1: error: agent file not loaded: it does not exist (or is a link to nothing)']);
    const gone = path.join(s.workspace, '.agents/core/ai-engineer.yaml');
    fs.unlinkSync(gone);
    const after = c.reloadFile(gone);
    assert.ok(!after.agents.some((a) => a.id === 'ai-engineer'));
    assert.deepEqual(messages(after.diagnostics, '.agents/core/ai-engineer.yaml'), []);
  });

  it('bad UTF-8 and NUL bytes: not loaded, an error saying so', () => {
    write(s.workspace, '.agents/core/latin1.yaml', Buffer.from('metadata:\n  id: caf\xe9\n', 'latin1'));
    write(s.workspace, '.claude/agents/nul.md', Buffer.from('---\nname: nul\0\ndescription: x\n---\n'));
    const r = cascade().load();
    assert.deepEqual(messages(r.diagnostics, '.agents/core/latin1.yaml'), ['1:1: error: is a binary file, not text; it was not loaded']);
    assert.deepEqual(messages(r.diagnostics, '.claude/agents/nul.md'), ['1:1: error: is a binary file, not text; it was not loaded']);
  });
});
