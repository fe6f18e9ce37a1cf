import fs from 'node:fs';
import path from 'node:path';
import { diagnostic, type Diagnostic } from '../diagnostics';
import { switchboardHome, userHome } from '../paths';
import { maskCommandArgs, redact } from '../redact';
import { FileCache } from './file-cache';
import { completeOrder, mergeLayers, sortDiagnostics } from './merge';
import { PathDisplay } from './display-path';
import { isRecord, parseSourceFile, stringList, withoutInvalid } from './read-source';
import { mcpDiscoverySchema, mcpServersSchema, vscodeMcpSchema } from './schemas';
import type { Candidate, CascadeItem } from './types';
import { processAlive } from '../process-alive';

/** Server layers, highest precedence first (SPEC "Cascades"). docker and npx are start recipes from the discovery config. */
export const SERVER_LAYERS = ['external', 'user', 'project', 'docker', 'npx'] as const;
export type ServerLayer = (typeof SERVER_LAYERS)[number];

export interface ServerTimeouts {
  start_ms?: number;
  health_ms?: number;
}

/** One MCP server in Claude Code's shape, plus what Switchboard knows about it. */
export interface ServerDefinition {
  type: 'stdio' | 'http' | 'sse';
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  url?: string;
  headers?: Record<string, string>;
  /** Declared in .mcp/servers/optional.json: listed, started only when the discovery config enables it. */
  optional: boolean;
  /** For already-running instances (external layer). */
  pid?: number;
  startedAt?: string;
  timeouts?: ServerTimeouts;
  /** Same command (or url) as this other server: it is not started twice. */
  duplicateOf?: string;
}

export type McpServer = CascadeItem<ServerDefinition, ServerLayer>;

export interface ServerCascadeResult {
  servers: McpServer[];
  diagnostics: Diagnostic[];
}

export interface ServerCascadeOptions {
  workspace: string;
  env?: NodeJS.ProcessEnv;
}

interface McpDiscoveryConfig {
  strategy_order?: ServerLayer[];
  timeouts?: ServerTimeouts;
  enabled?: string[];
  disabled?: string[];
  anti_duplication?: { reuse_running?: boolean; by_command?: boolean };
  servers?: Record<string, {
    strategy_order?: ServerLayer[];
    timeouts?: ServerTimeouts;
    docker?: { image: string; args?: string[]; env?: Record<string, string> };
    npx?: { package: string; args?: string[]; env?: Record<string, string> };
  }>;
}

interface ParsedDiscovery {
  config: McpDiscoveryConfig;
  diagnostics: Diagnostic[];
  lineOf(p: ReadonlyArray<string | number>): number;
}

interface ParsedServerFile {
  candidates: Array<Candidate<ServerDefinition, ServerLayer>>;
  diagnostics: Diagnostic[];
}

type ServerFileKind = 'claude' | 'vscode' | 'claude-json';

interface ServerFile {
  path: string;
  layer: 'user' | 'project';
  kind: ServerFileKind;
  optional?: boolean;
}

/** ~/.claude.json holds Claude Code's whole state (history, projects); it can be far larger than a config file. */
const CLAUDE_JSON_MAX_BYTES = 32 * 1024 * 1024;
const ENV_URL = /^SWITCHBOARD_MCP_(.+)_URL$/;

/**
 * The MCP server cascade of one workspace: external (running) → user → project → docker → npx.
 * load() re-reads everything that changed; reloadFile() one file.
 */
export class ServerCascade {
  readonly workspace: string;
  readonly home: string;
  readonly lockDir: string;
  readonly discoveryFile: string;
  readonly display: PathDisplay;
  private readonly env: NodeJS.ProcessEnv;
  private readonly userServersDir: string;
  private readonly projectServersDir: string;
  private readonly claudeJson: string;
  private readonly fileCache = new FileCache<ParsedServerFile>();
  private readonly discoveryCache = new FileCache<ParsedDiscovery>();
  private userFiles: string[] = [];
  private projectFiles: string[] = [];
  /** Parse results of listed files; merge() reads only these, so a one-file reload touches one file. */
  private readonly parsed = new Map<string, ParsedServerFile>();
  private discovery: ParsedDiscovery | undefined;
  private running: ParsedServerFile = { candidates: [], diagnostics: [] };
  private current: ServerCascadeResult | undefined;

