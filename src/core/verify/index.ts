/** Verified delegation: check commands, detection, the sandboxed runner and the generate → check → repair loop. */
export { buildInvocation, needsShell, quoteCmd, quotePosix, safeFileArgument, splitTemplate, type CheckInvocation } from './command';
export { detectCheck, type DetectedCheck } from './detect';
export { checkEnvironment, runCheck, signalGroup, DEFAULT_CHECK_LIMITS, type CheckLimits, type CheckRun } from './run-check';
export { failureExcerpt, summarizeCheck } from './summary';
export { planCheck, type CheckPlan } from './resolve';
export { describeVerification, runVerifiedDelegation, VerificationFailed, type RouteAsk, type Verification, type VerificationAttempt, type VerifiedOutcome } from './loop';
