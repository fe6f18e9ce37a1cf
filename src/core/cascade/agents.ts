import fs from 'node:fs';
import path from 'node:path';
import { diagnostic, type Diagnostic } from '../diagnostics';
import { userHome } from '../paths';
import { parseStructuredText } from '../config/structured-file';
import { FileCache } from './file-cache';
import { completeOrder, mergeLayers, sortDiagnostics } from './merge';
import { PathDisplay } from './display-path';
import { isRecord, parseSourceFile, readOpenedText, stringList, withoutInvalid } from './read-source';
import { agentSchema, agentsDiscoverySchema, subagentFrontMatterSchema } from './schemas';
import type { Candidate, CascadeItem } from './types';
import { confineFolder, confineToWorkspace, openChecked, openInFolder, type ConfinedFolder, type OpenedFile } from '../files/confine';

/** Agent layers, highest precedence first (SPEC "Cascades"). */
export const AGENT_LAYERS = ['user', 'project', 'claude', 'core', 'defaults', 'bundled'] as const;
export type AgentLayer = (typeof AGENT_LAYERS)[number];
/** Layers read from the workspace: their files must really lie inside it (a link out is refused). */
const WORKSPACE_AGENT_LAYERS: ReadonlySet<AgentLayer> = new Set(['project', 'claude', 'core', 'defaults']);

export type ImplementationType = 'markdown' | 'python' | 'remote';

/** One agent in a single shape, whichever format it was written in. */
export interface AgentDefinition {
  format: 'yaml' | 'markdown';
  description?: string;
  version?: string;
  category?: string;
  /** Preferred model (opus, sonnet, haiku, inherit, or a provider model id). */
  model?: string;
  fallbackModels: string[];
  memoryRequirement?: string;
  executionMode?: 'sync' | 'async';
  /** Tools the agent needs; undefined means it inherits every tool (Claude Code's default). */
  tools?: string[];
  optionalTools: string[];
  services: Record<string, string>;
  dependsOnAgents: string[];
  implementation: { type: ImplementationType; source?: string };
  /** The prompt for markdown implementations (a Markdown file's body, or implementation.source in YAML). */
  systemPrompt?: string;
}

export type Agent = CascadeItem<AgentDefinition, AgentLayer>;

export interface AgentLimits {
  max_concurrent?: number;
  total_memory?: string;
  model_limits?: Record<string, { max_concurrent?: number; max_tokens_per_day?: number }>;
}

export interface ContextFile {
  file: string;
  path: string;
  exists: boolean;
}

export interface AgentCascadeResult {
  agents: Agent[];
  /** Files loaded with every agent (discovery config `context`, or every file in .agents/context/). */
  context: ContextFile[];
  limits?: AgentLimits;
  diagnostics: Diagnostic[];
}

export interface AgentCascadeOptions {
  workspace: string;
  env?: NodeJS.ProcessEnv;
  /** Agents shipped with Switchboard; defaults to media/default-agents next to the running bundle. */
  bundledAgentsDir?: string;
}

interface AgentsDiscoveryConfig {
  layer_order?: AgentLayer[];
  agents?: Record<string, { layer_order?: AgentLayer[] }>;
  disabled?: string[];
  limits?: AgentLimits;
  context?: string[];
}

interface ParsedDiscovery {
  config: AgentsDiscoveryConfig;
  diagnostics: Diagnostic[];
  lineOf(p: ReadonlyArray<string | number>): number;
}

interface ParsedAgentFile {
  candidate?: Candidate<AgentDefinition, AgentLayer>;
  diagnostics: Diagnostic[];
}

const AGENT_FILE = /\.(ya?ml|md)$/i;

/**
 * Finds media/default-agents relative to the running file: dist/sidecar.js and dist/extension.js sit one level
 * below the package root, src/core/cascade/*.ts three levels (tests run from source).
 */
export function defaultBundledAgentsDir(from: string = __dirname): string {
  let dir = from;
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'media', 'default-agents');
    if (fs.existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return path.join(from, '..', 'media', 'default-agents');
}

