import type { Ledger } from '../../../src/core/ledger/types';
import { SqlJsLedger } from '../../../src/core/ledger/sqljs-ledger';
import { PgLedger } from '../../../src/core/ledger/pg/pg-ledger';
import { pgDescribe, usePostgres } from '../../support/postgres';
import { ManualClock, tempHome } from './helpers';

/** Options both ledgers take with the same meaning. */
export interface CommonLedgerOptions {
  thresholds?: number[];
  circuitFailures?: number;
  circuitOpenMs?: number;
  reservationTtlMs?: number;
}

export interface BackendHandle {
  /** A ledger on this test's store (a fresh file or database per test); closed after the test. */
  open(clock: ManualClock, options?: CommonLedgerOptions): Promise<Ledger>;
}

export interface LedgerBackend {
  name: string;
  describe(title: string, fn: () => void): void;
  /** Call inside describe: registers the hooks that give each test a fresh, empty store. */
  use(): BackendHandle;
}

const sqljs: LedgerBackend = {
  name: 'sql.js',
  describe: (title, fn) => describe(title, fn),
  use() {
    let home: ReturnType<typeof tempHome>;
    const open: Ledger[] = [];
    beforeEach(() => {
      home = tempHome();
    });
    afterEach(async () => {
      for (const l of open.splice(0)) await l.close();
      home.cleanup();
    });
    return {
      async open(clock, options = {}) {
        const ledger = await SqlJsLedger.open({ file: home.file, clock: clock.now, ...options });
        open.push(ledger);
        return ledger;
      },
    };
  },
};

const postgres: LedgerBackend = {
  name: 'PostgreSQL',
  describe: (title, fn) => pgDescribe(title, function () {
    this.timeout(60_000);
    fn();
  }),
  use() {
    const pg = usePostgres();
    let url: string;
    const open: Ledger[] = [];
    beforeEach(async () => {
      url = await pg.server().createDatabase();
    });
    afterEach(async () => {
      for (const l of open.splice(0)) await l.close();
    });
    return {
      async open(clock, options = {}) {
        const ledger = await PgLedger.open({ url, clock: clock.now, sweepEveryMs: 0, ...options });
        open.push(ledger);
        return ledger;
      },
    };
  },
};

/** The ledger behaviour suites run once per backend. */
export const LEDGER_BACKENDS: LedgerBackend[] = [sqljs, postgres];
