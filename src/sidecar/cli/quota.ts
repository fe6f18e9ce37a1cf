import { formatDiagnostic } from '../../core/diagnostics';
import { redact } from '../../core/redact';
import { quotaStatusDescriptor, type ProviderStatus, type QuotaStatusOutput } from '../protocol/quota-status';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';
import { formatAmount, formatTable, percentUsed, round6, timeUntil } from './format';
import { callTool, openCliSidecar } from './run-tool';

/** "yes", "no" or "not needed" (a local model server). */
export function keyText(p: Pick<ProviderStatus, 'key_needed' | 'has_key'>): 'yes' | 'no' | 'not needed' {
  if (!p.key_needed) return 'not needed';
  return p.has_key ? 'yes' : 'no';
}

/** The STATUS column: 429 cooldown and circuit, exactly as quota_status reports them. */
export function statusText(p: ProviderStatus, now = Date.now()): string {
  const parts: string[] = [];
  if (p.cooldown_until) parts.push(`cooling down ${timeUntil(p.cooldown_until, now)} (${p.cooldown_reason ?? 'cooldown'})`);
  if (p.circuit === 'open') parts.push(`circuit open${p.circuit_until ? ` ${timeUntil(p.circuit_until, now)}` : ''}`);
  if (p.circuit === 'half-open') parts.push('circuit half-open (next call is a trial)');
  return parts.join('; ') || 'ready';
}

/** The readable quota table plus the month's spend line. */
export function quotaTable(status: QuotaStatusOutput, now = Date.now()): string {
  const rows: string[][] = [['PROVIDER', 'TIER', 'KEY', 'QUOTA', 'USED / LIMIT', 'USED %', 'RESETS', 'STATUS']];
  for (const p of status.providers) {
    const first = [p.id, p.tier, keyText(p)];
    const state = statusText(p, now);
    if (p.quotas.length === 0) rows.push([...first, 'no quota', '-', '-', '-', state]);
    p.quotas.forEach((q, i) => {
      rows.push([
        ...(i === 0 ? first : ['', '', '']),
        `${q.metric}/${q.window}`,
        `${formatAmount(q.metric, q.limit - q.left)} / ${formatAmount(q.metric, q.limit)}`,
        `${percentUsed(q.limit, q.left)}%`,
        timeUntil(q.resets_at, now),
        i === 0 ? state : '',
      ]);
    });
  }
  return [formatTable(rows), '', spendLine(status.month)].join('\n');
}

export function spendLine(month: QuotaStatusOutput['month']): string {
  const saved = Math.max(0, month.baseline_usd - month.usd);
  return `${month.month}: ${month.calls} call(s), spent $${month.usd.toFixed(4)}; the premium baseline would have cost $${month.baseline_usd.toFixed(4)}, saved $${saved.toFixed(4)}.`;
}

/** `quota --json`: the tool's providers as they are, plus `key` and per-quota `used` / `percent_used` for scripts. */
export function quotaJson(status: QuotaStatusOutput): unknown {
  return {
    providers: status.providers.map((p) => ({
      ...p,
      key: keyText(p),
      quotas: p.quotas.map((q) => ({ ...q, used: round6(q.limit - q.left), percent_used: percentUsed(q.limit, q.left) })),
    })),
    month: { ...status.month, saved_usd: round6(Math.max(0, status.month.baseline_usd - status.month.usd)) },
  };
}

export const quotaCommand: Command = {
  name: 'quota',
  summary: 'Quota left per provider (shared ledger), cooldowns, and this month\'s spend vs the premium baseline',
  async run(argv) {
    const { common, values } = parseCommandArgs(argv);
    const sidecar = openCliSidecar(common, values.workspace);
    try {
      const { structured } = await callTool(sidecar, quotaStatusDescriptor, {});
      for (const d of structured.diagnostics ?? []) process.stderr.write(`switchboard: ${formatDiagnostic(d)}\n`);
      if (common.json) printJson(quotaJson(structured));
      else process.stdout.write(redact(quotaTable(structured)) + '\n');
      return 0;
    } finally {
      await sidecar.close();
    }
  },
};