/** Agent files directly inside `dir` (sorted, so "first wins" is stable); README.md is documentation. */
export function listAgentFiles(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && AGENT_FILE.test(e.name) && e.name.toLowerCase() !== 'readme.md')
    .map((e) => path.join(dir, e.name))
    .sort();
}

/**
 * The agent cascade of one workspace. load() lists the layer folders and parses what changed since the last
 * load; reloadFile() re-parses a single file (the editor's file watcher calls it) and re-merges.
 */
export class AgentCascade {
  readonly workspace: string;
  readonly layerDirs: ReadonlyArray<{ layer: AgentLayer; dir: string }>;
  readonly discoveryFile: string;
  readonly contextDir: string;
  readonly display: PathDisplay;
  private readonly agentCache = new FileCache<ParsedAgentFile>();
  private readonly discoveryCache = new FileCache<ParsedDiscovery>();
  private readonly files = new Map<AgentLayer, string[]>();
  /** Parse results of listed files; merge() reads only these, so a one-file reload touches one file. */
  private readonly parsed = new Map<string, ParsedAgentFile>();
  private discovery: ParsedDiscovery | undefined;
  private current: AgentCascadeResult | undefined;

  constructor(options: AgentCascadeOptions) {
    this.workspace = path.resolve(options.workspace);
    const home = path.resolve(userHome(options.env ?? process.env));
    const bundled = path.resolve(options.bundledAgentsDir ?? defaultBundledAgentsDir());
    const ws = this.workspace;
    const dirs: Array<{ layer: AgentLayer; dir: string }> = [
      { layer: 'user', dir: path.join(home, '.claude', 'agents') },
      { layer: 'project', dir: path.join(ws, '.agents', 'project') },
      { layer: 'claude', dir: path.join(ws, '.claude', 'agents') },
      { layer: 'core', dir: path.join(ws, '.agents', 'core') },
      { layer: 'defaults', dir: path.join(ws, '.agents', 'defaults') },
      { layer: 'bundled', dir: bundled },
    ];
    // A workspace that is the home folder would see ~/.claude/agents twice; the user layer keeps it.
    this.layerDirs = dirs.filter((d, i) => dirs.findIndex((o) => o.dir === d.dir) === i);
    this.discoveryFile = path.join(ws, '.agents', 'discovery-config.yaml');
    this.contextDir = path.join(ws, '.agents', 'context');
    this.display = new PathDisplay([
      { dir: ws, prefix: '' },
      { dir: home, prefix: '~/' },
      { dir: bundled, prefix: '(bundled)/' },
    ]);
  }

  /** Lists every layer and merges, re-parsing only files whose mtime or size changed. */
  load(): AgentCascadeResult {
    const all: string[] = [];
    for (const { layer, dir } of this.layerDirs) {
      const files = listAgentFiles(dir);
      this.files.set(layer, files);
      // Checked on every load, not cached: a folder can be re-pointed without any file in it changing.
      const folder = files.length && WORKSPACE_AGENT_LAYERS.has(layer) ? confineFolder(this.workspace, dir) : undefined;
      for (const file of files) this.parseCached(file, layer, folder);
      all.push(...files);
    }
    this.agentCache.retainOnly(all);
    this.discovery = this.discoveryCache.get(this.discoveryFile, (f, stat) => parseDiscovery(f, this.display.show(f), stat));
    return (this.current = this.merge());
  }

  /** The last result (loading first if needed). */
  result(): AgentCascadeResult {
    return this.current ?? this.load();
  }

  /** True when `file` can change this cascade. */
  concerns(file: string): boolean {
    const abs = path.resolve(file);
    return abs === this.discoveryFile || path.dirname(abs) === this.contextDir || this.layerOf(abs) !== undefined;
  }