  constructor(options: ServerCascadeOptions) {
    this.env = options.env ?? process.env;
    this.workspace = path.resolve(options.workspace);
    this.home = path.resolve(userHome(this.env));
    const sbHome = switchboardHome(this.env);
    this.lockDir = path.join(sbHome, 'servers');
    this.discoveryFile = path.join(this.workspace, '.mcp', 'discovery-config.yaml');
    this.userServersDir = path.join(this.home, '.claude', 'mcp', 'servers');
    this.projectServersDir = path.join(this.workspace, '.mcp', 'servers');
    this.claudeJson = path.join(this.home, '.claude.json');
    this.display = new PathDisplay([
      { dir: this.workspace, prefix: '' },
      { dir: sbHome, prefix: '$SWITCHBOARD_HOME/' },
      { dir: this.home, prefix: '~/' },
    ]);
  }

  load(): ServerCascadeResult {
    this.userFiles = listJson(this.userServersDir);
    this.projectFiles = listJson(this.projectServersDir);
    this.running = this.scanRunning();
    const files = this.serverFiles();
    for (const sf of files) this.parseCached(sf);
    this.fileCache.retainOnly(files.map((f) => f.path));
    for (const key of this.parsed.keys()) if (!files.some((f) => f.path === key)) this.parsed.delete(key);
    this.discovery = this.discoveryCache.get(this.discoveryFile, (f, stat) => parseDiscovery(f, this.display.show(f), stat));
    return (this.current = this.merge());
  }

  result(): ServerCascadeResult {
    return this.current ?? this.load();
  }

  concerns(file: string): boolean {
    const abs = path.resolve(file);
    return abs === this.discoveryFile || path.dirname(abs) === this.lockDir || this.serverFileKind(abs) !== undefined;
  }

  /** Re-reads one changed, created or deleted file and re-merges. */
  reloadFile(file: string): ServerCascadeResult {
    if (!this.current) return this.load();
    const abs = path.resolve(file);
    if (abs === this.discoveryFile) {
      this.discoveryCache.forget(abs);
      this.discovery = this.discoveryCache.get(abs, (f, stat) => parseDiscovery(f, this.display.show(f), stat));
    } else if (path.dirname(abs) === this.lockDir) {
      this.running = this.scanRunning();
    } else if (this.serverFileKind(abs)) {
      this.fileCache.forget(abs);
      const dir = path.dirname(abs);
      if (dir === this.userServersDir) this.userFiles = relist(this.userFiles, abs);
      if (dir === this.projectServersDir) this.projectFiles = relist(this.projectFiles, abs);
      const sf = this.serverFiles().find((f) => f.path === abs);
      if (sf) this.parseCached(sf);
      else this.parsed.delete(abs);
    } else {
      return this.current;
    }
    return (this.current = this.merge());
  }

  private parseCached(sf: ServerFile): void {
    const parsed = this.fileCache.get(sf.path, (_f, stat) => this.parseServerFile(sf, stat));
    if (parsed) this.parsed.set(sf.path, parsed);
    else this.parsed.delete(sf.path);
  }

  private serverFileKind(abs: string): ServerFileKind | undefined {
    if (abs === this.claudeJson) return 'claude-json';
    if (abs === path.join(this.workspace, '.vscode', 'mcp.json')) return 'vscode';
    if (abs === path.join(this.workspace, '.mcp.json')) return 'claude';
    const dir = path.dirname(abs);
    if ((dir === this.userServersDir || dir === this.projectServersDir) && abs.endsWith('.json')) return 'claude';
    return undefined;
  }

  /** Server files in discovery order: user files, then project core.json, optional.json, other .mcp/servers files, .mcp.json, .vscode/mcp.json. */
  private serverFiles(): ServerFile[] {
    const core = path.join(this.projectServersDir, 'core.json');
    const optional = path.join(this.projectServersDir, 'optional.json');
    const others = this.projectFiles.filter((f) => f !== core && f !== optional);
    return [
      ...this.userFiles.map((p): ServerFile => ({ path: p, layer: 'user', kind: 'claude' })),
      { path: this.claudeJson, layer: 'user', kind: 'claude-json' },
      ...(this.projectFiles.includes(core) ? [{ path: core, layer: 'project', kind: 'claude' } as ServerFile] : []),
      ...(this.projectFiles.includes(optional) ? [{ path: optional, layer: 'project', kind: 'claude', optional: true } as ServerFile] : []),
      ...others.map((p): ServerFile => ({ path: p, layer: 'project', kind: 'claude' })),
      { path: path.join(this.workspace, '.mcp.json'), layer: 'project', kind: 'claude' },
      { path: path.join(this.workspace, '.vscode', 'mcp.json'), layer: 'project', kind: 'vscode' },
    ];
  }

