import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CallRecord } from '../../../src/core/ledger/types';
import { SqlJsLedger, type LedgerWarning, type SqlJsLedgerOptions } from '../../../src/core/ledger/sqljs-ledger';

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public nowMs: number) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

export function tempHome(): { dir: string; file: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-ledger-'));
  return { dir, file: path.join(dir, 'ledger.sqlite'), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export async function openAt(file: string, clock: ManualClock, options: Partial<SqlJsLedgerOptions> = {}): Promise<{ ledger: SqlJsLedger; warnings: LedgerWarning[] }> {
  const warnings: LedgerWarning[] = [];
  const ledger = await SqlJsLedger.open({ file, clock: clock.now, onWarning: (w) => warnings.push(w), ...options });
  return { ledger, warnings };
}

export function call(providerId: string, extra: Partial<CallRecord> = {}): CallRecord {
  return {
    providerId, model: 'm', tier: 'free', ok: true, amounts: { requests: 1, tokens: 100 }, inputTokens: 60, outputTokens: 40,
    costUsd: 0, baselineUsd: 0.001, ...extra,
  };
}
