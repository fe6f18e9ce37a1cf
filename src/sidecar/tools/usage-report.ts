import { auditFile } from '../../core/files/audit';
import { switchboardHome } from '../../core/paths';
import { delegationLog, type DelegationRow, type SpendTotals } from '../../core/report';
import { usageReportDescriptor, type HistoryRow, type UsageTotals } from '../protocol/usage-report';
import { defineTool } from './tool';

/**
 * Read-only, from the workspace's audit log: `switchboard report` and the editor's dashboard show this answer.
 * The shared ledger's month totals (every workspace) are quota_status's.
 */
export const usageReportTool = defineTool({
  ...usageReportDescriptor,
  async run(args, { sidecar }) {
    // The report index is signed with a key in the user's home, never the workspace's (see report-index.ts).
    const log = delegationLog(auditFile(sidecar.workspace), { home: switchboardHome(sidecar.env) });
    const report = log.report({ since: args.since, limit: args.limit, cursor: args.cursor });
    const structured = {
      history: report.history.map(historyRow),
      next_cursor: report.nextCursor,
      totals: totalsOut(report.totals),
      providers: Object.fromEntries(report.providers.map((p) => [p.id, totalsOut(p)])),
      days: Object.fromEntries(report.days.map((d) => [d.day, totalsOut(d)])),
    };
    const t = structured.totals;
    const lines = [
      `${t.calls} delegation(s): spent $${t.spend_usd.toFixed(4)}, premium baseline $${t.baseline_usd.toFixed(4)}, saved $${t.saved_usd.toFixed(4)}`,
      ...report.providers.map((p) => `  ${p.id}: ${p.calls} call(s), $${p.spendUsd.toFixed(4)}`),
      ...structured.history.map((h) => `${h.time}  ${h.task}  ${h.provider ?? '-'}/${h.model ?? '-'}  $${h.cost_usd.toFixed(6)}  ${h.outcome}${h.verified ? ` check ${h.verified}` : ''}${h.path ? `  ${h.path}` : ''}`),
    ];
    if (structured.next_cursor) lines.push(`(more: cursor ${structured.next_cursor})`);
    return { text: lines.join('\n'), structured };
  },
});

function totalsOut(t: SpendTotals): UsageTotals {
  return { calls: t.calls, spend_usd: t.spendUsd, baseline_usd: t.baselineUsd, saved_usd: t.savedUsd };
}

function historyRow(r: DelegationRow): HistoryRow {
  return {
    time: r.time, task: r.task, provider: r.provider, model: r.model, input_tokens: r.inputTokens, output_tokens: r.outputTokens,
    cost_usd: r.costUsd, baseline_usd: r.baselineUsd, outcome: r.outcome, verified: r.verified, check: r.check, path: r.path, backup_id: r.backupId,
  };
}