  /** Re-reads one changed, created or deleted file and re-merges; other files come from the cache. */
  reloadFile(file: string): AgentCascadeResult {
    if (!this.current) return this.load();
    const abs = path.resolve(file);
    if (abs === this.discoveryFile) {
      this.discoveryCache.forget(abs);
      this.discovery = this.discoveryCache.get(abs, (f, stat) => parseDiscovery(f, this.display.show(f), stat));
    } else {
      const layer = this.layerOf(abs);
      if (layer) {
        this.agentCache.forget(abs);
        const listed = this.files.get(layer) ?? [];
        const folder = WORKSPACE_AGENT_LAYERS.has(layer) ? confineFolder(this.workspace, path.dirname(abs)) : undefined;
        const exists = this.parseCached(abs, layer, folder) !== undefined;
        const at = listed.indexOf(abs);
        if (exists && at === -1) this.files.set(layer, [...listed, abs].sort());
        if (!exists && at !== -1) this.files.set(layer, listed.filter((f) => f !== abs));
      } else if (path.dirname(abs) !== this.contextDir) {
        return this.current;
      }
    }
    return (this.current = this.merge());
  }

  private parseCached(file: string, layer: AgentLayer, folder: ConfinedFolder | undefined): ParsedAgentFile | undefined {
    const parsed = this.readAgent(file, layer, folder);
    if (parsed) this.parsed.set(file, parsed);
    else this.parsed.delete(file);
    return parsed;
  }

  /**
   * One agent file, from the cache when unchanged. A cached plain file costs one lstat; otherwise the file is
   * opened once and the stamp, the checks and the text all come from that descriptor (no stat, realpath or
   * second open per file). `folder` is the layer folder's confinement (workspace layers only).
   */
  private readAgent(file: string, layer: AgentLayer, folder: ConfinedFolder | undefined): ParsedAgentFile | undefined {
    const confined = WORKSPACE_AGENT_LAYERS.has(layer);
    // The clock is read before the file: a change after this moment is either in the stamp or makes it racy.
    const readAt = Date.now();
    if (this.agentCache.has(file)) {
      const stat = confined ? fs.lstatSync(file, { throwIfNoEntry: false }) : fs.statSync(file, { throwIfNoEntry: false });
      if (!stat) {
        this.agentCache.forget(file);
        return undefined;
      }
      // A link is resolved and checked again below: it can be re-pointed without the target changing.
      const hit = stat.isSymbolicLink() || (confined && !folder?.ok) ? undefined : this.agentCache.fresh(file, stat);
      if (hit) return hit;
    }
    const opened = confined ? this.openConfined(file, folder) : openFollowing(file);
    if (!opened.ok) {
      this.agentCache.forget(file);
      if (opened.missing) return undefined;
      const reason = confined ? `agent file not loaded: ${opened.reason}` : opened.reason;
      return { diagnostics: [diagnostic(this.display.showIn(path.dirname(file), path.basename(file)), 1, 1, reason)] };
    }
    const hit = this.agentCache.fresh(file, opened.stat);
    if (hit) {
      fs.closeSync(opened.fd);
      return hit;
    }
    const display = this.display.showIn(path.dirname(file), path.basename(file));
    const read = readOpenedText(opened.fd, opened.stat, display);
    const parsed = 'problem' in read ? { diagnostics: [read.problem] } : parseAgentText(file, display, read.text, layer);
    this.agentCache.put(file, opened.stat, readAt, parsed);
    return parsed;
  }

  /** Opens a workspace-layer file under confineToWorkspace's rules: the folder checked once, links one by one. */
  private openConfined(file: string, folder: ConfinedFolder | undefined): Exclude<OpenedFile, { link: true }> {
    folder ??= confineFolder(this.workspace, path.dirname(file));
    if (!folder.ok) return folder;
    const opened = openInFolder(folder, path.basename(file));
    if (!('link' in opened)) return opened;
    const confined = confineToWorkspace(this.workspace, file);
    if (!confined.ok) return { ok: false, missing: confined.missing && !isLink(file), reason: confined.reason };
    const target = openChecked(confined.real);
    if (target.ok && (target.stat.ino !== confined.stat.ino || target.stat.dev !== confined.stat.dev)) {
      fs.closeSync(target.fd);
      return { ok: false, missing: false, reason: 'it changed while it was being read' };
    }
    return 'link' in target ? { ok: false, missing: false, reason: 'it changed while it was being read' } : target;
  }

