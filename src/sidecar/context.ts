/**
 * Everything a tool call needs, opened lazily: the workspace (from --workspace, else the client's first root,
 * else the current folder), the allowed folders (the policy's, narrowed by client roots), the file-safety layer,
 * the cascades, the ledger and the router. Nothing is opened until the first call that needs it, so creating the
 * server stays free of side effects and cold start stays fast.
 */
import path from 'node:path';
// Type-only as well: the cascade code (yaml, ajv) loads in ready(), after tools/list has been answered.
import type { WorkspaceCascade, Agent, AgentCascadeResult, ServerCascadeResult } from '../core/cascade';
import { UserError } from '../core/errors';
// Type-only: the modules themselves (provider SDKs, sql.js) load on first use, keeping cold start short.
import type { Actor, WorkspaceFiles } from '../core/files';
import type { Ledger } from '../core/ledger';
import type { LoadedRouterConfig, Router } from '../core/router';
import type { KnownServerHealth, SyncResult } from '../core/context';
import { isDirectory } from '../core/paths';
import { redact } from '../core/redact';
import { decideTrust, isProjectServer, type TrustDecision } from '../core/trust';
import { diagnostic, type Diagnostic } from '../core/diagnostics';
import { stampFiles, type FileStamp } from '../core/file-stamp';
import type { ServerHealth } from './health';
import { DelegationLimiter } from './limiter';
import { canonicalDir, narrowToRoots, rootPaths } from './roots';

export interface SidecarOptions {
  /** The workspace folder: from --workspace, or the current folder. */
  workspace: string;
  /** True when given with --workspace: client roots may then narrow it but never move it. */
  workspaceExplicit: boolean;
  env?: NodeJS.ProcessEnv;
  actor?: Actor;
  log?: (line: string) => void;
  bundledAgentsDir?: string;
}

/** Delegations waiting for a slot beyond this many are refused at once. */
const DEFAULT_MAX_QUEUE = 64;
const DEFAULT_QUEUE_TIMEOUT_MS = 120_000;
const DEFAULT_MAX_CONCURRENT = 8;
/** How long a tool call waits for the client's roots/list answer before using the workspace alone. */
const ROOTS_WAIT_MS = 3_000;

export class SidecarContext {
  readonly env: NodeJS.ProcessEnv;
  readonly actor: Actor;
  readonly log: (line: string) => void;
  /** Progress notifications during a delegation come at least this often (SPEC: at least every 10 s). */
  readonly progressIntervalMs: number;
  private currentWorkspace: string;
  private allowed: string[] | undefined;
  private rootsSettled!: Promise<void>;
  /** rootsSettled has resolved (ready() then has nothing to wait for). */
  private rootsAreSettled = false;
  /** The client advertised roots but did not answer roots/list (in time): only the workspace is reachable. */
  private rootsFallback = false;
  private settleRoots!: () => void;
  private filesPromise: Promise<WorkspaceFiles> | undefined;
  private ledgerPromise: Promise<Ledger> | undefined;
  private cascadeInstance: WorkspaceCascade | undefined;
  private limiterInstance: DelegationLimiter | undefined;
  /** The router configuration and the Router built from it, kept while the router.yaml files are unchanged. */
  private routerCache: { workspace: string; stamp: FileStamp; loaded: LoadedRouterConfig; router?: Router } | undefined;

  constructor(private readonly options: SidecarOptions) {
    this.env = options.env ?? process.env;
    this.actor = options.actor ?? 'claude-code';
    // Every line is redacted here: callers log provider messages and diagnostics that may carry a key.
    this.log = options.log ?? ((line) => process.stderr.write(`switchboard: ${redact(line, this.env)}\n`));
    this.progressIntervalMs = positiveInt(this.env.SWITCHBOARD_PROGRESS_INTERVAL_MS) ?? 5_000;
    this.currentWorkspace = canonicalDir(options.workspace);
    this.expectRoots();
  }

  get workspace(): string {
    return this.currentWorkspace;
  }

  /** Folders the file tools may use after client roots narrowed the policy's; undefined = the policy's own. */
  get allowedRoots(): string[] | undefined {
    return this.allowed;
  }

  /** Tool calls wait (briefly) for the client's roots before touching files. */
  expectRoots(): void {
    let settled = false;
    const previous = this.settleRoots;
    this.rootsAreSettled = false;
    this.rootsSettled = new Promise<void>((resolve) => {
      const settle = (): void => {
        if (settled) return;
        settled = true;
        // Only the newest expectation says the roots are in: releasing the one it replaced says nothing of them.
        if (this.settleRoots === settle) this.rootsAreSettled = true;
        resolve();
      };
      this.settleRoots = settle;
    });
    previous?.();
  }

