import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../core/errors';
import { LEDGER_URL_VARIABLE, ledgerUrl, openLedger } from '../../core/ledger/open';
import { describeLedgerUrl } from '../../core/ledger/pg/connection';
import { defaultLedgerPath } from '../../core/ledger/sqljs-ledger';
import { isLedgerTransfer, parseHistory, type LedgerHistory } from '../../core/ledger/transfer';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';

/**
 * `switchboard ledger export [--out FILE] [--local]` and `switchboard ledger import FILE [--local]`: move the
 * ledger's history (calls, usage counters, monthly spend) between a machine's sql.js file and the team's
 * PostgreSQL (SWITCHBOARD_LEDGER_URL). Without --local the command works on the ledger this environment uses;
 * --local picks the sql.js file even when SWITCHBOARD_LEDGER_URL is set. Importing is idempotent.
 */

const USAGE = 'usage: switchboard ledger export [--out FILE] [--local] | switchboard ledger import FILE [--local]';
/** An export of a real ledger is megabytes; refuse to read gigabytes into memory. */
const MAX_IMPORT_BYTES = 512 * 1024 * 1024;

export const ledgerCommand: Command = {
  name: 'ledger',
  summary: 'Move quota and spend history between this machine\'s ledger and PostgreSQL: ledger export [--out FILE] | ledger import FILE [--local]',
  async run(argv) {
    const { common, values, positionals } = parseCommandArgs(argv, { out: { type: 'string' }, local: { type: 'boolean' } });
    const [action, file, ...extra] = positionals;
    if (extra.length || (action !== 'export' && action !== 'import')) throw new UserError(USAGE, 'usage');
    const env: NodeJS.ProcessEnv = values.local === true ? { ...process.env, [LEDGER_URL_VARIABLE]: '' } : process.env;
    const url = ledgerUrl(env);
    const where = url ? describeLedgerUrl(url) : defaultLedgerPath(env);
    if (action === 'import' && !file) throw new UserError(`${USAGE}\n(import needs the file written by ledger export)`, 'usage');
    if (action === 'export' && file) throw new UserError(`${USAGE}\n(export writes to --out FILE or standard output)`, 'usage');
    // Read and check the file before touching any ledger: a bad file changes nothing.
    const history = action === 'import' ? readHistory(file!) : undefined;
    const ledger = await openLedger(env);
    try {
      if (!isLedgerTransfer(ledger)) throw new Error('this ledger cannot export or import history');
      if (history) {
        const summary = await ledger.importHistory(history);
        if (common.json) printJson({ ...summary, into: where });
        else if (summary.ownHistory) process.stdout.write(`Nothing imported: ${file} is an export of ${where} itself.\n`);
        else process.stdout.write(`Imported into ${where}: ${summary.calls} new call(s), ${summary.counters} usage counter(s) and ${summary.months} month(s) of spend grew (already imported parts count once).\n`);
        return 0;
      }
      const exported = await ledger.exportHistory();
      const out = typeof values.out === 'string' ? path.resolve(values.out) : undefined;
      if (out) {
        writeFileAtomic(out, JSON.stringify(exported) + '\n');
        const line = `Exported ${exported.calls.length} call(s), ${exported.usage.length} usage counter(s) and ${exported.spend.length} month(s) of spend from ${where} to ${out}.`;
        if (common.json) printJson({ out, from: where, calls: exported.calls.length, counters: exported.usage.length, months: exported.spend.length });
        else process.stdout.write(line + '\n');
      } else {
        process.stdout.write(JSON.stringify(exported) + '\n');
      }
      return 0;
    } finally {
      await ledger.close();
    }
  },
};

function readHistory(file: string): LedgerHistory {
  const full = path.resolve(file);
  let size: number;
  try {
    size = fs.statSync(full).size;
  } catch (err) {
    throw new UserError(`Cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, 'not_found');
  }
  if (size > MAX_IMPORT_BYTES) throw new UserError(`${file} is ${size} bytes, more than a ledger export can be (${MAX_IMPORT_BYTES}).`, 'bad_history');
  return parseHistory(fs.readFileSync(full, 'utf8'), file);
}

/** The export names who made which calls: readable by its owner only, and never half-written. */
function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new UserError(`Cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, 'write_failed');
  }
}
