import assert from 'node:assert/strict';
import path from 'node:path';
import { AgentCascade, defaultBundledAgentsDir } from '../../../src/core/cascade';
import { BUNDLED, FIXTURE, USER_CODE_REVIEWER, lineOf, scratchWorkspace, tempDir, write } from './helpers';

describe('agent cascade', () => {
  let s: ReturnType<typeof scratchWorkspace>;
  beforeEach(() => { s = scratchWorkspace(); });
  afterEach(() => s.cleanup());

  const load = () => new AgentCascade({ workspace: s.workspace, env: s.env, bundledAgentsDir: BUNDLED }).load();

  it('loads the sample workspace: every layer, no diagnostics', () => {
    const r = load();
    assert.deepEqual(r.diagnostics, []);
    const byId = Object.fromEntries(r.agents.map((a) => [a.id, a.layer]));
    assert.deepEqual(byId, {
      'ai-engineer': 'core',
      'code-reviewer': 'core',
      'docs-writer': 'bundled',
      'journey-orchestrator': 'project',
      'test-writer': 'defaults',
    });
  });

  it('normalises the seed YAML agent (ai-engineer) into the common shape', () => {
    const a = load().agents.find((x) => x.id === 'ai-engineer')!;
    assert.equal(a.format, 'yaml');
    assert.equal(a.version, '2.0.0');
    assert.equal(a.description, 'LLM applications and RAG systems specialist');
    assert.equal(a.category, 'core');
    assert.equal(a.model, 'opus');
    assert.deepEqual(a.fallbackModels, ['sonnet', 'haiku']);
    assert.equal(a.memoryRequirement, '512MB');
    assert.equal(a.executionMode, 'async');
    assert.deepEqual(a.tools, ['Read', 'Write', 'Edit']);
    assert.deepEqual(a.optionalTools, ['WebFetch', 'Task']);
    assert.deepEqual(a.services, { qdrant: '192.168.1.16:6333', zen_mcp: 'auto_discover' });
    assert.deepEqual(a.implementation, { type: 'markdown' });
    assert.equal(a.systemPrompt, '[Agent implementation content]\n');
    assert.deepEqual(a.source, { file: '.agents/core/ai-engineer.yaml', line: 2, path: path.join(s.workspace, '.agents/core/ai-engineer.yaml') });
    assert.equal(a.enabled, true);
  });

  it("the user's ~/.claude/agents/code-reviewer.md wins and lists the definitions it hides", () => {
    write(s.home, '.claude/agents/code-reviewer.md', USER_CODE_REVIEWER);
    const a = load().agents.find((x) => x.id === 'code-reviewer')!;
    assert.equal(a.layer, 'user');
    assert.equal(a.format, 'markdown');
    assert.deepEqual(a.source, { file: '~/.claude/agents/code-reviewer.md', line: 2, path: path.join(s.home, '.claude/agents/code-reviewer.md') });
    assert.equal(a.description, 'My own stricter reviewer');
    assert.deepEqual(a.tools, ['Read', 'Grep', 'Bash']);
    assert.equal(a.model, 'opus');
    assert.equal(a.systemPrompt, 'Be strict. Block on any missing test.');
    assert.deepEqual(a.hides, [
      { layer: 'core', file: '.agents/core/code-reviewer.yaml', line: lineOf(path.join(s.workspace, '.agents/core/code-reviewer.yaml'), 'id: code-reviewer') },
      { layer: 'bundled', file: '(bundled)/code-reviewer.md', line: 2 },
    ]);
  });

  it('orders layers user > project > claude > core > defaults > bundled', () => {
    const yaml = (id: string, d: string) => `metadata:\n  id: ${id}\n  description: ${d}\n`;
    write(s.workspace, '.agents/project/x.yaml', yaml('x', 'project'));
    write(s.workspace, '.claude/agents/x.md', '---\nname: x\ndescription: claude\n---\nbody\n');
    write(s.workspace, '.agents/core/x.yaml', yaml('x', 'core'));
    write(s.workspace, '.agents/defaults/x.yml', yaml('x', 'defaults'));
    write(s.workspace, '.claude/agents/y.md', '---\nname: y\ndescription: claude\n---\nbody\n');
    write(s.workspace, '.agents/core/y.yaml', yaml('y', 'core'));
    const r = load();
    const x = r.agents.find((a) => a.id === 'x')!;
    assert.equal(x.description, 'project');
    assert.deepEqual(x.hides.map((h) => h.layer), ['claude', 'core', 'defaults']);
    const y = r.agents.find((a) => a.id === 'y')!;
    assert.equal(y.layer, 'claude');
    assert.equal(y.source.file, '.claude/agents/y.md');
  });

  it('reads Claude Code tools given as a list, and no tools as "inherits all"', () => {
    write(s.workspace, '.claude/agents/a.md', '---\nname: a\ndescription: list\ntools:\n  - Read\n  - Edit\n---\nA\n');
    write(s.workspace, '.claude/agents/b.md', '---\nname: b\ndescription: none\n---\nB\n');
    const r = load();
    assert.deepEqual(r.agents.find((a) => a.id === 'a')!.tools, ['Read', 'Edit']);
    assert.equal(r.agents.find((a) => a.id === 'b')!.tools, undefined);
  });

  it('a per-agent layer_order in discovery-config.yaml pins an agent to a lower layer', () => {
    write(s.home, '.claude/agents/ai-engineer.md', '---\nname: ai-engineer\ndescription: mine\n---\nx\n');
    write(s.home, '.claude/agents/code-reviewer.md', USER_CODE_REVIEWER);
    write(s.workspace, '.agents/discovery-config.yaml', 'agents:\n  ai-engineer:\n    layer_order: [core]\n');
    const r = load();
    const ai = r.agents.find((a) => a.id === 'ai-engineer')!;
    assert.equal(ai.layer, 'core');
    assert.deepEqual(ai.hides.map((h) => h.layer), ['user']);
    // Other agents keep the default order.
    assert.equal(r.agents.find((a) => a.id === 'code-reviewer')!.layer, 'user');
  });

  it('a top-level layer_order changes the default order for every agent', () => {
    write(s.home, '.claude/agents/code-reviewer.md', USER_CODE_REVIEWER);
    write(s.workspace, '.agents/discovery-config.yaml', 'layer_order: [core, user]\n');
    assert.equal(load().agents.find((a) => a.id === 'code-reviewer')!.layer, 'core');
  });

  it('disabled agents are listed with enabled: false; an unknown id there is a warning at its line', () => {
    const cfg = write(s.workspace, '.agents/discovery-config.yaml', 'disabled:\n  - docs-writer\n  - no-such-agent\n');
    const r = load();
    assert.equal(r.agents.find((a) => a.id === 'docs-writer')!.enabled, false);
    assert.equal(r.agents.find((a) => a.id === 'ai-engineer')!.enabled, true);
    assert.deepEqual(r.diagnostics.map((d) => [d.file, d.line, d.severity]), [['.agents/discovery-config.yaml', lineOf(cfg, 'no-such-agent'), 'warning']]);
  });

  it('exposes limits and context files; a missing context file is a warning', () => {
    let r = load();
    assert.deepEqual(r.limits, { max_concurrent: 3, total_memory: '2GB', model_limits: { opus: { max_concurrent: 1 }, sonnet: { max_concurrent: 2 } } });
    assert.deepEqual(r.context.map((c) => [c.file, c.exists]), [
      ['.agents/context/c-r-e-a-t-e-framework.md', true],
      ['.agents/context/shared-architecture.md', true],
    ]);
    const cfg = write(s.workspace, '.agents/discovery-config.yaml', 'context:\n  - .agents/context/gone.md\n');
    r = load();
    assert.deepEqual(r.context.map((c) => [c.file, c.exists]), [['.agents/context/gone.md', false]]);
    assert.equal(r.diagnostics[0]!.line, lineOf(cfg, 'gone.md'));
    assert.match(r.diagnostics[0]!.message, /does not exist/);
  });

  it('without a context key, every file in .agents/context/ is loaded', () => {
    write(s.workspace, '.agents/discovery-config.yaml', 'disabled: []\n');
    assert.deepEqual(load().context.map((c) => c.file), ['.agents/context/c-r-e-a-t-e-framework.md', '.agents/context/shared-architecture.md']);
  });

  it('python and remote implementations keep their source; README.md is not an agent', () => {
    write(s.workspace, '.agents/core/py.yaml', 'metadata:\n  id: py\nimplementation:\n  type: python\n  source: agents.py_agent:run\n');
    write(s.workspace, '.agents/core/README.md', '# About these agents\n');
    const r = load();
    assert.deepEqual(r.agents.find((a) => a.id === 'py')!.implementation, { type: 'python', source: 'agents.py_agent:run' });
    assert.deepEqual(r.diagnostics, []);
  });

  it('finds the bundled defaults next to the sources when no folder is given', () => {
    assert.equal(defaultBundledAgentsDir(), BUNDLED);
    const r = new AgentCascade({ workspace: FIXTURE, env: s.env }).load();
    assert.equal(r.agents.find((a) => a.id === 'docs-writer')!.source.file, '(bundled)/docs-writer.md');
  });

  it('an empty workspace gives just the bundled agents and no diagnostics', () => {
    const t = tempDir();
    try {
      const r = new AgentCascade({ workspace: t.dir, env: s.env, bundledAgentsDir: BUNDLED }).load();
      assert.deepEqual(r.agents.map((a) => a.layer), ['bundled', 'bundled', 'bundled']);
      assert.deepEqual(r.diagnostics, []);
      assert.deepEqual(r.context, []);
    } finally {
      t.cleanup();
    }
  });
});
