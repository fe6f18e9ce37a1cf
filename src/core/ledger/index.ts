export * from './types';
export { SqlJsLedger, defaultLedgerPath } from './sqljs-ledger';
export type { LedgerWarning, SqlJsLedgerOptions } from './sqljs-ledger';
export { windowBounds, startOfLocalDay, assertTimeZone } from './windows';
export type { WindowBounds } from './windows';
export { openLedger, ledgerUrl, LEDGER_URL_VARIABLE } from './open';
export type { OpenLedgerOptions } from './open';
