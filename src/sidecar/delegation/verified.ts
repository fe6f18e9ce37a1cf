/**
 * The `delegate` tool's verified path: with an output path and a check that may run, the answer is accepted
 * only once the project's check passes (src/core/verify/loop.ts); otherwise the caller writes as before and the
 * result says why verification was skipped.
 */
import type { WorkspaceFiles } from '../../core/files';
import type { ChatMessage } from '../../core/providers/types';
import type { RouteResult } from '../../core/router';
import { describeVerification, planCheck, runVerifiedDelegation, VerificationFailed, type RouteAsk, type Verification, type VerifiedOutcome } from '../../core/verify';
import type { SidecarContext } from '../context';

export { verificationAttemptShape, verificationShape } from '../protocol/delegate';

export interface VerifiedRequest {
  task: string;
  outputPath: string;
  messages: ChatMessage[];
  provider?: string;
  verify?: boolean;
  propose?: boolean;
}

export type VerifiedPlan =
  | { kind: 'verified'; outcome: VerifiedOutcome }
  | { kind: 'unverified'; verification: Verification };

/**
 * Runs the verified loop when a check may run; else says why not (the caller then writes the single answer).
 * Throws VerificationFailed (an isError result, exit 1 from the CLI) when every attempt failed.
 */
export async function delegateVerified(
  sidecar: SidecarContext,
  files: WorkspaceFiles,
  request: VerifiedRequest,
  deps: { route(ask: RouteAsk): Promise<RouteResult>; signal: AbortSignal; progress(message: string): Promise<void>; audit(record: Record<string, unknown>): Promise<void> },
): Promise<VerifiedPlan> {
  const checked = files.check(request.outputPath, 'write');
  const { config } = await sidecar.routerConfig();
  const plan = await planCheck({ workspace: sidecar.workspace, task: request.task, file: checked.rel, verify: config.verify, env: sidecar.env, disabled: request.verify === false });
  if (!plan.run) {
    return { kind: 'unverified', verification: { status: 'skipped', command: plan.template, origin: plan.origin, reason: plan.reason, attempts: [] } };
  }
  const outcome = await runVerifiedDelegation({
    workspace: files.workspace,
    files,
    actor: sidecar.actor,
    task: request.task,
    outputPath: request.outputPath,
    messages: request.messages,
    template: plan.template,
    origin: plan.origin,
    explicitProvider: request.provider && request.provider !== 'auto' ? request.provider : undefined,
    maxAttempts: config.verify.max_attempts,
    repairsPerProvider: config.verify.repairs_per_provider,
    timeoutMs: Math.round(config.verify.timeout_s * 1000),
    env: sidecar.env,
    keyVars: config.providers.flatMap((p) => p.apiKeyEnv),
    propose: request.propose,
    signal: deps.signal,
    route: deps.route,
    onProgress: deps.progress,
    audit: deps.audit,
  });
  if (outcome.verification.status === 'failed') {
    const target = sidecar.displayPath(request.outputPath);
    throw new VerificationFailed(`${target} ${request.propose ? 'has no proposal' : 'not written'}: ${describeVerification(outcome.verification, request.task)} (${outcome.verification.command}); ${target} is unchanged`, outcome);
  }
  return { kind: 'verified', outcome };
}
