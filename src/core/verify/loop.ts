/**
 * Verified delegation: generate → write the candidate (file policy, backed up) → run the check → on failure send
 * the same model its answer and the check's output (a repair) → then the next provider, cheapest first → accept
 * the first passing answer. The target never keeps a failing candidate when this returns: with every attempt
 * failed (or the call cancelled) it holds exactly what it held before. Every generation goes through the router,
 * so each one is in the ledger and counts against quotas and the budget.
 */
import path from 'node:path';
import { UserError } from '../errors';
import type { Actor, WorkspaceFiles, WriteResult } from '../files';
import { stripFence } from '../generated-text';
import { redact } from '../redact';
import type { ChatMessage } from '../providers/types';
// Type-only: the router module pulls in every provider SDK, which the serve path must not load up front.
import type { RouteResult } from '../router/router';
import { buildInvocation } from './command';
import { checkEnvironment, runCheck, type CheckLimits } from './run-check';
import { failureExcerpt, summarizeCheck } from './summary';

export interface VerificationAttempt {
  provider: string;
  model: string;
  passed: boolean;
  summary: string;
  /** A repair: the same model, given its answer and the check's output. */
  repair: boolean;
  cost_usd: number;
  input_tokens: number;
  output_tokens: number;
}

export interface Verification {
  status: 'passed' | 'failed' | 'skipped';
  /** The command as run (placeholders filled in), or the template that would have run. */
  command?: string;
  /** Where the command came from (router.yaml layer, or what detection found). */
  origin?: string;
  reason?: string;
  attempts: VerificationAttempt[];
}

export interface RouteAsk {
  messages: ChatMessage[];
  exclude: string[];
  /** A repair names the provider and model that answered. */
  provider?: string;
  onlyModel?: string;
}

export interface VerifiedLoopOptions {
  workspace: string;
  files: WorkspaceFiles;
  actor: Actor;
  task: string;
  /** As the caller gave it; written through the file policy. */
  outputPath: string;
  messages: ChatMessage[];
  template: string;
  origin: string;
  /** Provider named by the caller: repairs only, no escalation beyond it. */
  explicitProvider?: string;
  maxAttempts: number;
  repairsPerProvider: number;
  timeoutMs: number;
  /** The environment the check's is built from (keys removed), and key variables to remove besides the standard ones. */
  env: NodeJS.ProcessEnv;
  keyVars?: readonly string[];
  /** Verify at the target, then put the target back as it was even when the answer passes (editor proposals). */
  propose?: boolean;
  signal?: AbortSignal;
  checkLimits?: Partial<CheckLimits>;
  route(ask: RouteAsk): Promise<RouteResult>;
  onProgress?(message: string): void | Promise<void>;
  audit?(record: Record<string, unknown>): Promise<void>;
}

export interface VerifiedOutcome {
  verification: Verification;
  /** The accepted generation (the last one when none passed). */
  result?: RouteResult;
  /** The accepted text, fence stripped. */
  text?: string;
  /** Backup of the target as it was before the first candidate: restoring it undoes the whole delegation. */
  backupId?: string;
  written?: WriteResult;
  /** The target did not exist before the delegation. */
  created?: boolean;
  /** Every generation's cost, failed ones included. */
  totalCostUsd: number;
  /** Why providers were passed over, from every route of the loop ("provider/model: reason"). */
  skipped: string[];
  /** Set when every attempt failed: the last check's summary, for the error. */
  failure?: string;
}