  private layerOf(abs: string): AgentLayer | undefined {
    if (!AGENT_FILE.test(abs) || path.basename(abs).toLowerCase() === 'readme.md') return undefined;
    const dir = path.dirname(abs);
    return this.layerDirs.find((d) => d.dir === dir)?.layer;
  }

  private merge(): AgentCascadeResult {
    const diagnostics: Diagnostic[] = [];
    const discovery = this.discovery;
    const config = discovery?.config ?? {};
    if (discovery) diagnostics.push(...discovery.diagnostics);

    const candidates: Array<Candidate<AgentDefinition, AgentLayer>> = [];
    for (const { layer } of this.layerDirs) {
      for (const file of this.files.get(layer) ?? []) {
        const parsed = this.parsed.get(file);
        if (!parsed) continue;
        diagnostics.push(...parsed.diagnostics);
        if (parsed.candidate) candidates.push(parsed.candidate);
      }
    }

    const present = this.layerDirs.map((d) => d.layer);
    const defaultOrder = completeOrder(config.layer_order, present).filter((l) => present.includes(l));
    const orders = new Map<string, AgentLayer[]>();
    const orderFor = (id: string): AgentLayer[] => {
      const own = config.agents?.[id]?.layer_order;
      if (!own) return defaultOrder;
      let o = orders.get(id);
      if (!o) orders.set(id, (o = completeOrder(own, defaultOrder)));
      return o;
    };
    const { merged, diagnostics: mergeDiagnostics } = mergeLayers(candidates, orderFor, 'agent id');
    diagnostics.push(...mergeDiagnostics);

    const disabled = new Set(config.disabled ?? []);
    const agents: Agent[] = merged.map((m) => ({
      id: m.id,
      layer: m.layer,
      source: m.source,
      hides: m.hides,
      enabled: !disabled.has(m.id),
      ...m.definition,
    }));

    if (discovery) {
      const known = new Set(agents.map((a) => a.id));
      (config.disabled ?? []).forEach((id, i) => {
        if (!known.has(id)) diagnostics.push(diagnostic(this.display.show(this.discoveryFile), discovery.lineOf(['disabled', i]), 1, `disabled: no agent has the id "${id}"`, 'warning'));
      });
    }
    const context = this.contextFiles(config, discovery, diagnostics);
    const result: AgentCascadeResult = { agents, context, diagnostics: sortDiagnostics(diagnostics) };
    if (config.limits) result.limits = config.limits;
    return result;
  }

  private contextFiles(config: AgentsDiscoveryConfig, discovery: ParsedDiscovery | undefined, diagnostics: Diagnostic[]): ContextFile[] {
    if (config.context) {
      const inside = config.context.filter((rel, i) => {
        const relative = path.relative(this.workspace, path.resolve(this.workspace, rel));
        const ok = relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
        if (!ok && discovery) {
          diagnostics.push(diagnostic(this.display.show(this.discoveryFile), discovery.lineOf(['context', i]), 1, `context: "${rel}" ignored: context files are read from inside the workspace only`, 'warning'));
        }
        return ok;
      });
      return inside.map((rel) => {
        const i = config.context!.indexOf(rel);
        const abs = path.resolve(this.workspace, rel);
        const exists = fs.existsSync(abs);
        if (!exists && discovery) {
          diagnostics.push(diagnostic(this.display.show(this.discoveryFile), discovery.lineOf(['context', i]), 1, `context: "${rel}" does not exist`, 'warning'));
        }
        return { file: this.display.show(abs), path: abs, exists };
      });
    }
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.contextDir).filter((n) => !n.startsWith('.')).sort();
    } catch {
      // No .agents/context folder: no shared context.
    }
    return names.map((n) => {
      const abs = path.join(this.contextDir, n);
      return { file: this.display.show(abs), path: abs, exists: true };
    });
  }
}