  /** Already-running instances: lock files whose process is alive. Stale locks (a crashed server) are skipped. */
  private scanRunning(): ParsedServerFile {
    const out: ParsedServerFile = { candidates: [], diagnostics: [] };
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.lockDir).filter((n) => n.endsWith('.lock')).sort();
    } catch {
      return out;
    }
    for (const name of names) {
      const file = path.join(this.lockDir, name);
      const shown = this.display.show(file);
      let lock: unknown;
      try {
        lock = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch {
        out.diagnostics.push(diagnostic(shown, 1, 1, 'lock file is not valid JSON; ignored', 'warning'));
        continue;
      }
      if (!isRecord(lock) || typeof lock.pid !== 'number' || !Number.isInteger(lock.pid) || lock.pid <= 0) {
        out.diagnostics.push(diagnostic(shown, 1, 1, 'lock file has no valid "pid"; ignored', 'warning'));
        continue;
      }
      if (!processAlive(lock.pid)) continue;
      const url = typeof lock.url === 'string' ? lock.url : typeof lock.port === 'number' ? `http://127.0.0.1:${lock.port}/mcp` : undefined;
      const definition: ServerDefinition = { type: url ? 'http' : 'stdio', optional: false, pid: lock.pid };
      if (url) definition.url = url;
      if (typeof lock.command === 'string') definition.command = lock.command;
      if (typeof lock.startedAt === 'string') definition.startedAt = lock.startedAt;
      out.candidates.push({ id: name.slice(0, -'.lock'.length), layer: 'external', source: { file: shown, line: 1, path: file }, definition });
    }
    return out;
  }

  private merge(): ServerCascadeResult {
    const diagnostics: Diagnostic[] = [];
    const discovery = this.discovery;
    const config = discovery?.config ?? {};
    if (discovery) diagnostics.push(...discovery.diagnostics);

    const fileCandidates: Array<Candidate<ServerDefinition, ServerLayer>> = [];
    for (const sf of this.serverFiles()) {
      const parsed = this.parsed.get(sf.path);
      if (!parsed) continue;
      diagnostics.push(...parsed.diagnostics);
      fileCandidates.push(...parsed.candidates);
    }
    const recipes = discovery ? recipeCandidates(config, discovery, this.display.show(this.discoveryFile), this.discoveryFile) : [];
    const reuseRunning = config.anti_duplication?.reuse_running !== false;
    const external = reuseRunning ? [...this.running.candidates, ...this.envCandidates([...fileCandidates, ...recipes])] : [];
    diagnostics.push(...this.running.diagnostics);

    const defaultOrder = completeOrder(config.strategy_order, SERVER_LAYERS);
    const orderFor = (id: string): ServerLayer[] => {
      const own = config.servers?.[id]?.strategy_order;
      return own ? completeOrder(own, defaultOrder) : defaultOrder;
    };
    const { merged, diagnostics: mergeDiagnostics } = mergeLayers([...external, ...fileCandidates, ...recipes], orderFor, 'server name');
    diagnostics.push(...mergeDiagnostics);

    const enabledList = new Set(config.enabled ?? []);
    const disabledList = new Set(config.disabled ?? []);
    const servers: McpServer[] = merged.map((m) => {
      const timeouts = { ...config.timeouts, ...config.servers?.[m.id]?.timeouts };
      const server: McpServer = {
        id: m.id,
        layer: m.layer,
        source: m.source,
        hides: m.hides,
        enabled: !disabledList.has(m.id) && (!m.definition.optional || enabledList.has(m.id)),
        ...m.definition,
      };
      if (Object.keys(timeouts).length) server.timeouts = timeouts;
      return server;
    });

    if (config.anti_duplication?.by_command !== false) markDuplicates(servers, diagnostics);
    if (discovery) {
      const known = new Set(servers.map((s) => s.id));
      const shown = this.display.show(this.discoveryFile);
      for (const key of ['enabled', 'disabled'] as const) {
        (config[key] ?? []).forEach((id, i) => {
          if (!known.has(id)) diagnostics.push(diagnostic(shown, discovery.lineOf([key, i]), 1, `${key}: no server is named "${id}"`, 'warning'));
        });
      }
    }
    return { servers, diagnostics: sortDiagnostics(diagnostics) };
  }

  /** SWITCHBOARD_MCP_<NAME>_URL: a running server's address; <NAME> matches a known server ignoring case and -/_. */
  private envCandidates(known: ReadonlyArray<Candidate<ServerDefinition, ServerLayer>>): Array<Candidate<ServerDefinition, ServerLayer>> {
    const byKey = new Map<string, string>();
    for (const c of known) byKey.set(envKey(c.id), c.id);
    const out: Array<Candidate<ServerDefinition, ServerLayer>> = [];
    for (const name of Object.keys(this.env).sort()) {
      const m = ENV_URL.exec(name);
      const url = this.env[name];
      if (!m || !url) continue;
      const id = byKey.get(m[1]!) ?? m[1]!.toLowerCase().replace(/_/g, '-');
      out.push({ id, layer: 'external', source: { file: `$${name}`, line: 1, path: `$${name}` }, definition: { type: 'http', url, optional: false } });
    }
    return out;
  }

  private parseServerFile(sf: ServerFile, stat: fs.Stats): ParsedServerFile {
    const shown = this.display.show(sf.path);
    const jsonc = sf.kind === 'vscode';
    const schema = sf.kind === 'vscode' ? vscodeMcpSchema : sf.kind === 'claude-json' ? this.claudeJsonSchema() : mcpServersSchema;
    const parsed = parseSourceFile<unknown>(sf.path, shown, stat, { schema, jsonc, maxBytes: sf.kind === 'claude-json' ? CLAUDE_JSON_MAX_BYTES : undefined });
    const out: ParsedServerFile = { candidates: [], diagnostics: parsed.diagnostics };
    const value = withoutInvalid(parsed.value, parsed.invalidPaths);
    if (!isRecord(value)) return out;
    const groups: Array<ReadonlyArray<string>> =
      sf.kind === 'vscode' ? [['servers']] : sf.kind === 'claude-json' ? [['mcpServers'], ['projects', this.workspace, 'mcpServers']] : [['mcpServers']];
    for (const at of groups) {
      const group = getIn(value, at);
      if (!isRecord(group)) continue;
      for (const [name, raw] of Object.entries(group)) {
        if (!isRecord(raw)) continue; // reported by the schema
        const line = parsed.lineOf([...at, name]);
        const definition = toDefinition(raw, sf.optional === true);
        if (!definition.command && !definition.url) {
          out.diagnostics.push(diagnostic(shown, line, 1, `server "${name}" has neither "command" nor "url"; it was not loaded`));
          continue;
        }
        if (definition.type === 'stdio' && !definition.command) {
          out.diagnostics.push(diagnostic(shown, line, 1, `server "${name}" is type stdio but has no "command"; it was not loaded`));
          continue;
        }
        if (definition.type !== 'stdio' && !definition.url) {
          out.diagnostics.push(diagnostic(shown, line, 1, `server "${name}" is type ${definition.type} but has no "url"; it was not loaded`));
          continue;
        }
        out.candidates.push({ id: name, layer: sf.layer, source: { file: shown, line, path: sf.path }, definition });
      }
    }
    return out;
  }

  private claudeJsonSchemaCache: object | undefined;

  /** ~/.claude.json: only mcpServers (user scope) and projects[<workspace>].mcpServers (local scope) are ours. */
  private claudeJsonSchema(): object {
    const servers = (mcpServersSchema as { properties: { mcpServers: object } }).properties.mcpServers;
    // No top-level "properties": the file's many other keys belong to Claude Code and are not warned about.
    return (this.claudeJsonSchemaCache ??= {
      definitions: (mcpServersSchema as { definitions: object }).definitions,
      type: 'object',
      allOf: [{ properties: { mcpServers: servers, projects: { type: 'object', properties: { [this.workspace]: { type: 'object', properties: { mcpServers: servers } } } } } }],
    });
  }
}

