import { UserError } from '../../core/errors';
import { redact } from '../../core/redact';
import { quotaStatusDescriptor, type QuotaStatusOutput } from '../protocol/quota-status';
import { usageReportDescriptor, type UsageReportOutput } from '../protocol/usage-report';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';
import { formatTable } from './format';
import { callTool, openCliSidecar } from './run-tool';

function usd(x: number): string {
  return `$${x.toFixed(4)}`;
}

/** Totals, per-provider lines, then the page of history as a table. */
export function reportText(report: UsageReportOutput, month: QuotaStatusOutput['month']): string {
  const t = report.totals;
  const out = [
    `Delegations: ${t.calls}, spent ${usd(t.spend_usd)}; the premium baseline would have cost ${usd(t.baseline_usd)}, saved ${usd(t.saved_usd)}.`,
  ];
  const providers = Object.entries(report.providers);
  if (providers.length) {
    out.push('', formatTable([['PROVIDER', 'CALLS', 'SPENT', 'BASELINE', 'SAVED'], ...providers.map(([id, p]) => [id, String(p.calls), usd(p.spend_usd), usd(p.baseline_usd), usd(p.saved_usd)])]));
  }
  if (report.history.length) {
    const rows = report.history.map((h) => [
      h.time.replace('T', ' ').slice(0, 19), h.task.slice(0, 24), `${h.provider ?? '-'}/${h.model ?? '-'}`, `${h.input_tokens}+${h.output_tokens}`,
      `$${h.cost_usd.toFixed(6)}`, `$${h.baseline_usd.toFixed(6)}`, h.outcome, h.verified ?? '', h.path ?? '', h.backup_id ?? '',
    ]);
    out.push('', formatTable([['TIME (UTC)', 'TASK', 'PROVIDER/MODEL', 'TOKENS', 'COST', 'BASELINE', 'OUTCOME', 'CHECK', 'PATH', 'BACKUP'], ...rows]));
  } else {
    out.push('', 'No delegations recorded in this workspace yet.');
  }
  if (report.next_cursor) out.push('', `More: switchboard report --cursor ${report.next_cursor}`);
  const m = month;
  out.push('', `Ledger, ${m.month} (all workspaces): ${m.calls} call(s), spent ${usd(m.usd)}, premium baseline ${usd(m.baseline_usd)}.`);
  return out.join('\n');
}

export const reportCommand: Command = {
  name: 'report',
  summary: 'Delegation history and spend vs the premium baseline: [--since DATE] [--limit N] [--cursor C]',
  async run(argv) {
    const { common, values, positionals } = parseCommandArgs(argv, { since: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } });
    if (positionals.length) throw new UserError(`unexpected argument "${positionals[0]}"`);
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0 && limit <= 500)) throw new UserError('--limit must be a whole number from 1 to 500');
    const sidecar = openCliSidecar(common, values.workspace);
    try {
      const { structured } = await callTool(sidecar, usageReportDescriptor, { since: values.since as string | undefined, limit, cursor: values.cursor as string | undefined });
      // The shared ledger's month (every workspace), beside this workspace's log: the two should agree.
      const { month } = (await callTool(sidecar, quotaStatusDescriptor, {})).structured;
      if (common.json) printJson({ ...structured, ledger_month: month });
      else process.stdout.write(redact(reportText(structured, month)) + '\n');
      return 0;
    } finally {
      await sidecar.close();
    }
  },
};
