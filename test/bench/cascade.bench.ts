/**
 * Cascade load time on a generated workspace: 1,000 agents (YAML and Markdown across every layer, a third of the
 * ids defined in two layers) + 200 MCP servers. Reference: the same files read and yaml.parse'd, no cascade logic.
 * Cold: a new WorkspaceCascade (no parse cache). Warm: load() again on the same one, files unchanged (a stat each,
 * see core/file-stamp.ts). Goals: warm ≤ 0.4× and cold ≤ 1.0× the reference, p50, same run.
 * yaml_library_path_*: the same workspace with folded (`>`) descriptions, which the simple-YAML fast path leaves
 * to the yaml library (no goal; it shows what files outside the fast path cost, against their own reference).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { WorkspaceCascade } from '../../src/core/cascade';
import { ratio, round, summary, time } from './stats';

const AGENTS = 1000;
const SERVERS = 200;

/** 'folded': descriptions as folded block scalars (`>`), which the simple-YAML fast path leaves to the yaml library. */
type Style = 'plain' | 'folded';

function yamlAgent(id: string, i: number, style: Style = 'plain'): string {
  const description = `Generated agent number ${i} for the cascade benchmark`;
  return `metadata:
  id: ${id}
  version: 1.${i % 10}.0
  description: ${style === 'folded' ? `>\n    ${description.replace(' for', '\n    for')}` : description}
  category: bench
runtime:
  model: ${['opus', 'sonnet', 'haiku'][i % 3]}
  fallback_models: [sonnet, haiku]
  memory_requirement: ${128 * (1 + (i % 4))}MB
  execution_mode: ${i % 2 ? 'async' : 'sync'}
dependencies:
  services:
    zen_mcp: auto_discover
tools:
  required: ["Read", "Write", "Edit"]
  optional: ["WebFetch"]
implementation:
  type: markdown
  source: |
    You are agent ${i}. Do the task you are given, carefully.
    Report what you changed and why.
`;
}

function markdownAgent(id: string, i: number, style: Style = 'plain'): string {
  const description = `Generated subagent number ${i} for the cascade benchmark`;
  return `---
name: ${id}
description: ${style === 'folded' ? `>\n  ${description.replace(' for', '\n  for')}` : description}
tools: Read, Grep, Glob
model: ${['opus', 'sonnet', 'haiku'][i % 3]}
---
You are subagent ${i}. Read the relevant files first, then answer with a short plan and the change.
`;
}

interface Generated {
  root: string;
  workspace: string;
  env: NodeJS.ProcessEnv;
  bundled: string;
  yamlFiles: string[];
  jsonFiles: string[];
  markdownFiles: string[];
  reloadTarget: string;
}

export function generate(style: Style = 'plain'): Generated {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-cascade-')));
  const workspace = path.join(root, 'ws');
  const home = path.join(root, 'home');
  const bundled = path.join(root, 'bundled');
  const layers: Array<{ dir: string; share: number }> = [
    { dir: path.join(home, '.claude/agents'), share: 0.1 },
    { dir: path.join(workspace, '.agents/project'), share: 0.2 },
    { dir: path.join(workspace, '.claude/agents'), share: 0.15 },
    { dir: path.join(workspace, '.agents/core'), share: 0.3 },
    { dir: path.join(workspace, '.agents/defaults'), share: 0.15 },
    { dir: bundled, share: 0.1 },
  ];
  const out: Generated = { root, workspace, env: { HOME: home, SWITCHBOARD_HOME: path.join(home, '.switchboard') }, bundled, yamlFiles: [], jsonFiles: [], markdownFiles: [], reloadTarget: '' };
  let n = 0;
  let above: string[] = [];
  for (const { dir, share } of layers) {
    fs.mkdirSync(dir, { recursive: true });
    const count = Math.round(AGENTS * share);
    const here: string[] = [];
    for (let k = 0; k < count; k++, n++) {
      // Every third agent reuses an id from the layer above, so overrides are exercised.
      const id = k % 3 === 0 && above[k] ? above[k]! : `agent-${n}`;
      here.push(id);
      const markdown = n % 2 === 1;
      const file = path.join(dir, `${id}-${n}.${markdown ? 'md' : 'yaml'}`);
      fs.writeFileSync(file, markdown ? markdownAgent(id, n, style) : yamlAgent(id, n, style));
      (markdown ? out.markdownFiles : out.yamlFiles).push(file);
    }
    above = here;
  }
  out.reloadTarget = out.yamlFiles[Math.floor(out.yamlFiles.length / 2)]!;
  const server = (i: number) => ({ command: 'npx', args: ['-y', `@bench/server-${i}@latest`], env: { TOKEN: '${BENCH_TOKEN}' } });
  const writeServers = (file: string, from: number, count: number, key = 'mcpServers') => {
    const servers: Record<string, unknown> = {};
    for (let i = from; i < from + count; i++) servers[`server-${i}`] = server(i);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ [key]: servers }, null, 2));
    out.jsonFiles.push(file);
  };
  for (let f = 0; f < 8; f++) writeServers(path.join(workspace, `.mcp/servers/team-${f}.json`), f * 15, 15);
  writeServers(path.join(workspace, '.mcp.json'), 120, 30);
  writeServers(path.join(workspace, '.vscode/mcp.json'), 150, 30, 'servers');
  writeServers(path.join(home, '.claude/mcp/servers/mine.json'), 180, 20);
  const discovery = ['enabled: [server-1]', 'servers:', '  server-5:', '    docker:', '      image: bench/server-5', ''].join('\n');
  fs.writeFileSync(path.join(workspace, '.mcp/discovery-config.yaml'), discovery);
  out.yamlFiles.push(path.join(workspace, '.mcp/discovery-config.yaml'));
  return out;
}