// O_NONBLOCK: a FIFO under an agent's name is opened at once, and then refused as not a regular file.
const FOLLOWING = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

/** Opens a file of a layer outside the workspace (user, bundled), where links are followed. */
function openFollowing(file: string): Exclude<OpenedFile, { link: true }> {
  let fd: number;
  try {
    fd = fs.openSync(file, FOLLOWING);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, missing: code === 'ENOENT', reason: `cannot be read (${code ?? 'error'})` };
  }
  let stat: fs.Stats | undefined;
  try {
    stat = fs.fstatSync(fd);
  } catch {
    // reported below like any file that cannot be read
  }
  if (!stat?.isFile()) {
    fs.closeSync(fd);
    return { ok: false, missing: false, reason: stat ? 'is not a regular file' : 'cannot be read' };
  }
  return { ok: true, fd, stat };
}

function isLink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

function parseDiscovery(file: string, display: string, stat: fs.Stats): ParsedDiscovery {
  const parsed = parseSourceFile<AgentsDiscoveryConfig>(file, display, stat, { schema: agentsDiscoverySchema });
  const value = withoutInvalid(parsed.value, parsed.invalidPaths);
  return { config: isRecord(value) ? (value as AgentsDiscoveryConfig) : {}, diagnostics: parsed.diagnostics, lineOf: parsed.lineOf };
}

/** Parses the text of one agent file of either format into at most one candidate; problems become diagnostics. */
export function parseAgentText(file: string, display: string, text: string, layer: AgentLayer): ParsedAgentFile {
  return /\.md$/i.test(file) ? parseMarkdownAgent(file, display, text, layer) : parseYamlAgent(file, display, text, layer);
}

function parseYamlAgent(file: string, display: string, text: string, layer: AgentLayer): ParsedAgentFile {
  const parsed = parseStructuredText<unknown>(display, text, { schema: agentSchema });
  const diagnostics = parsed.diagnostics;
  const value = withoutInvalid(parsed.value, parsed.invalidPaths);
  if (!isRecord(value)) return { diagnostics };
  const meta = isRecord(value.metadata) ? value.metadata : {};
  const id = typeof meta.id === 'string' ? meta.id : undefined;
  if (!id) {
    diagnostics.push(diagnostic(display, parsed.lineOf(['metadata']), 1, 'the agent has no valid metadata.id; it was not loaded'));
    return { diagnostics };
  }
  const runtime = isRecord(value.runtime) ? value.runtime : {};
  const tools = isRecord(value.tools) ? value.tools : undefined;
  const deps = isRecord(value.dependencies) ? value.dependencies : {};
  const impl = isRecord(value.implementation) ? value.implementation : {};
  const implType: ImplementationType = impl.type === 'python' || impl.type === 'remote' ? impl.type : 'markdown';
  const source = typeof impl.source === 'string' ? impl.source : undefined;
  const definition: AgentDefinition = {
    format: 'yaml',
    fallbackModels: stringList(runtime.fallback_models),
    optionalTools: tools ? stringList(tools.optional) : [],
    services: isRecord(deps.services) ? Object.fromEntries(Object.entries(deps.services).filter(([, v]) => typeof v === 'string')) as Record<string, string> : {},
    dependsOnAgents: stringList(deps.agents),
    implementation: implType === 'markdown' || source === undefined ? { type: implType } : { type: implType, source },
  };
  if (typeof meta.description === 'string') definition.description = meta.description;
  if (meta.version !== undefined) definition.version = String(meta.version);
  if (typeof meta.category === 'string') definition.category = meta.category;
  if (typeof runtime.model === 'string') definition.model = runtime.model;
  if (typeof runtime.memory_requirement === 'string') definition.memoryRequirement = runtime.memory_requirement.trim();
  if (runtime.execution_mode === 'sync' || runtime.execution_mode === 'async') definition.executionMode = runtime.execution_mode;
  if (tools) definition.tools = stringList(tools.required);
  if (implType === 'markdown' && source !== undefined) definition.systemPrompt = source;
  return { candidate: { id, layer, source: { file: display, line: parsed.lineOf(['metadata', 'id']), path: file }, definition }, diagnostics };
}

