import { UserError } from '../errors';
import type { LedgerWarning } from './sqljs-options';
import type { Clock, Ledger } from './types';

/**
 * The one place that decides which ledger a process uses: PostgreSQL when SWITCHBOARD_LEDGER_URL names one
 * (a team sharing provider accounts: every sidecar, CLI and team-server replica on one database), else the
 * sql.js file at $SWITCHBOARD_HOME/ledger.sqlite shared by the processes of this machine. Each backend is
 * loaded only when chosen, so the default never pays for pg at start-up.
 */

export interface OpenLedgerOptions {
  clock?: Clock;
  /** Usage fractions that raise a threshold event (router.yaml alerts). */
  thresholds?: number[];
  /** Told when the sql.js file was unreadable and set aside; core code never prints. */
  onWarning?: (warning: LedgerWarning) => void;
}

export const LEDGER_URL_VARIABLE = 'SWITCHBOARD_LEDGER_URL';

export function ledgerUrl(env: NodeJS.ProcessEnv): string | undefined {
  const url = env[LEDGER_URL_VARIABLE]?.trim();
  if (!url) return undefined;
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    // Never echo the value: it may hold a password.
    throw new UserError(`${LEDGER_URL_VARIABLE} must be a postgres:// or postgresql:// URL (it is set to something else).`, 'bad_ledger_url');
  }
  return url;
}

export async function openLedger(env: NodeJS.ProcessEnv = process.env, options: OpenLedgerOptions = {}): Promise<Ledger> {
  const url = ledgerUrl(env);
  if (url) {
    const { PgLedger } = await import('./pg/pg-ledger');
    return PgLedger.open({ url, clock: options.clock, thresholds: options.thresholds });
  }
  const { SqlJsLedger, defaultLedgerPath } = await import('./sqljs-ledger');
  return SqlJsLedger.open({ file: defaultLedgerPath(env), clock: options.clock, thresholds: options.thresholds, onWarning: options.onWarning });
}
