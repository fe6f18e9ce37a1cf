export { DelegationLog, delegationLog, type DelegationRow } from './delegation-log';
export { buildReport, parseSince, round6, DEFAULT_PAGE, MAX_PAGE, type ReportOptions, type SpendTotals, type UsageReport } from './report';
