import { z } from 'zod';
import { UserError } from '../errors';
import { HISTORY_FORMAT } from './history-merge';

export { HISTORY_FORMAT };

/**
 * A ledger's history as a portable document (`switchboard ledger export`), so a team can move a machine's
 * sql.js ledger into PostgreSQL and back. It carries what lasts: call rows, usage counters per window and
 * spend per month. Reservations, cooldowns, circuits and alert marks are momentary and stay behind.
 *
 * Importing is idempotent. Call rows are keyed by id. Aggregates remember, per source ledger, how much of each
 * counter was already imported (`imported` rows keyed by the source's ledger id) and add only the difference:
 * importing the same file twice changes nothing, and importing a later export of the same ledger adds only what
 * happened since. A ledger never imports its own export, and when it imports the export of a ledger that had
 * imported from it (a round trip: laptop → PostgreSQL → laptop), its own share is left out.
 */

/** Bounds for a file that may come from anyone: far above a real ledger's, far below what would hurt. */
const MAX_ROWS = 1_000_000;
const text = z.string().max(512);
const amount = z.number().finite().min(0);

const callSchema = z.object({
  id: text, ts_ms: z.number().int(), provider: text, model: text, tier: text, task: text.nullable(), actor: text.nullable(), ok: z.boolean(),
  input_tokens: amount, output_tokens: amount, cost_usd: amount, baseline_usd: amount, principal: text.nullable(), team: text.nullable(),
}).strict();
const usageSchema = z.object({
  counter: text, metric: z.enum(['requests', 'input_chars', 'tokens', 'usd']), win: z.enum(['minute', 'day', 'month']), tz: text,
  start_ms: z.number().int(), used: amount,
}).strict();
const spendSchema = z.object({ month: z.string().regex(/^\d{4}-\d{2}$/), calls: amount, usd: amount, baseline_usd: amount }).strict();

const historySchema = z.object({
  format: z.literal(HISTORY_FORMAT),
  version: z.literal(1),
  source: z.string().min(1).max(128),
  exported_at: z.string().max(64),
  calls: z.array(callSchema).max(MAX_ROWS),
  usage: z.array(usageSchema).max(MAX_ROWS),
  spend: z.array(spendSchema).max(10_000),
  /** What the exporting ledger itself imported, per source: lets that source import this back without counting itself twice. */
  imported: z.array(z.object({ source: z.string().min(1).max(128), kind: z.enum(['usage', 'spend_calls', 'spend_usd', 'spend_baseline']), key: text, value: amount }).strict())
    .max(MAX_ROWS).default([]),
}).strict();

export type LedgerHistory = z.infer<typeof historySchema>;
export type HistoryCall = z.infer<typeof callSchema>;
export type HistoryUsage = z.infer<typeof usageSchema>;
export type HistorySpend = z.infer<typeof spendSchema>;
export type ImportedKind = LedgerHistory['imported'][number]['kind'];

export interface ImportSummary {
  source: string;
  /** Call rows added (ids not seen before). */
  calls: number;
  /** Usage counters and months whose totals grew. */
  counters: number;
  months: number;
  /** True when the history is this ledger's own: nothing is imported. */
  ownHistory: boolean;
}

/** Implemented by both ledgers. */
export interface LedgerTransfer {
  exportHistory(): Promise<LedgerHistory>;
  importHistory(history: LedgerHistory): Promise<ImportSummary>;
}

export function isLedgerTransfer(x: unknown): x is LedgerTransfer {
  return typeof (x as LedgerTransfer | undefined)?.exportHistory === 'function' && typeof (x as LedgerTransfer).importHistory === 'function';
}

/** Parses and checks an export file; anything else is a UserError saying where it is wrong. */
export function parseHistory(json: string, name: string): LedgerHistory {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new UserError(`${name} is not JSON (${(err as Error).message}).`, 'bad_history');
  }
  const parsed = historySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError(`${name} is not a Switchboard ledger export: ${issue.path.join('.') || '(top level)'}: ${issue.message}.`, 'bad_history');
  }
  return parsed.data;
}
