import path from 'node:path';
import type { Diagnostic } from '../../core/diagnostics';
import { switchboardHome, userHome } from '../../core/paths';
import type { DiagnosticOut, ListServersOutput, QuotaStatusOutput, ServerRow, SourceOut } from '../../sidecar/protocol';
import type { SidecarManager } from '../sidecarClient/manager';
import type { TrustState } from '../trust';
import type { AgentEntry, CascadeListing, QuotaEntry, QuotaLine, ServerEntry, ServerHealth, Snapshot, SwitchboardDataSource } from './source';

/** The layers in precedence order, as the sidecar's cascades use them (src/core/cascade). */
const AGENT_LAYERS = ['user', 'project', 'claude', 'core', 'defaults', 'bundled'];
const SERVER_LAYERS = ['external', 'user', 'project', 'docker', 'npx'];

/**
 * Feeds the views from the folder's own sidecar (`list_agents`, `list_servers`, `quota_status`) — the same MCP
 * path Claude Code uses. In Restricted Mode there is no sidecar: agents and servers are listed from their files
 * in-process (nothing is run) and quota is empty, the views saying why.
 */
export class SidecarSource implements SwitchboardDataSource {
  /** The cascade files, plus the audit log (every write and delegation through the sidecar lands there). */
  readonly watchedGlobs: readonly string[];
  /** Last quota_status result, for the status bar (which must not call the sidecar on every repaint). */
  lastQuota?: QuotaStatusOutput;

  constructor(
    private readonly sidecars: Pick<SidecarManager, 'callTool' | 'all'>,
    private readonly trust: Pick<TrustState, 'isTrusted'>,
    private readonly listing: CascadeListing,
    private readonly extensionPath: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.watchedGlobs = [...listing.watchedGlobs, '.switchboard/audit.jsonl'];
  }

  async agents(folder: string): Promise<Snapshot<AgentEntry>> {
    if (!this.trust.isTrusted) return this.listing.agents(folder);
    const result = await this.sidecars.callTool(folder, 'list_agents');
    const resolve = this.resolver(folder);
    const items: AgentEntry[] = [];
    for (const a of result.agents) {
      const location = resolve(a.source);
      items.push({ id: a.id, layer: a.layer, description: a.description, model: a.model, fallbackModels: a.fallback_models, location });
      for (const hidden of a.hidden) {
        items.push({ id: a.id, layer: hidden.layer, fallbackModels: [], location: resolve(hidden.source), overriddenBy: { layer: a.layer, location } });
      }
    }
    return { items, layers: AGENT_LAYERS, diagnostics: result.diagnostics.map((d) => withEditorPath(d, resolve)) };
  }

  async servers(folder: string): Promise<Snapshot<ServerEntry>> {
    if (!this.trust.isTrusted) return this.listing.servers(folder);
    return this.serversFrom(folder, await this.sidecars.callTool(folder, 'list_servers'));
  }

  /** Starts every enabled server once (`list_servers {check:true}`) and reports health, latency and tool count. */
  async checkServers(folder: string, only?: string): Promise<Snapshot<ServerEntry>> {
    // The tool checks every enabled server (cached a few minutes); `only` just narrows what the caller reports.
    void only;
    const result = await this.sidecars.callTool(folder, 'list_servers', { check: true }, { timeoutMs: 120_000 });
    return this.serversFrom(folder, result);
  }

  async quota(folder?: string): Promise<QuotaEntry[]> {
    if (!this.trust.isTrusted) return [];
    const target = folder ?? this.sidecars.all[0]?.folder;
    if (!target) return [];
    const result = await this.sidecars.callTool(target, 'quota_status');
    this.lastQuota = result;
    return result.providers.map((p) => {
      const entry: QuotaEntry = {
        providerId: p.id,
        tier: p.tier,
        keyNeeded: p.key_needed,
        keyPresent: p.has_key,
        quotas: p.quotas.map((q): QuotaLine => ({ metric: q.metric, window: q.window, used: Math.max(0, q.limit - q.left), limit: q.limit, resetAtMs: Date.parse(q.resets_at) })),
      };
      // Exactly what quota_status computed (and `switchboard quota` shows): the 429 cooldown and the circuit.
      if (p.cooldown_until) {
        entry.cooldownUntilMs = Date.parse(p.cooldown_until);
        entry.cooldownReason = p.cooldown_reason ?? 'rate limited';
      }
      if (p.circuit !== 'closed') {
        entry.circuit = p.circuit;
        if (p.circuit_until) entry.circuitUntilMs = Date.parse(p.circuit_until);
      }
      return entry;
    });
  }

  dispose(): void {
    this.listing.dispose();
  }

  private serversFrom(folder: string, result: ListServersOutput): Snapshot<ServerEntry> {
    const resolve = this.resolver(folder);
    const items: ServerEntry[] = [];
    for (const s of result.servers) {
      const location = resolve(s.source);
      // list_servers carries the last known health (the sidecar caches checks), so rows keep it across reloads.
      items.push({ name: s.id, layer: s.layer, transport: s.type, target: s.target, optional: s.optional, location, health: healthOf(s) });
      for (const hidden of s.hidden) {
        items.push({ name: s.id, layer: hidden.layer, transport: s.type, target: '', optional: false, location: resolve(hidden.source), overriddenBy: { layer: s.layer, location }, health: { status: 'disabled', reason: 'hidden' } });
      }
    }
    return { items, layers: SERVER_LAYERS, diagnostics: result.diagnostics.map((d) => withEditorPath(d, resolve)) };
  }

  /**
   * Tool results name files for people and keep absolute paths outside the workspace out (`.agents/x.yaml:3`,
   * `~/…`, `(bundled)/…`); the editor needs absolute paths to open them.
   */
  private resolver(folder: string): (source: SourceOut) => { file: string; line: number } {
    const roots: Array<[string, string]> = [
      ['~/', userHome(this.env)],
      ['(bundled)/', path.join(this.extensionPath, 'media', 'default-agents')],
      ['$SWITCHBOARD_HOME/', switchboardHome(this.env)],
    ];
    return ({ file: display, line }) => {
      const root = roots.find(([prefix]) => display.startsWith(prefix));
      if (root) return { file: path.join(root[1], display.slice(root[0].length)), line };
      // Absolute, scrubbed (`…/x`) or not a file (`$SWITCHBOARD_MCP_X_URL`): shown as is, not openable.
      if (path.isAbsolute(display) || display.startsWith('…') || display.startsWith('$')) return { file: display, line };
      return { file: path.join(folder, display), line };
    };
  }
}

function healthOf(s: ServerRow): ServerHealth {
  const h = s.health;
  if (h?.status === 'healthy') return { status: 'healthy', latencyMs: h.latency_ms ?? 0, toolCount: h.tools ?? 0 };
  if (h?.status === 'failing') return { status: 'failing', message: h.error ?? 'failing' };
  if (h?.status === 'skipped') return { status: 'disabled', reason: h.error ?? 'not checked' };
  if (s.enabled) return { status: 'unchecked' };
  if (s.duplicate_of) return { status: 'disabled', reason: `same as ${s.duplicate_of}` };
  if (s.optional) return { status: 'optional-off' };
  return { status: 'disabled', reason: s.reason ?? 'disabled' };
}

/** A diagnostic as the sidecar sent it, its file made absolute so the editor can open it. */
function withEditorPath(d: DiagnosticOut, resolve: (source: SourceOut) => { file: string; line: number }): Diagnostic {
  return { ...d, file: resolve({ file: d.file, line: d.line }).file };
}
