/**
 * One delegation as the report shows it, read from an audit line (untrusted: every field type-checked and
 * bounded) or from the report index (checked again the same way: a bug or an old format must not crash).
 */
export type VerifiedOutcome = 'passed' | 'failed' | 'not_run';

export interface DelegationRow {
  /** Position among the log's delegations, oldest 0: stable while the log only grows (cursors use it). */
  seq: number;
  time: string;
  task: string;
  provider?: string;
  model?: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** What the premium baseline would have cost; records written before it was logged count it as the cost. */
  baselineUsd: number;
  outcome: 'ok' | 'denied' | 'error';
  /** The project's check on this answer: passed, failed, or not run (no check, or verify: false). */
  verified?: VerifiedOutcome;
  /** The check's one-line summary, or why it did not run. */
  check?: string;
  path?: string;
  backupId?: string;
  callId?: string;
  message?: string;
}

const MAX_TEXT = 512;
const MAX_CHECK = 160;
const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const VERIFIED = new Set<unknown>(['passed', 'failed', 'not_run']);

type Fields = Record<string, unknown>;

function asObject(value: unknown): Fields | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Fields) : undefined;
}

/** An audit line's record, or undefined when it is not a well-formed delegation. */
export function rowFromAudit(value: unknown, seq: number): DelegationRow | undefined {
  const r = asObject(value);
  if (!r || r.op !== 'delegate') return undefined;
  const time = isoTime(r.time);
  if (!time) return undefined;
  const costUsd = amount(r.cost_usd);
  const baseline = amount(r.baseline_usd, -1);
  // The verified loop logs each attempt's check: `verified` since it was added, `verification.passed` before.
  const check = asObject(r.verification);
  const verified = VERIFIED.has(r.verified) ? (r.verified as VerifiedOutcome) : typeof check?.passed === 'boolean' ? (check.passed ? 'passed' : 'failed') : undefined;
  return withOptional(
    { seq, time, task: text(r.task) ?? '', inputTokens: Math.round(amount(r.input_tokens)), outputTokens: Math.round(amount(r.output_tokens)), costUsd, baselineUsd: baseline < 0 ? costUsd : baseline, outcome: outcomeOf(r.outcome) },
    { provider: r.provider, model: r.model, verified, check: check ? (text(check.summary) ?? text(check.reason))?.slice(0, MAX_CHECK) : undefined, path: r.path, backupId: r.backup_id, callId: r.call_id, message: r.message },
  );
}

/** A row as the index stores it (DelegationRow's own field names), re-checked; undefined when malformed. */
export function rowFromIndex(value: unknown): DelegationRow | undefined {
  const r = asObject(value);
  if (!r || !Number.isSafeInteger(r.seq) || (r.seq as number) < 0) return undefined;
  const time = isoTime(r.time);
  if (!time || time !== r.time || typeof r.task !== 'string' || r.task.length > MAX_TEXT) return undefined;
  const numbers = [r.inputTokens, r.outputTokens, r.costUsd, r.baselineUsd];
  if (!numbers.every((n) => amount(n, -1) >= 0) || (r.outcome !== 'ok' && r.outcome !== 'denied' && r.outcome !== 'error')) return undefined;
  if (r.verified !== undefined && !VERIFIED.has(r.verified)) return undefined;
  const row = withOptional(
    { seq: r.seq as number, time, task: r.task, inputTokens: r.inputTokens as number, outputTokens: r.outputTokens as number, costUsd: r.costUsd as number, baselineUsd: r.baselineUsd as number, outcome: r.outcome },
    { provider: r.provider, model: r.model, verified: r.verified, check: r.check, path: r.path, backupId: r.backupId, callId: r.callId, message: r.message },
  );
  // Anything the audit reader would not have produced (an over-long or empty field) means the index is not ours.
  const optional = ['provider', 'model', 'check', 'path', 'backupId', 'callId', 'message'] as const;
  return optional.every((k) => r[k] === undefined || row[k] === r[k]) && (r.check === undefined || (r.check as string).length <= MAX_CHECK) ? row : undefined;
}

type OptionalText = Omit<DelegationRow, 'seq' | 'time' | 'task' | 'inputTokens' | 'outputTokens' | 'costUsd' | 'baselineUsd' | 'outcome'>;

/** Optional fields only when present, so rows stay small and `undefined` never reaches JSON. */
function withOptional(row: DelegationRow, extra: Record<keyof OptionalText, unknown>): DelegationRow {
  for (const [key, value] of Object.entries(extra) as Array<[keyof OptionalText, unknown]>) {
    if (key === 'verified') {
      if (VERIFIED.has(value)) row.verified = value as VerifiedOutcome;
      continue;
    }
    const t = text(value);
    if (t !== undefined) row[key] = t;
  }
  return row;
}

function outcomeOf(v: unknown): DelegationRow['outcome'] {
  return v === 'denied' || v === 'error' ? v : 'ok';
}

/** appendAudit writes toISOString() times; anything else parseable is normalised, the rest rejected. */
function isoTime(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length > 40) return undefined;
  if (CANONICAL_TIME.test(v)) return v;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v.slice(0, MAX_TEXT) : undefined;
}

/** A finite, non-negative number below a sane ceiling, else `fallback`. */
function amount(v: unknown, fallback = 0): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1e12 ? v : fallback;
}
