import { defaultLedgerPath, SqlJsLedger, type LedgerWarning } from '../ledger';
import type { Diagnostic } from '../diagnostics';
import type { Clock } from '../ledger/types';
import { loadRouterConfig, type RouterConfig } from './config';
import { Router } from './router';

export interface OpenedRouter {
  router: Router;
  ledger: SqlJsLedger;
  config: RouterConfig;
  /** Problems in router.yaml files (each broken file was skipped; the layer below is in force). */
  diagnostics: Diagnostic[];
  /** router.yaml files applied, lowest layer first. */
  sources: string[];
}

/**
 * The production wiring the CLI and the MCP `delegate` tool share: router.yaml layers, the shared ledger at
 * $SWITCHBOARD_HOME/ledger.sqlite (alerts from router.yaml as its thresholds), providers through their SDKs.
 * Close `ledger` when done.
 */
export async function openRouter(options: { workspace?: string; env?: NodeJS.ProcessEnv; clock?: Clock; onLedgerWarning?: (w: LedgerWarning) => void } = {}): Promise<OpenedRouter> {
  const env = options.env ?? process.env;
  const { config, diagnostics, sources } = loadRouterConfig({ workspace: options.workspace, env });
  const ledger = await SqlJsLedger.open({ file: defaultLedgerPath(env), clock: options.clock, thresholds: config.alerts, onWarning: options.onLedgerWarning });
  const router = new Router({ config, ledger, env, clock: options.clock });
  return { router, ledger, config, diagnostics, sources };
}

