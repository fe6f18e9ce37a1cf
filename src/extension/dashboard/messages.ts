/**
 * The dashboard's messages, both directions, in one module the extension (panel.ts) and the webview bundle
 * (webview-ui/src/main.ts) both import. Each map pairs a message name with its payload type; `Message<M>` turns
 * a map into the union actually posted ({ type, ...payload }). No `vscode` import: the webview bundles this.
 */
import type { QuotaStatusOutput, UsageReportOutput } from '../../sidecar/protocol';

/** One link of the routing chain, in the order the router tries providers, and why it is skipped now. */
export interface ChainLink {
  provider: string;
  tier: string;
  skipped?: string;
}

export interface DashboardData {
  folder: string;
  quota: QuotaStatusOutput;
  report: UsageReportOutput;
  chain: ChainLink[];
  /** Alert thresholds, as fractions of a limit (the spec's defaults). */
  alerts: number[];
  /** When the data was read (ISO), so "resets in" is computed from the same moment. */
  at: string;
}

/** Extension → webview. */
export interface ToWebview {
  data: { data: DashboardData };
  /** The sidecar could not be reached or a tool failed: shown above the (kept) last data. */
  error: { message: string };
  /** An action's outcome (restore, open). */
  notice: { message: string };
}

/** Webview → extension. */
export interface ToExtension {
  ready: object;
  refresh: object;
  /** Show older history (the report's next_cursor), or the first page when undefined. */
  page: { cursor?: string };
  restore: { backupId: string; path: string };
  openFile: { path: string };
}

export type Message<M> = { [K in keyof M]: { type: K } & M[K] }[keyof M];

/** The names the extension accepts, checked at runtime: a webview message is input, not trusted code. */
export const TO_EXTENSION_TYPES: ReadonlyArray<keyof ToExtension> = ['ready', 'refresh', 'page', 'restore', 'openFile'];

export function isToExtension(value: unknown): value is Message<ToExtension> {
  if (!value || typeof value !== 'object') return false;
  const m = value as Record<string, unknown>;
  if (!TO_EXTENSION_TYPES.includes(m.type as keyof ToExtension)) return false;
  switch (m.type) {
    case 'page':
      return m.cursor === undefined || (typeof m.cursor === 'string' && m.cursor.length <= 20);
    case 'restore':
      return typeof m.backupId === 'string' && m.backupId.length <= 200 && typeof m.path === 'string';
    case 'openFile':
      return typeof m.path === 'string' && m.path.length <= 4096;
    default:
      return true;
  }
}

/** Same thresholds the router's quota alerts use by default (`alerts: [0.8, 0.95, 1.0]`). */
export const DEFAULT_ALERTS = [0.8, 0.95, 1];

/** The routing chain from quota_status: providers in router order, each with the reason it is skipped now. */
export function routingChain(quota: QuotaStatusOutput, now: number): ChainLink[] {
  return quota.providers.map((p) => {
    let skipped: string | undefined;
    if (!p.has_key) skipped = 'no API key';
    else if (p.cooldown_until && Date.parse(p.cooldown_until) > now) skipped = `cooling down (${p.cooldown_reason ?? 'rate limited'})`;
    else if (p.circuit === 'open') skipped = 'circuit open after repeated failures';
    else {
      const spent = p.quotas.find((q) => q.left <= 0);
      if (spent) skipped = `${spent.metric}/${spent.window} quota used up`;
    }
    return { provider: p.id, tier: p.tier, ...(skipped ? { skipped } : {}) };
  });
}
