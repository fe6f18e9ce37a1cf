/**
 * What dist/extension.js may contain: the extension reads quota from its sidecar over MCP, so neither the ledger
 * nor sql.js belongs in it (CoreCascadeSource.quota() used to pull both in).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, buildOnce } from '../sidecar/helpers';

describe('dist/extension.js', function () {
  this.timeout(120_000);
  before(() => buildOnce());

  it('holds no sql.js and no ledger', () => {
    const bundle = fs.readFileSync(path.join(REPO, 'dist', 'extension.js'), 'utf8');
    for (const marker of ['initSqlJs', 'sql-wasm', 'SqlJsLedger']) assert.ok(!bundle.includes(marker), `${marker} is not in the extension bundle`);
  });
});