export async function runVerifiedDelegation(o: VerifiedLoopOptions): Promise<VerifiedOutcome> {
  const attempts: VerificationAttempt[] = [];
  const excluded: string[] = [];
  let firstBackup: string | undefined;
  let created: boolean | undefined;
  let lastWrite: WriteResult | undefined;
  let lastResult: RouteResult | undefined;
  let lastSummary = 'no answer could be generated';
  let totalCostUsd = 0;
  const skipped = new Set<string>();
  let displayCommand = o.template;
  const checkEnv = checkEnvironment(o.env, o.keyVars);

  const restoreOriginal = async (): Promise<void> => {
    if (!firstBackup) return;
    // Forced: a check may have touched the candidate (a formatter); whatever is there now is backed up first.
    await o.files.restore(firstBackup, { actor: o.actor, force: true });
  };

  /** Writes, checks and records one candidate; true when it passed. */
  const tryCandidate = async (result: RouteResult, repair: boolean): Promise<{ passed: boolean; excerpt?: string }> => {
    totalCostUsd += result.costUsd;
    lastResult = result;
    for (const s of result.skipped) skipped.add(`${s.provider}${s.model ? `/${s.model}` : ''}: ${s.reason}`);
    const base = { provider: result.provider, model: result.model, repair, cost_usd: result.costUsd, input_tokens: result.inputTokens, output_tokens: result.outputTokens };
    if (!result.complete) {
      lastSummary = `the answer was cut short (${result.finishReason}) and was not written`;
      attempts.push({ ...base, passed: false, summary: lastSummary });
      return { passed: false };
    }
    const written = await o.files.write(o.outputPath, stripFence(result.text), {
      actor: o.actor, reason: `delegate ${o.task} (verifying, attempt ${attempts.length + 1})`, provider: result.provider, model: result.model, costUsd: result.costUsd,
    });
    if (firstBackup === undefined) {
      firstBackup = written.backupId;
      created = written.created;
    }
    lastWrite = written;
    const rel = written.path.split('/').join(path.sep);
    const invocation = buildInvocation(o.template, { file: rel, dir: path.dirname(rel) });
    displayCommand = invocation.display;
    await o.onProgress?.(`checking ${result.provider}'s answer (attempt ${attempts.length + 1}): ${invocation.display}`);
    const run = await runCheck(invocation, { cwd: o.workspace, env: checkEnv, limits: { ...o.checkLimits, timeoutMs: o.timeoutMs }, signal: o.signal });
    const summary = summarizeCheck(run, o.timeoutMs);
    lastSummary = summary;
    attempts.push({ ...base, passed: run.passed, summary });
    await o.audit?.({ op: 'delegate', task: o.task, path: written.path, provider: result.provider, model: result.model, cost_usd: result.costUsd, verified: run.passed ? 'passed' : 'failed', verification: { attempt: attempts.length, repair, passed: run.passed, command: invocation.display, summary, exit_code: run.exitCode, timed_out: run.timedOut }, outcome: run.passed ? 'ok' : 'error' });
    await o.onProgress?.(`attempt ${attempts.length} (${result.provider}${repair ? ', repair' : ''}): ${run.passed ? 'check passed' : `check failed: ${summary}`}`);
    // The excerpt goes to a provider: whatever key-like text a check printed is masked first.
    return { passed: run.passed, excerpt: run.passed ? undefined : redact(failureExcerpt(run, summary), o.env) };
  };

  const outcome = (status: Verification['status'], extra: Partial<VerifiedOutcome> = {}): VerifiedOutcome => ({
    verification: { status, command: displayCommand, origin: o.origin, attempts, ...(status === 'failed' ? { reason: lastSummary } : {}) },
    result: lastResult,
    totalCostUsd,
    skipped: [...skipped],
    backupId: firstBackup,
    ...extra,
  });

  try {
    while (attempts.length < o.maxAttempts) {
      let result: RouteResult;
      try {
        result = await o.route({ messages: o.messages, exclude: [...excluded], provider: o.explicitProvider });
      } catch (err) {
        // Nobody left to ask (or the provider refused): stop with what the checks said so far.
        if (err instanceof UserError && err.code === 'no_provider' && attempts.length > 0) break;
        throw err;
      }
      let check = await tryCandidate(result, false);
      if (check.passed) return await accept();
      let conversation = o.messages;
      for (let repairs = 0; repairs < o.repairsPerProvider && attempts.length < o.maxAttempts && check.excerpt !== undefined; repairs++) {
        const answer = stripFence(lastResult!.text);
        conversation = [...conversation, { role: 'assistant', content: answer }, { role: 'user', content: repairRequest(o.outputPath, displayCommand, check.excerpt) }];
        let repaired: RouteResult;
        try {
          repaired = await o.route({ messages: conversation, exclude: [], provider: result.provider, onlyModel: result.model });
        } catch (err) {
          if (err instanceof UserError && err.code === 'cancelled') throw err;
          break; // that provider cannot take more now: the next one may
        }
        check = await tryCandidate(repaired, true);
        if (check.passed) return await accept();
      }
      if (o.explicitProvider) break;
      excluded.push(result.provider);
    }
    await restoreOriginal();
    return outcome('failed', { failure: lastSummary, backupId: undefined });
  } catch (err) {
    // Cancelled or broken midway: the target goes back to what it held, then the error stands.
    await restoreOriginal().catch(() => {});
    throw err;
  }

  async function accept(): Promise<VerifiedOutcome> {
    const text = stripFence(lastResult!.text);
    if (o.propose) {
      await restoreOriginal();
      return outcome('passed', { text, backupId: undefined });
    }
    return outcome('passed', { text, written: lastWrite, created });
  }
}

function repairRequest(file: string, command: string, excerpt: string): string {
  return [
    `Your file ${file} was written to the project and its check failed.`,
    `Command: ${command}`,
    'Output (trimmed to the failures):',
    '```',
    excerpt,
    '```',
    `Fix the file so the check passes. Reply with the complete corrected content of ${file} only: no commentary, no code fences.`,
  ].join('\n');
}

/** "tests pass (3 attempts, gemini → together)" / "check failed after 3 attempts, …: exit 1 …" / "not verified: …". */
export function describeVerification(v: Verification, task = 'tests'): string {
  if (v.status === 'skipped') return `not verified: ${v.reason ?? 'no check'}`;
  const providers: string[] = [];
  for (const a of v.attempts) if (providers[providers.length - 1] !== a.provider) providers.push(a.provider);
  const n = v.attempts.length;
  const chain = `${n} attempt${n === 1 ? '' : 's'}, ${providers.join(' → ')}`;
  if (v.status === 'passed') return `${task === 'tests' ? 'tests pass' : 'check passes'} (${chain})`;
  return `${task === 'tests' ? 'tests' : 'check'} failed after ${chain}: ${v.reason ?? 'failed'}`;
}

export class VerificationFailed extends UserError {
  constructor(message: string, readonly outcome: VerifiedOutcome) {
    super(message, 'verification_failed');
    this.name = 'VerificationFailed';
  }
}
