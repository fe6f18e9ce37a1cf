// Two bundles, as vscode-eslint does: the extension (only `vscode` external) and the sidecar
// (one self-contained file runnable with plain `node`, sql.js's wasm copied beside it).
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const production = process.argv.includes('--production');
const dist = path.join(root, 'dist');
mkdirSync(dist, { recursive: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: production ? false : 'linked',
  minify: production,
  legalComments: 'none',
  logLevel: 'warning',
  // import.meta.url is used by some ESM dependencies; give them the bundle's own URL.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('url').pathToFileURL(__filename).href;" },
};

await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: [path.join(root, 'src/extension/extension.ts')],
    outfile: path.join(dist, 'extension.js'),
    external: ['vscode'],
  }),
  esbuild.build({
    ...common,
    entryPoints: [path.join(root, 'src/sidecar/main.ts')],
    outfile: path.join(dist, 'sidecar.js'),
    banner: { js: '#!/usr/bin/env node\n' + common.banner.js },
  }),
  // The dashboard webview's page (webview-ui/): a browser bundle, its CSS emitted beside it as dashboard.css.
  esbuild.build({
    entryPoints: [path.join(root, 'webview-ui/src/main.ts')],
    outfile: path.join(dist, 'dashboard.js'),
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'chrome120',
    minify: true,
    sourcemap: production ? false : 'linked',
    legalComments: 'none',
    logLevel: 'warning',
  }),
]);

copyFileSync(require.resolve('sql.js/dist/sql-wasm.wasm'), path.join(dist, 'sql-wasm.wasm'));
chmodSync(path.join(dist, 'sidecar.js'), 0o755);
