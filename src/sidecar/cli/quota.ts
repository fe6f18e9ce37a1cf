import { resolveProviderKey } from '../../core/providers/env';
import { redact } from '../../core/redact';
import { quotaStatusTool } from '../tools/quota-status';
import { formatTable } from './agents';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';
import { openCliSidecar, runToolFromCli } from './run-tool';

/** What `quota_status` returns (its structuredContent); the demo reads the same shape over MCP. */
export interface QuotaStatus {
  providers: Array<{
    id: string;
    tier: string;
    has_key: boolean;
    quotas: Array<{ metric: string; window: string; limit: number; left: number; resets_at: string }>;
  }>;
  month: { month: string; calls: number; usd: number; baseline_usd: number };
}

/** Per provider, what the ledger holds against it right now (shared by every process). */
export interface ProviderHealth {
  key: 'yes' | 'no' | 'not needed';
  circuit: 'closed' | 'open' | 'half-open';
  circuit_until?: string;
  cooldown_until?: string;
  cooldown_reason?: string;
}

export function formatAmount(metric: string, n: number): string {
  if (metric === 'usd') return `$${n.toFixed(4)}`;
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export function percentUsed(limit: number, left: number): number {
  if (limit <= 0) return left <= 0 ? 100 : 0;
  return Math.round(((limit - left) / limit) * 1000) / 10;
}

/** "in 3h 20m", "in 45s"; the moment itself is in the JSON output. */
export function timeUntil(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  if (!Number.isFinite(ms)) return '-';
  if (ms <= 0) return 'now';
  const s = Math.ceil(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `in ${d}d ${h}h`;
  if (h > 0) return `in ${h}h ${m}m`;
  if (m > 0) return `in ${m}m`;
  return `in ${s}s`;
}

function statusText(health: ProviderHealth | undefined, now: number): string {
  if (!health) return '';
  const parts: string[] = [];
  if (health.cooldown_until) parts.push(`cooling down ${timeUntil(health.cooldown_until, now)} (${health.cooldown_reason ?? 'cooldown'})`);
  if (health.circuit === 'open') parts.push(`circuit open${health.circuit_until ? ` ${timeUntil(health.circuit_until, now)}` : ''}`);
  if (health.circuit === 'half-open') parts.push('circuit half-open (next call is a trial)');
  return parts.join('; ') || 'ready';
}

/** The readable quota table plus the month's spend line. `health` adds the KEY detail and a STATUS column. */
export function quotaTable(status: QuotaStatus, health: Record<string, ProviderHealth> = {}, now = Date.now()): string {
  const withStatus = Object.keys(health).length > 0;
  const header = ['PROVIDER', 'TIER', 'KEY', 'QUOTA', 'USED / LIMIT', 'USED %', 'RESETS'];
  if (withStatus) header.push('STATUS');
  const rows: string[][] = [header];
  for (const p of status.providers) {
    const key = health[p.id]?.key ?? (p.has_key ? 'yes' : 'no');
    const first = [p.id, p.tier, key];
    const state = statusText(health[p.id], now);
    if (p.quotas.length === 0) rows.push([...first, 'no quota', '-', '-', '-', ...(withStatus ? [state] : [])]);
    p.quotas.forEach((q, i) => {
      const lead = i === 0 ? first : ['', '', ''];
      rows.push([
        ...lead,
        `${q.metric}/${q.window}`,
        `${formatAmount(q.metric, q.limit - q.left)} / ${formatAmount(q.metric, q.limit)}`,
        `${percentUsed(q.limit, q.left)}%`,
        timeUntil(q.resets_at, now),
        ...(withStatus ? [i === 0 ? state : ''] : []),
      ]);
    });
  }
  return [formatTable(rows), '', spendLine(status.month)].join('\n');
}

export function spendLine(month: QuotaStatus['month']): string {
  const saved = Math.max(0, month.baseline_usd - month.usd);
  return `${month.month}: ${month.calls} call(s), spent $${month.usd.toFixed(4)}; the premium baseline would have cost $${month.baseline_usd.toFixed(4)}, saved $${saved.toFixed(4)}.`;
}

export const quotaCommand: Command = {
  name: 'quota',
  summary: 'Quota left per provider (shared ledger), cooldowns, and this month\'s spend vs the premium baseline',
  async run(argv) {
    const { common, values } = parseCommandArgs(argv);
    const sidecar = openCliSidecar(common, values.workspace);
    try {
      const { structured } = await runToolFromCli(sidecar, quotaStatusTool, {});
      const status = structured as unknown as QuotaStatus;
      const health = await providerHealth(sidecar);
      if (common.json) {
        printJson({
          providers: status.providers.map((p) => ({
            id: p.id,
            tier: p.tier,
            has_key: p.has_key,
            ...health[p.id],
            quotas: p.quotas.map((q) => ({ ...q, used: round(q.limit - q.left), percent_used: percentUsed(q.limit, q.left) })),
          })),
          month: { ...status.month, saved_usd: round(Math.max(0, status.month.baseline_usd - status.month.usd)) },
        });
      } else {
        process.stdout.write(redact(quotaTable(status, health)) + '\n');
      }
      return 0;
    } finally {
      await sidecar.close();
    }
  },
};

/** Cooldowns (per provider and key fingerprint, as the router keeps them) and circuits, from the shared ledger. */
async function providerHealth(sidecar: ReturnType<typeof openCliSidecar>): Promise<Record<string, ProviderHealth>> {
  // Loaded here, not at the top: the router pulls in every provider SDK, which `serve` must not pay for at startup.
  const { cooldownKey } = await import('../../core/router');
  const { config } = await sidecar.routerConfig();
  const ledger = await sidecar.ledger();
  const now = Date.now();
  const out: Record<string, ProviderHealth> = {};
  for (const p of config.providers.filter((x) => !x.disabled)) {
    // A bad base URL is the router's to report; the key lookup does not depend on it.
    const apiKey = resolveProviderKey(p, sidecar.env).apiKey;
    const health: ProviderHealth = { key: p.apiKeyEnv.length === 0 ? 'not needed' : apiKey ? 'yes' : 'no', circuit: 'closed' };
    const cool = await ledger.cooldown(cooldownKey(p.id, apiKey));
    if (cool && cool.untilMs > now) {
      health.cooldown_until = new Date(cool.untilMs).toISOString();
      health.cooldown_reason = cool.reason;
    }
    const circuit = await ledger.circuit(p.id);
    health.circuit = circuit.state === 'open' && circuit.untilMs <= now ? 'half-open' : circuit.state;
    if (circuit.state === 'open' && circuit.untilMs > now) health.circuit_until = new Date(circuit.untilMs).toISOString();
    out[p.id] = health;
  }
  return out;
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
