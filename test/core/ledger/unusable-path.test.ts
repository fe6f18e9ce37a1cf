/** The ledger file replaced by a folder (or unreachable) is one plain line, not a stack or an EISDIR. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isUserError } from '../../../src/core/errors';
import { SqlJsLedger } from '../../../src/core/ledger';

describe('ledger: an unusable ledger path', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-ledger-path-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a folder where the ledger file should be gives a clear one-line error', async () => {
    const file = path.join(dir, 'ledger.sqlite');
    fs.mkdirSync(file);
    const err = await SqlJsLedger.open({ file }).then(() => undefined, (e: unknown) => e);
    assert.ok(isUserError(err), String(err));
    assert.equal(err.message, `cannot open the usage ledger: ${file} is a folder, not a file; move it away and try again`);
    assert.ok(!err.message.includes('\n'));
  });

  it('a file where its folder should be is named too', async () => {
    fs.writeFileSync(path.join(dir, 'home'), 'not a folder');
    const err = await SqlJsLedger.open({ file: path.join(dir, 'home', 'ledger.sqlite') }).then(() => undefined, (e: unknown) => e);
    assert.ok(isUserError(err), String(err));
    assert.match(err.message, /^cannot open the usage ledger: \S*home (is a file where a folder is needed|has a file where a folder should be)/);
  });
});