  /** The client's roots (file:// URIs), or undefined when it has none. */
  setClientRoots(uris: readonly string[] | undefined): void {
    const roots = uris ? rootPaths(uris) : [];
    let workspace = this.currentWorkspace;
    if (!this.options.workspaceExplicit && roots.length > 0) {
      const firstDir = roots.find((r) => isDirectory(r));
      if (firstDir) workspace = firstDir;
    }
    const allowed = roots.length > 0 ? roots : undefined;
    const wasFallback = this.rootsFallback;
    this.rootsFallback = false;
    if (wasFallback || workspace !== this.currentWorkspace || JSON.stringify(allowed) !== JSON.stringify(this.allowed)) {
      this.currentWorkspace = workspace;
      this.allowed = allowed;
      this.resetServices();
      this.log(`workspace ${workspace}${allowed ? ` (client roots: ${allowed.length})` : ''}`);
    }
    this.settleRoots();
  }

  /**
   * The client advertised roots but its roots/list failed or never came: the file tools fall back to the safe
   * default (the workspace folder alone, narrowed further by the project's policy), never to anything wider.
   */
  rootsUnanswered(): void {
    if (!this.rootsFallback) {
      this.rootsFallback = true;
      this.allowed = undefined;
      this.resetServices();
    }
    this.settleRoots();
  }

  /** ready() has nothing left to wait for: a caller may skip awaiting it (one less turn per tool call). */
  get isReady(): boolean {
    return this.rootsAreSettled && cascadeModule !== undefined;
  }

  /** Awaited before every tool call: the client's roots (briefly) and the code the synchronous accessors use. */
  async ready(): Promise<void> {
    // The usual case once a session is under way: nothing to wait for, and no timer to arm per call.
    if (this.isReady) return;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    await Promise.all([
      Promise.race([this.rootsSettled, new Promise<void>((resolve) => (timer = setTimeout(() => {
        timedOut = true;
        resolve();
      }, ROOTS_WAIT_MS)))]),
      loadCascadeModule(),
    ]);
    clearTimeout(timer);
    if (timedOut) this.rootsUnanswered();
  }

  files(): Promise<WorkspaceFiles> {
    if (!this.filesPromise) {
      const workspace = this.currentWorkspace;
      const roots = this.allowed;
      this.filesPromise = (async () => {
        if (!isDirectory(workspace)) throw new UserError('The workspace folder does not exist or is not a folder', 'workspace_missing');
        const { WorkspaceFiles, loadPolicy } = await import('../core/files');
        const loaded = loadPolicy(workspace);
        for (const d of loaded.diagnostics) this.log(`${path.relative(workspace, d.file) || d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`);
        const policy = { ...loaded.policy };
        if (roots) policy.allowedPaths = narrowToRoots(policy.allowedPaths.map(canonicalDir), roots);
        else if (this.rootsFallback) policy.allowedPaths = narrowToRoots(policy.allowedPaths.map(canonicalDir), [canonicalDir(workspace)]);
        return WorkspaceFiles.open(workspace, { actor: this.actor, policy });
      })();
      this.filesPromise.catch(() => (this.filesPromise = undefined));
    }
    return this.filesPromise;
  }

  /** A path the client gave, made workspace-relative when it lies inside the workspace (for messages). */
  displayPath(p: string): string {
    const abs = path.resolve(this.currentWorkspace, p);
    const rel = path.relative(this.currentWorkspace, abs);
    return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : p;
  }

  /** Synchronous, for the tools: only after ready(). */
  cascade(): WorkspaceCascade {
    if (!cascadeModule) throw new Error('SidecarContext.ready() must be awaited before the cascade is used');
    this.cascadeInstance ??= new cascadeModule.WorkspaceCascade({ workspace: this.currentWorkspace, env: this.env, bundledAgentsDir: this.options.bundledAgentsDir });
    return this.cascadeInstance;
  }

  agents(): AgentCascadeResult {
    return this.cascade().agents.load();
  }

  servers(): ServerCascadeResult {
    return this.cascade().servers.load();
  }

