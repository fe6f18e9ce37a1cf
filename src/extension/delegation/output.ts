import { describeVerification } from '../../core/verify/loop';
import type { DelegateOutput } from '../../sidecar/protocol';

/** "gemini/gemini-2.5-flash (free) · 120+340 tokens · $0.0000" */
export function describeRoute(result: DelegateOutput): string {
  return `${result.provider}/${result.model} (${result.tier}) · ${result.input_tokens}+${result.output_tokens} tokens · $${result.cost_usd.toFixed(4)}`;
}

/** "1,479 / 1,500 requests per day left" for the first quota, if any. */
export function describeQuotaLeft(quota: DelegateOutput['quota_left']): string | undefined {
  const first = quota[0];
  return first ? describeQuota(first) : undefined;
}

/** One quota rule's state: "1,479 / 1,500 requests per day left", "$4.98 / $5.00 per month left". */
export function describeQuota(q: { metric: string; window: string; left: number; limit: number }): string {
  if (q.metric === 'usd') return `$${q.left.toFixed(2)} / $${q.limit.toFixed(2)} per ${q.window} left`;
  return `${formatNumber(q.left)} / ${formatNumber(q.limit)} ${q.metric.replace(/_/g, ' ')} per ${q.window} left`;
}

export function formatNumber(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 4 });
}

/** "tests pass (3 attempts, gemini → together)", or why the proposal was not verified. */
export function describeProposalCheck(result: DelegateOutput, task: string): string | undefined {
  const v = result.verification;
  if (!v) return undefined;
  if (v.status === 'skipped' && /not trusted/.test(v.reason ?? '')) return 'not verified (the sidecar does not trust this folder)';
  return describeVerification({ ...v, attempts: v.attempts.map((a) => ({ repair: false, cost_usd: 0, input_tokens: 0, output_tokens: 0, ...a })) }, task);
}