/** Reference: read every file and yaml.parse it (front matter for Markdown), no validation, positions or merge. */
function referenceLoad(g: Generated): void {
  for (const f of [...g.yamlFiles, ...g.jsonFiles]) parseYaml(fs.readFileSync(f, 'utf8'));
  for (const f of g.markdownFiles) {
    const text = fs.readFileSync(f, 'utf8');
    parseYaml(text.slice(4, text.indexOf('\n---', 4)));
  }
}

/** `runs` cold loads (a new WorkspaceCascade each) each followed by a reference run; the first `warmup` are dropped. */
function coldBesideReference(g: Generated, runs: number, warmup: number): { cold: number[]; reference: number[] } {
  const options = { workspace: g.workspace, env: g.env, bundledAgentsDir: g.bundled };
  const cold: number[] = [];
  const reference: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t0 = process.hrtime.bigint();
    new WorkspaceCascade(options).load();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    t0 = process.hrtime.bigint();
    referenceLoad(g);
    const refMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= warmup) {
      cold.push(ms);
      reference.push(refMs);
    }
  }
  return { cold, reference };
}

export async function run(): Promise<object> {
  const g = generate();
  try {
    const options = { workspace: g.workspace, env: g.env, bundledAgentsDir: g.bundled };
    const check = new WorkspaceCascade(options).load();
    if (check.servers.servers.length !== SERVERS) throw new Error(`expected ${SERVERS} servers, found ${check.servers.servers.length}`);
    if (check.agents.diagnostics.length || check.servers.diagnostics.length) throw new Error('generated workspace has diagnostics: ' + JSON.stringify([...check.agents.diagnostics, ...check.servers.diagnostics].slice(0, 3)));

    // First load in this process (cold JIT as well as cold cache): what the CLI pays.
    const firstStart = process.hrtime.bigint();
    new WorkspaceCascade(options).load();
    const firstMs = Number(process.hrtime.bigint() - firstStart) / 1e6;

    // Cold loads and reference runs alternate, so load changes on the machine weigh on both alike.
    const { cold, reference } = coldBesideReference(g, 35, 5);
    const coldAgents = await time(30, () => new WorkspaceCascade(options).agents.load(), 5);
    const coldServers = await time(30, () => new WorkspaceCascade(options).servers.load(), 5);

    const warm = new WorkspaceCascade(options);
    warm.load();
    const warmLoad = await time(30, () => warm.load(), 5);
    const original = fs.readFileSync(g.reloadTarget, 'utf8');
    // Only reloadFile() is timed; the edit that triggers it is made before the clock starts.
    const reload: number[] = [];
    for (let i = 0; i < 220; i++) {
      fs.writeFileSync(g.reloadTarget, original.replace('model: ', i % 2 ? 'model: x' : 'model: '));
      const t0 = process.hrtime.bigint();
      const result = warm.reloadFile(g.reloadTarget);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (i >= 20) reload.push(ms); // the first runs warm the JIT
      if (!result.agents) throw new Error('reload did not concern the agent cascade');
    }

    // The same workspace with folded (`>`) descriptions: those files are composed by the yaml library (the
    // simple-YAML fast path declines them), so this is what a workspace outside the fast path costs.
    const folded = generate('folded');
    let slow: { cold: number[]; reference: number[] };
    try {
      const same = new WorkspaceCascade({ workspace: folded.workspace, env: folded.env, bundledAgentsDir: folded.bundled }).load();
      if (same.agents.diagnostics.length || same.agents.agents.length !== check.agents.agents.length) throw new Error('the folded workspace does not load like the other');
      slow = coldBesideReference(folded, 18, 3);
    } finally {
      fs.rmSync(folded.root, { recursive: true, force: true });
    }

    const c = summary(cold);
    const ref = summary(reference);
    const slowCold = summary(slow.cold);
    const slowRef = summary(slow.reference);
    const r = summary(reload);
    const w = summary(warmLoad);
    return {
      workload: { agents_files: AGENTS, agent_ids: check.agents.agents.length, overridden: check.agents.agents.filter((a) => a.hides.length).length, servers: check.servers.servers.length },
      cold_load_agents_and_servers: c,
      cold_load_agents: summary(coldAgents),
      cold_load_servers: summary(coldServers),
      first_load_in_process_ms: round(firstMs),
      reference_read_and_yaml_parse: ref,
      cold_vs_reference_p50: ratio(c.p50_ms, ref.p50_ms),
      yaml_library_path_cold_load: slowCold,
      yaml_library_path_reference: slowRef,
      yaml_library_path_cold_vs_reference_p50: ratio(slowCold.p50_ms, slowRef.p50_ms),
      warm_load_only_changed_files: w,
      warm_vs_reference_p50: ratio(w.p50_ms, ref.p50_ms),
      one_file_reload: r,
      one_file_reload_vs_cold_p50: ratio(r.p50_ms, c.p50_ms),
      goals: { warm_vs_reference: '<= 0.4', cold_vs_reference: '<= 1.0', reload_p50_ms: 5, warm_met: w.p50_ms <= 0.4 * ref.p50_ms, cold_met: c.p50_ms <= ref.p50_ms, reload_met: r.p50_ms <= 5 },
    };
  } finally {
    fs.rmSync(g.root, { recursive: true, force: true });
  }
}