function toDefinition(raw: Record<string, unknown>, optional: boolean): ServerDefinition {
  const url = typeof raw.url === 'string' && raw.url ? raw.url : undefined;
  const command = typeof raw.command === 'string' && raw.command ? raw.command : undefined;
  const type = raw.type === 'stdio' || raw.type === 'http' || raw.type === 'sse' ? raw.type : url && !command ? 'http' : 'stdio';
  const d: ServerDefinition = { type, optional };
  if (command) d.command = command;
  if (Array.isArray(raw.args)) d.args = stringList(raw.args);
  if (isRecord(raw.env)) d.env = stringRecord(raw.env);
  if (typeof raw.cwd === 'string') d.cwd = raw.cwd;
  if (url) d.url = url;
  if (isRecord(raw.headers)) d.headers = stringRecord(raw.headers);
  return d;
}

function stringRecord(r: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r)) if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
  return out;
}

/** docker and npx candidates from the discovery config's per-server start recipes. */
function recipeCandidates(config: McpDiscoveryConfig, discovery: ParsedDiscovery, shown: string, file: string): Array<Candidate<ServerDefinition, ServerLayer>> {
  const out: Array<Candidate<ServerDefinition, ServerLayer>> = [];
  for (const [id, s] of Object.entries(config.servers ?? {})) {
    if (!isRecord(s)) continue;
    if (s.docker && typeof s.docker.image === 'string') {
      const env = s.docker.env ?? {};
      // -e NAME passes the variable through from our environment, so values never appear on a command line.
      const envFlags = Object.keys(env).flatMap((k) => ['-e', k]);
      const d: ServerDefinition = { type: 'stdio', command: 'docker', args: ['run', '-i', '--rm', ...envFlags, ...stringList(s.docker.args), s.docker.image], optional: false };
      if (Object.keys(env).length) d.env = env;
      out.push({ id, layer: 'docker', source: { file: shown, line: discovery.lineOf(['servers', id, 'docker']), path: file }, definition: d });
    }
    if (s.npx && typeof s.npx.package === 'string') {
      const d: ServerDefinition = { type: 'stdio', command: 'npx', args: ['-y', s.npx.package, ...stringList(s.npx.args)], optional: false };
      if (s.npx.env && Object.keys(s.npx.env).length) d.env = s.npx.env;
      out.push({ id, layer: 'npx', source: { file: shown, line: discovery.lineOf(['servers', id, 'npx']), path: file }, definition: d });
    }
  }
  return out;
}

