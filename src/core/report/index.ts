export { DelegationLog, delegationLog, type DelegationLogOptions } from './delegation-log';
export type { DelegationRow, VerifiedOutcome } from './delegation-row';
export { buildReport, reportFrom, parseSince, round6, DEFAULT_PAGE, MAX_PAGE, type ReportOptions, type ReportSource, type SpendTotals, type UsageReport } from './report';
export { INDEX_FILE, KEY_FILE } from './report-index';
