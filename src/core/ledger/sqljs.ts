import fs from 'node:fs';
import path from 'node:path';
import initSqlJs from 'sql.js';
import type { SqlJsStatic } from 'sql.js';

/**
 * sql.js, initialised once per process. Its wasm sits beside the bundle (`dist/sql-wasm.wasm`, copied by the
 * build) or, when running from source, in node_modules.
 */

let loading: Promise<SqlJsStatic> | undefined;

export function locateSqlWasm(): string {
  const candidates = [path.join(__dirname, 'sql-wasm.wasm')];
  try {
    candidates.push(require.resolve('sql.js/dist/sql-wasm.wasm'));
  } catch {
    // not resolvable from the bundle: the file beside it is the one that counts
  }
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`sql.js wasm not found (looked in ${candidates.join(', ')}); rebuild with npm run build`);
  return found;
}

export function loadSqlJs(): Promise<SqlJsStatic> {
  loading ??= (async () => {
    const wasmBinary = fs.readFileSync(locateSqlWasm());
    const buf = wasmBinary.buffer.slice(wasmBinary.byteOffset, wasmBinary.byteOffset + wasmBinary.byteLength) as ArrayBuffer;
    return initSqlJs({ wasmBinary: buf });
  })();
  // A failed load (missing wasm) may be fixed by a rebuild: do not cache the rejection.
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}
