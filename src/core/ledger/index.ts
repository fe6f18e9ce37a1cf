export * from './types';
export { SqlJsLedger, defaultLedgerPath } from './sqljs-ledger';
export type { LedgerWarning, SqlJsLedgerOptions } from './sqljs-ledger';
export { windowBounds, startOfLocalDay, assertTimeZone } from './windows';
export type { WindowBounds } from './windows';
