import type { Diagnostic } from '../../core/diagnostics';

/**
 * What the views show, independent of where it comes from: the folder's sidecar over MCP in a trusted workspace,
 * the cascade loader in src/core (files only, nothing run) in Restricted Mode. Views only ever see these shapes.
 */

export interface SourceLocation {
  /** Absolute path of the defining file. */
  file: string;
  /** 1-based line of the definition inside the file. */
  line: number;
}

/** A higher-precedence item that hides this one. */
export interface Shadow {
  layer: string;
  location: SourceLocation;
}

export interface AgentEntry {
  id: string;
  layer: string;
  description?: string;
  model?: string;
  fallbackModels: string[];
  location: SourceLocation;
  /** Set when a higher layer defines the same id; the tree shows "overridden by …". */
  overriddenBy?: Shadow;
}

export type ServerHealth =
  | { status: 'unchecked' }
  | { status: 'healthy'; latencyMs: number; toolCount: number }
  | { status: 'failing'; message: string }
  | { status: 'optional-off' }
  /** Listed but never started: disabled in discovery-config, or the same command as another server. */
  | { status: 'disabled'; reason: string };

export interface ServerEntry {
  name: string;
  layer: string;
  /** "stdio" with a command, or "http"/"sse" with a URL. */
  transport: string;
  /** Command line or URL, for display only (never env values: they may hold keys). */
  target: string;
  optional: boolean;
  location: SourceLocation;
  overriddenBy?: Shadow;
  health: ServerHealth;
}

export interface QuotaLine {
  metric: string;
  window: string;
  used: number;
  limit: number;
  resetAtMs: number;
}

export interface QuotaEntry {
  providerId: string;
  tier: string;
  /** False for servers that need no key (a local Ollama). */
  keyNeeded: boolean;
  keyPresent: boolean;
  quotas: QuotaLine[];
  /** Paused after a 429 / quota answer until then (per provider and key, as the router keeps it). */
  cooldownUntilMs?: number;
  cooldownReason?: string;
  /** open: paused after repeated failures until circuitUntilMs; half-open: the next call is a trial. */
  circuit?: 'open' | 'half-open';
  circuitUntilMs?: number;
}

export interface Snapshot<T> {
  items: T[];
  /** Layer names in precedence order (highest first), so trees group the same way everywhere. */
  layers: string[];
  diagnostics: Diagnostic[];
}

/** Agents and servers from their files alone (Restricted Mode: nothing is run, so there is no quota). */
export interface CascadeListing {
  agents(folder: string): Promise<Snapshot<AgentEntry>>;
  servers(folder: string): Promise<Snapshot<ServerEntry>>;
  /**
   * Globs (relative to a workspace folder) whose changes invalidate agents/servers, so the folder state
   * can watch exactly what the loader reads.
   */
  readonly watchedGlobs: readonly string[];
  dispose(): void;
}

export interface SwitchboardDataSource extends CascadeListing {
  /** Quota belongs to the user; `folder` adds that project's .mcp/router.yaml to the provider list. */
  quota(folder?: string): Promise<QuotaEntry[]>;
}