/**
 * Where the front matter of a Markdown agent lies: `start` is the offset of its first line, `close` of the closing
 * `---` (or `...`) line. Found line by line with indexOf, without splitting the whole file into lines.
 */
function frontMatterFence(text: string): { start: number; close: number } | 'none' | 'unclosed' {
  const firstEnd = text.indexOf('\n');
  if (text.slice(0, firstEnd === -1 ? text.length : firstEnd).trim() !== '---') return 'none';
  if (firstEnd === -1) return 'unclosed';
  for (let start = firstEnd + 1; start <= text.length; ) {
    const end = text.indexOf('\n', start);
    const line = text.slice(start, end === -1 ? text.length : end).trim();
    if (line === '---' || line === '...') return { start: firstEnd + 1, close: start };
    if (end === -1) break;
    start = end + 1;
  }
  return 'unclosed';
}

/** CRLF line ends as LF, as the agent's text was always handed on. */
function withLf(text: string): string {
  return text.includes('\r\n') ? text.replace(/\r\n/g, '\n') : text;
}

function parseMarkdownAgent(file: string, display: string, text: string, layer: AgentLayer): ParsedAgentFile {
  const fence = frontMatterFence(text);
  if (fence === 'none') {
    return { diagnostics: [diagnostic(display, 1, 1, 'Markdown agent has no YAML front matter: start the file with a --- line, then name: and description:, then ---; it was not loaded')] };
  }
  if (fence === 'unclosed') {
    return { diagnostics: [diagnostic(display, 1, 1, 'the front matter opened on line 1 is never closed with ---; the agent was not loaded')] };
  }
  const frontMatter = withLf(text.slice(fence.start, Math.max(fence.start, fence.close - 1)).replace(/\r$/, ''));
  if (frontMatter.trim() === '') {
    return { diagnostics: [diagnostic(display, 1, 1, 'the front matter is empty: add name: and description:; the agent was not loaded')] };
  }
  // A blank first line keeps every front-matter line at its line number in the file.
  const parsed = parseStructuredText<unknown>(display, '\n' + frontMatter, { schema: subagentFrontMatterSchema });
  const diagnostics = parsed.diagnostics;
  const value = withoutInvalid(parsed.value, parsed.invalidPaths);
  if (!isRecord(value)) return { diagnostics };
  const id = typeof value.name === 'string' ? value.name : undefined;
  if (!id) {
    if (!diagnostics.some((d) => d.severity === 'error')) diagnostics.push(diagnostic(display, 2, 1, 'the front matter has no name; the agent was not loaded'));
    else diagnostics.push(diagnostic(display, 1, 1, 'the agent has no valid name; it was not loaded'));
    return { diagnostics };
  }
  const afterClose = text.indexOf('\n', fence.close);
  const body = afterClose === -1 ? '' : withLf(text.slice(afterClose + 1)).replace(/^\s*\n/, '').trimEnd();
  const definition: AgentDefinition = {
    format: 'markdown',
    fallbackModels: [],
    optionalTools: [],
    services: {},
    dependsOnAgents: [],
    implementation: { type: 'markdown' },
    systemPrompt: body,
  };
  if (typeof value.description === 'string') definition.description = value.description;
  if (typeof value.model === 'string') definition.model = value.model;
  if (typeof value.tools === 'string') definition.tools = value.tools.split(',').map((t) => t.trim()).filter(Boolean);
  else if (Array.isArray(value.tools)) definition.tools = stringList(value.tools);
  return { candidate: { id, layer, source: { file: display, line: parsed.lineOf(['name']), path: file }, definition }, diagnostics };
}
