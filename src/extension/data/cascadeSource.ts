import path from 'node:path';
import type { Diagnostic } from '../../core/diagnostics';
import { userHome } from '../../core/paths';
import { maskCommandArgs, redact } from '../../core/redact';
import type { AgentCascade, McpServer, ServerCascade } from '../../core/cascade/index';
import type { AgentEntry, CascadeListing, ServerEntry, ServerHealth, Snapshot } from './source';

/**
 * Agents and servers straight from the cascade loaders in src/core, in the extension host: what the views show in
 * Restricted Mode, where no sidecar runs (files are read, nothing is started). Quota is the sidecar's alone.
 * The loaders are imported on first use, not at activation, to keep activation cheap.
 */
export class CoreCascadeSource implements CascadeListing {
  private readonly agentCascades = new Map<string, AgentCascade>();
  private readonly serverCascades = new Map<string, ServerCascade>();

  readonly watchedGlobs = ['.agents/**', '.claude/agents/**', '.mcp/**', '.mcp.json', '.vscode/mcp.json'] as const;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async agents(folder: string): Promise<Snapshot<AgentEntry>> {
    const { AgentCascade, AGENT_LAYERS } = await import('../../core/cascade/index');
    let cascade = this.agentCascades.get(folder);
    if (!cascade) {
      cascade = new AgentCascade({ workspace: folder, env: this.env });
      this.agentCascades.set(folder, cascade);
    }
    const result = cascade.load();
    const bundled = cascade.layerDirs.find((d) => d.layer === 'bundled')?.dir;
    const resolve = displayResolver(cascade.workspace, [
      ['~/', userHome(this.env)],
      ['(bundled)/', bundled],
    ]);
    const items: AgentEntry[] = [];
    for (const agent of result.agents) {
      const location = { file: agent.source.path, line: agent.source.line };
      items.push({ id: agent.id, layer: agent.layer, description: agent.description, model: agent.model, fallbackModels: agent.fallbackModels, location });
      // What a higher layer hides is listed too, under its own layer, so users see why their file has no effect.
      for (const hidden of agent.hides) {
        items.push({
          id: agent.id,
          layer: hidden.layer,
          fallbackModels: [],
          location: { file: resolve(hidden.file), line: hidden.line },
          overriddenBy: { layer: agent.layer, location },
        });
      }
    }
    return { items, layers: [...AGENT_LAYERS], diagnostics: result.diagnostics.map((d) => withAbsoluteFile(d, resolve)) };
  }

  async servers(folder: string): Promise<Snapshot<ServerEntry>> {
    const { ServerCascade, SERVER_LAYERS } = await import('../../core/cascade/index');
    let cascade = this.serverCascades.get(folder);
    if (!cascade) {
      cascade = new ServerCascade({ workspace: folder, env: this.env });
      this.serverCascades.set(folder, cascade);
    }
    const result = cascade.load();
    const resolve = displayResolver(cascade.workspace, [
      ['$SWITCHBOARD_HOME/', path.dirname(cascade.lockDir)],
      ['~/', cascade.home],
    ]);
    const items: ServerEntry[] = [];
    for (const server of result.servers) {
      const location = { file: server.source.path, line: server.source.line };
      items.push({
        name: server.id,
        layer: server.layer,
        transport: server.type,
        // Tokens in the arguments or the URL are masked, as list_servers and `switchboard servers` do.
        target: server.url ? redact(server.url, this.env) : [server.command ?? '', ...maskCommandArgs(server.args ?? [], this.env)].join(' ').trim(),
        optional: server.optional,
        location,
        health: initialHealth(server),
      });
      for (const hidden of server.hides) {
        items.push({
          name: server.id,
          layer: hidden.layer,
          transport: server.type,
          target: '',
          optional: false,
          location: { file: resolve(hidden.file), line: hidden.line },
          overriddenBy: { layer: server.layer, location },
          health: { status: 'disabled', reason: 'hidden' },
        });
      }
    }
    return { items, layers: [...SERVER_LAYERS], diagnostics: result.diagnostics.map((d) => withAbsoluteFile(d, resolve)) };
  }

  dispose(): void {
    this.agentCascades.clear();
    this.serverCascades.clear();
  }
}

/** Before any health check (the sidecar does those): what the files alone say about a server. */
function initialHealth(server: McpServer): ServerHealth {
  if (server.enabled) return { status: 'unchecked' };
  if (server.duplicateOf) return { status: 'disabled', reason: `same as ${server.duplicateOf}` };
  if (server.optional) return { status: 'optional-off' };
  return { status: 'disabled', reason: 'disabled' };
}

/**
 * Cascade output names files for people (`.agents/x.yaml`, `~/…`, `(bundled)/…`); the editor needs
 * absolute paths to open them. Names that are not files (e.g. `$SWITCHBOARD_MCP_X_URL`) pass through.
 */
function displayResolver(workspace: string, roots: Array<[prefix: string, dir: string | undefined]>): (display: string) => string {
  return (display) => {
    if (path.isAbsolute(display) || (display.startsWith('$') && !roots.some(([p]) => display.startsWith(p)))) return display;
    for (const [prefix, dir] of roots) {
      if (dir && display.startsWith(prefix)) return path.join(dir, display.slice(prefix.length));
    }
    return path.join(workspace, display);
  };
}

function withAbsoluteFile(d: Diagnostic, resolve: (display: string) => string): Diagnostic {
  return { ...d, file: resolve(d.file) };
}
