import path from 'node:path';
import type { Diagnostic } from '../../core/diagnostics';
import { switchboardHome, userHome } from '../../core/paths';
import type { SidecarManager } from '../sidecar/manager';
import type { TrustState } from '../trust';
import type { AgentEntry, QuotaEntry, QuotaLine, ServerEntry, ServerHealth, Snapshot, SwitchboardDataSource } from './source';

/** The layers in precedence order, as the sidecar's cascades use them (src/core/cascade). */
const AGENT_LAYERS = ['user', 'project', 'claude', 'core', 'defaults', 'bundled'];
const SERVER_LAYERS = ['external', 'user', 'project', 'docker', 'npx'];

// Shapes of the sidecar's tool results (src/sidecar/tools/*.ts); optional fields may be absent in older sidecars.
interface ListAgentsResult {
  agents: Array<{ id: string; layer: string; model?: string; description?: string; source: string; hides: number; enabled: boolean; fallback_models?: string[]; hidden?: Array<{ layer: string; source: string }> }>;
  diagnostics: string[];
}

/** list_servers adds the last known health per server; {check: true} checks first (src/sidecar/tools/list-servers.ts). */
interface ServerHealthResult {
  status?: string;
  latency_ms?: number;
  tools?: number;
  error?: string;
  checked_at?: string;
}

interface ListServersResult {
  servers: Array<{ id: string; layer: string; type: string; target: string; optional: boolean; enabled: boolean; source: string; reason?: string; duplicate_of?: string; health?: ServerHealthResult; hidden?: Array<{ layer: string; source: string }> }>;
  diagnostics: string[];
}

export interface QuotaStatusResult {
  providers: Array<{ id: string; tier: string; has_key: boolean; key_needed?: boolean; quotas: Array<{ metric: string; window: string; limit: number; left: number; resets_at: string }>; cooldown_until?: string; cooldown_reason?: string }>;
  month: { month: string; calls: number; usd: number; baseline_usd: number };
}

/**
 * Feeds the views from the folder's own sidecar (`list_agents`, `list_servers`, `quota_status`) — the same MCP
 * path Claude Code uses. In Restricted Mode there is no sidecar: agents and servers are listed from their files
 * in-process (nothing is run) and quota is empty, the views saying why.
 */
export class SidecarSource implements SwitchboardDataSource {
  /** The cascade files, plus the audit log (every write and delegation through the sidecar lands there). */
  readonly watchedGlobs: readonly string[];
  /** Last quota_status result, for the status bar (which must not call the sidecar on every repaint). */
  lastQuota?: QuotaStatusResult;

  constructor(
    private readonly sidecars: SidecarManager,
    private readonly trust: TrustState,
    private readonly listing: SwitchboardDataSource,
    private readonly extensionPath: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.watchedGlobs = [...listing.watchedGlobs, '.switchboard/audit.jsonl'];
  }

  async agents(folder: string): Promise<Snapshot<AgentEntry>> {
    if (!this.trust.isTrusted) return this.listing.agents(folder);
    const result = await this.sidecars.callTool<ListAgentsResult>(folder, 'list_agents');
    const resolve = this.resolver(folder);
    const items: AgentEntry[] = [];
    for (const a of result.agents ?? []) {
      const location = resolve(a.source);
      items.push({ id: a.id, layer: a.layer, description: a.description, model: a.model, fallbackModels: a.fallback_models ?? [], location });
      for (const hidden of a.hidden ?? []) {
        items.push({ id: a.id, layer: hidden.layer, fallbackModels: [], location: resolve(hidden.source), overriddenBy: { layer: a.layer, location } });
      }
    }
    return { items, layers: AGENT_LAYERS, diagnostics: (result.diagnostics ?? []).map((d) => parseDiagnostic(d, resolve)) };
  }

  async servers(folder: string): Promise<Snapshot<ServerEntry>> {
    if (!this.trust.isTrusted) return this.listing.servers(folder);
    return this.serversFrom(folder, await this.sidecars.callTool<ListServersResult>(folder, 'list_servers'));
  }

  /** Starts every enabled server once (`list_servers {check:true}`) and reports health, latency and tool count. */
  async checkServers(folder: string, only?: string): Promise<Snapshot<ServerEntry>> {
    // The tool checks every enabled server (cached a few minutes); `only` just narrows what the caller reports.
    void only;
    const result = await this.sidecars.callTool<ListServersResult>(folder, 'list_servers', { check: true }, { timeoutMs: 120_000 });
    return this.serversFrom(folder, result);
  }