/** Two enabled servers with the same command line (or url) would be the same server started twice. */
function markDuplicates(servers: McpServer[], diagnostics: Diagnostic[]): void {
  const rank = (s: McpServer) => SERVER_LAYERS.indexOf(s.layer);
  const ordered = servers.filter((s) => s.enabled).sort((a, b) => rank(a) - rank(b) || (a.id < b.id ? -1 : 1));
  const seen = new Map<string, McpServer>();
  for (const s of ordered) {
    const key = s.url ? `url ${s.url}` : `cmd ${JSON.stringify([s.command, ...(s.args ?? [])])}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, s);
      continue;
    }
    s.duplicateOf = first.id;
    s.enabled = false;
    diagnostics.push(diagnostic(s.source.file, s.source.line, 1, `server "${s.id}" runs the same ${s.url ? 'url' : 'command'} as "${first.id}" (${first.source.file}:${first.source.line}); only "${first.id}" is started`, 'warning'));
  }
}

function parseDiscovery(file: string, display: string, stat: fs.Stats): ParsedDiscovery {
  const parsed = parseSourceFile<McpDiscoveryConfig>(file, display, stat, { schema: mcpDiscoverySchema });
  const value = withoutInvalid(parsed.value, parsed.invalidPaths);
  return { config: isRecord(value) ? (value as McpDiscoveryConfig) : {}, diagnostics: parsed.diagnostics, lineOf: parsed.lineOf };
}

function listJson(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort().map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}

function relist(files: string[], abs: string): string[] {
  const exists = fs.existsSync(abs);
  if (exists && !files.includes(abs)) return [...files, abs].sort();
  if (!exists) return files.filter((f) => f !== abs);
  return files;
}

function getIn(value: unknown, at: ReadonlyArray<string>): unknown {
  let node = value;
  for (const key of at) node = isRecord(node) ? node[key] : undefined;
  return node;
}

function envKey(id: string): string {
  return id.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}


const SECRET_NAME = /key|token|secret|password|passwd|auth|credential|cookie/i;

/**
 * A copy safe to print: env values whose name sounds secret or whose value looks like a key, and every header
 * value, are masked, unless they are ${VAR} / ${env:VAR} / ${input:id} references (those name a secret, not hold it).
 */
export function maskServerSecrets<T extends { env?: Record<string, string>; headers?: Record<string, string>; args?: string[] }>(server: T): T {
  const isReference = (v: string) => /^\$\{[^}]+\}$/.test(v.trim());
  const mask = (r: Record<string, string>, always: boolean) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(r)) {
      const secret = always || SECRET_NAME.test(k) || redact(v) !== v;
      out[k] = secret && !isReference(v) ? '[REDACTED]' : v;
    }
    return out;
  };
  const copy = { ...server };
  if (server.env) copy.env = mask(server.env, false);
  if (server.headers) copy.headers = mask(server.headers, true);
  // `--token ghp_…`, `--api-key=…`, `xoxb-…`, `AKIA…` in the command line.
  if (server.args) copy.args = maskCommandArgs(server.args);
  return copy;
}
