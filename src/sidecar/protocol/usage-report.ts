import * as z from 'zod';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

/** Spend vs the premium baseline; one definition, referenced (not repeated) in the listed schema. */
const totals = z.object({ calls: z.number(), spend_usd: z.number(), baseline_usd: z.number(), saved_usd: z.number() }).meta({ id: 'usage_totals' });

export const usageReportDescriptor = describeTool({
  name: 'usage_report',
  description: 'Delegations (newest first, paged), spend vs premium baseline per provider and UTC day.',
  input: {
    since: z.string().optional(),
    limit: z.number().int().positive().max(500).optional(),
    cursor: z.string().optional(),
  },
  output: {
    history: z.array(z.object({
      time: z.string(),
      task: z.string(),
      provider: z.string().optional(),
      model: z.string().optional(),
      input_tokens: z.number(),
      output_tokens: z.number(),
      cost_usd: z.number(),
      baseline_usd: z.number(),
      outcome: z.enum(['ok', 'denied', 'error']),
      /** The project's check on the answer (verified delegation); `check` is its summary or why it did not run. */
      verified: z.enum(['passed', 'failed', 'not_run']).optional(),
      check: z.string().optional(),
      path: z.string().optional(),
      backup_id: z.string().optional(),
    })),
    next_cursor: z.string().optional(),
    totals,
    /** By provider id, most spent first. */
    providers: z.record(z.string(), totals),
    /** By day (YYYY-MM-DD), oldest first. */
    days: z.record(z.string(), totals),
  },
  annotations: { readOnlyHint: true },
});

export type UsageReportInput = ToolInput<typeof usageReportDescriptor>;
export type UsageReportOutput = ToolOutput<typeof usageReportDescriptor>;
export type HistoryRow = UsageReportOutput['history'][number];
export type UsageTotals = UsageReportOutput['totals'];