  async quota(folder?: string): Promise<QuotaEntry[]> {
    if (!this.trust.isTrusted) return [];
    const target = folder ?? this.sidecars.all[0]?.folder;
    if (!target) return [];
    const result = await this.sidecars.callTool<QuotaStatusResult>(target, 'quota_status');
    this.lastQuota = result;
    return (result.providers ?? []).map((p) => {
      const entry: QuotaEntry = {
        providerId: p.id,
        tier: p.tier,
        keyNeeded: p.key_needed ?? p.tier !== 'local',
        keyPresent: p.has_key,
        quotas: p.quotas.map((q): QuotaLine => ({ metric: q.metric, window: q.window, used: Math.max(0, q.limit - q.left), limit: q.limit, resetAtMs: Date.parse(q.resets_at) })),
      };
      if (p.cooldown_until) {
        entry.cooldownUntilMs = Date.parse(p.cooldown_until);
        entry.cooldownReason = p.cooldown_reason ?? 'paused after repeated failures';
      }
      return entry;
    });
  }

  dispose(): void {
    this.listing.dispose();
  }

  private serversFrom(folder: string, result: ListServersResult): Snapshot<ServerEntry> {
    const resolve = this.resolver(folder);
    const items: ServerEntry[] = [];
    for (const s of result.servers ?? []) {
      const location = resolve(s.source);
      // list_servers carries the last known health (the sidecar caches checks), so rows keep it across reloads.
      items.push({ name: s.id, layer: s.layer, transport: s.type, target: s.target, optional: s.optional, location, health: healthOf(s) });
      for (const hidden of s.hidden ?? []) {
        items.push({ name: s.id, layer: hidden.layer, transport: s.type, target: '', optional: false, location: resolve(hidden.source), overriddenBy: { layer: s.layer, location }, health: { status: 'disabled', reason: 'hidden' } });
      }
    }
    return { items, layers: SERVER_LAYERS, diagnostics: (result.diagnostics ?? []).map((d) => parseDiagnostic(d, resolve)) };
  }

  /**
   * Tool results name files for people and keep absolute paths outside the workspace out (`.agents/x.yaml:3`,
   * `~/…`, `(bundled)/…`); the editor needs absolute paths to open them.
   */
  private resolver(folder: string): (source: string) => { file: string; line: number } {
    const roots: Array<[string, string]> = [
      ['~/', userHome(this.env)],
      ['(bundled)/', path.join(this.extensionPath, 'media', 'default-agents')],
      ['$SWITCHBOARD_HOME/', switchboardHome(this.env)],
    ];
    return (source) => {
      const match = /^(.*?):(\d+)$/.exec(source);
      const display = match ? match[1]! : source;
      const line = match ? Number(match[2]) : 1;
      const root = roots.find(([prefix]) => display.startsWith(prefix));
      if (root) return { file: path.join(root[1], display.slice(root[0].length)), line };
      // Absolute, scrubbed (`…/x`) or not a file (`$SWITCHBOARD_MCP_X_URL`): shown as is, not openable.
      if (path.isAbsolute(display) || display.startsWith('…') || display.startsWith('$')) return { file: display, line };
      return { file: path.join(folder, display), line };
    };
  }
}

function healthOf(s: ListServersResult['servers'][number]): ServerHealth {
  const h = s.health;
  if (h?.status === 'healthy') return { status: 'healthy', latencyMs: h.latency_ms ?? 0, toolCount: h.tools ?? 0 };
  if (h?.status === 'failing') return { status: 'failing', message: h.error ?? 'failing' };
  if (h?.status === 'skipped') return { status: 'disabled', reason: h.error ?? 'not checked' };
  if (s.enabled) return { status: 'unchecked' };
  if (s.duplicate_of) return { status: 'disabled', reason: `same as ${s.duplicate_of}` };
  if (s.optional) return { status: 'optional-off' };
  return { status: 'disabled', reason: s.reason ?? 'disabled' };
}

/** Back from `file:line:column: severity: message` (formatDiagnostic) to a Diagnostic the views can open. */
function parseDiagnostic(text: string, resolve: (source: string) => { file: string; line: number }): Diagnostic {
  const m = /^(.*?):(\d+):(\d+): (error|warning): ([\s\S]*)$/.exec(text);
  if (!m) return { file: resolve('').file, line: 1, column: 1, severity: 'warning', message: text };
  const { file } = resolve(`${m[1]}:${m[2]}`);
  return { file, line: Number(m[2]), column: Number(m[3]), severity: m[4] as Diagnostic['severity'], message: m[5]! };
}