  findAgent(id: string): Agent {
    const result = this.agents();
    const agent = result.agents.find((a) => a.id === id);
    if (!agent) {
      const known = result.agents.map((a) => a.id);
      throw new UserError(`unknown agent "${id}"${known.length ? ` (known: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''})` : ' (no agents found)'}`, 'unknown_agent');
    }
    if (!agent.enabled) throw new UserError(`agent "${id}" is disabled in .agents/discovery-config.yaml`, 'agent_disabled');
    return agent;
  }

  /** The shared ledger (SWITCHBOARD_LEDGER_URL, else $SWITCHBOARD_HOME/ledger.sqlite of this sidecar's env), alerts from router.yaml. */
  ledger(): Promise<Ledger> {
    if (!this.ledgerPromise) {
      this.ledgerPromise = (async () => {
        const [{ openLedger }, loaded] = await Promise.all([import('../core/ledger/open'), this.routerConfig()]);
        return openLedger(this.env, { thresholds: loaded.config.alerts, onWarning: (w) => this.log(w.message) });
      })();
      this.ledgerPromise.catch(() => (this.ledgerPromise = undefined));
    }
    return this.ledgerPromise;
  }

  /**
   * Router configuration, loaded again only when a router.yaml file changed (see file-stamp.ts: a stat of two
   * files per call), so edits apply without a restart.
   */
  async routerConfig(): Promise<LoadedRouterConfig> {
    return (await this.routerEntry()).loaded;
  }

  /** One Router per loaded configuration: its provider clients (and their connections) live as long as it does. */
  async router(): Promise<Router> {
    const entry = await this.routerEntry();
    if (!entry.router) {
      const [{ Router }, ledger] = await Promise.all([import('../core/router'), this.ledger()]);
      entry.router ??= new Router({ config: entry.loaded.config, ledger, env: this.env });
    }
    return entry.router;
  }

  private async routerEntry(): Promise<NonNullable<SidecarContext['routerCache']>> {
    const { loadRouterConfig, userRouterFile, projectRouterFile } = await import('../core/router');
    const workspace = this.currentWorkspace;
    // Stamped before reading: an edit made while the files are read changes the stamp seen next time.
    const stamp = stampFiles([userRouterFile(this.env), projectRouterFile(workspace)]);
    const cached = this.routerCache;
    if (cached && cached.workspace === workspace && !cached.stamp.racy && cached.stamp.key === stamp.key) return cached;
    const loaded = loadRouterConfig({ workspace, env: this.env });
    for (const d of loaded.diagnostics) this.log(`${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`);
    const entry = { workspace, stamp, loaded };
    this.routerCache = entry;
    return entry;
  }

  /**
   * Delegation limits from `.agents/discovery-config.yaml`, at most SWITCHBOARD_MAX_CONCURRENT (default 8) at
   * once; SWITCHBOARD_MAX_QUEUE / _QUEUE_TIMEOUT_MS tune the queue.
   */
  limiter(): DelegationLimiter {
    if (!this.limiterInstance) {
      const limits = this.agents().limits;
      const modelLimits: Record<string, number> = {};
      for (const [model, l] of Object.entries(limits?.model_limits ?? {})) if (l?.max_concurrent) modelLimits[model] = l.max_concurrent;
      // A repository may lower the concurrency, not raise it past the user's cap (each running call holds its files).
      const cap = positiveInt(this.env.SWITCHBOARD_MAX_CONCURRENT) ?? DEFAULT_MAX_CONCURRENT;
      this.limiterInstance = new DelegationLimiter({
        maxConcurrent: Math.min(limits?.max_concurrent ?? cap, cap),
        modelLimits,
        maxQueue: positiveInt(this.env.SWITCHBOARD_MAX_QUEUE) ?? DEFAULT_MAX_QUEUE,
        queueTimeoutMs: positiveInt(this.env.SWITCHBOARD_QUEUE_TIMEOUT_MS) ?? DEFAULT_QUEUE_TIMEOUT_MS,
      });
    }
    return this.limiterInstance;
  }

  /** Whether the user trusts the current workspace (decided afresh: trust can be given while we run). */
  trust(): TrustDecision {
    return decideTrust(this.currentWorkspace, this.env);
  }

  /**
   * What an untrusted folder's project servers say in the `list_servers` diagnostics: one warning per server,
   * at its definition, saying it is never started or checked and how to trust the folder. Empty when trusted.
   */
  untrustedServerDiagnostics(trust: TrustDecision = this.trust()): Diagnostic[] {
    if (trust.trusted) return [];
    return this.servers().servers.filter(isProjectServer).map((s) =>
      diagnostic(s.source.file, s.source.line, 1, `server "${s.id}" is listed but never started or checked by Switchboard: ${trust.explanation}`, 'warning'));
  }

  /**
   * Server health: checked now (MCP handshake, 5-minute cache) with `check`, else the last known result from
   * the cache — never spawning anything. Project-defined servers are checked only in a trusted folder.
   */
  async serverHealth(options: { check: boolean; ids?: string[] }): Promise<Record<string, ServerHealth>> {
    const [health] = await Promise.all([import('./health'), loadCascadeModule()]);
    const servers = this.servers().servers;
    const common = { env: this.env, cwd: this.currentWorkspace, trust: this.trust(), managedKeys: health.managedKeysFor(this.env) };
    if (!options.check) return health.lastKnownHealth(servers, common);
    const results = await health.checkServers(servers, { ...common, ids: options.ids });
    return Object.fromEntries(results.map((r) => [r.id, r]));
  }

  /**
   * PROJECT_CONTEXT.md from the workspace's current state, shared by the `project_context` tool, its resource
   * and `switchboard context`. With `write`, the file is regenerated through the file policy with a backup,
   * and only when its content changed.
   */
  async syncContext(options: { write: boolean }): Promise<SyncResult & { quotaProblem?: string }> {
    const [{ syncProjectContext }] = await Promise.all([import('../core/context'), loadCascadeModule()]);
    const { agents, servers } = this.cascade().load();
    const serverHealth: Record<string, KnownServerHealth> = {};
    for (const [id, h] of Object.entries(await this.serverHealth({ check: false }))) {
      serverHealth[id] = h.toolCount === undefined ? { status: h.status } : { status: h.status, toolCount: h.toolCount };
    }
    let ledger: Ledger | undefined;
    let quotaProblem: string | undefined;
    try {
      ledger = await this.ledger();
    } catch (err) {
      // Without the ledger the file still renders, with quota shown as unknown.
      quotaProblem = redact((err as Error)?.message ?? String(err)).split('\n')[0];
    }
    const files = await this.files();
    const result = await syncProjectContext(this.currentWorkspace, { agents, servers, serverHealth, ledger, env: this.env }, { actor: this.actor, check: !options.write, files });
    return quotaProblem ? { ...result, quotaProblem } : result;
  }

  async agentSummaries(): Promise<Array<{ id: string; description?: string }>> {
    await loadCascadeModule();
    return this.agents().agents.map((a) => ({ id: a.id, description: a.description }));
  }

  /** An agent as Markdown: its effective settings, where it comes from, and its prompt. */
  async agentDocument(id: string): Promise<string> {
    await loadCascadeModule();
    const a = this.findAgent(id);
    const lines = [`# ${a.id}`, ''];
    if (a.description) lines.push(a.description, '');
    lines.push(`- layer: ${a.layer} (${a.source.file}:${a.source.line})`);
    if (a.model) lines.push(`- model: ${a.model}${a.fallbackModels.length ? ` (fallbacks: ${a.fallbackModels.join(', ')})` : ''}`);
    if (a.tools) lines.push(`- tools: ${a.tools.join(', ') || '(none)'}`);
    if (a.hides.length) lines.push(`- overrides: ${a.hides.map((h) => `${h.layer} ${h.file}:${h.line}`).join('; ')}`);
    if (a.systemPrompt) lines.push('', '## Prompt', '', a.systemPrompt.trim());
    return lines.join('\n') + '\n';
  }

  private resetServices(): void {
    // The replaced instance's kept lock file goes once its last write is done (see WorkspaceFiles.dispose).
    this.filesPromise?.then((f) => f.dispose()).catch(() => undefined);
    this.filesPromise = undefined;
    this.cascadeInstance = undefined;
    this.limiterInstance = undefined;
    this.routerCache = undefined;
  }

  async close(): Promise<void> {
    // Writes that have answered finish their bookkeeping (record, audit sync) before the process goes, and the
    // kept lock file is removed.
    await (await this.filesPromise?.catch(() => undefined))?.dispose();
    const ledger = this.ledgerPromise;
    this.ledgerPromise = undefined;
    if (ledger) await (await ledger.catch(() => undefined))?.close();
  }
}

let cascadeModule: typeof import('../core/cascade') | undefined;

async function loadCascadeModule(): Promise<void> {
  cascadeModule ??= await import('../core/cascade');
}

function positiveInt(value: string | undefined): number | undefined {
  const n = value ? Number(value) : NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
