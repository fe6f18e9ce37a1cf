// Two bundles, as vscode-eslint does: the extension (only `vscode` external) and the sidecar, runnable with plain
// `node dist/sidecar.js` (sql.js's wasm copied beside it). The sidecar is ES modules split into chunks under
// dist/sidecar/, so a process loads only what it runs: `serve` answers tools/list without ever parsing the
// provider SDKs, sql.js or the CLI-only commands, which load on the first call that needs them (import()).
// dist/sidecar.js itself is a few lines of CommonJS that turn on Node's compile cache (where the running Node
// has one) and import the entry chunk.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, chmodSync, rmSync, writeFileSync } from 'node:fs';
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

const sidecarChunks = path.join(dist, 'sidecar');
// Chunk names carry content hashes: clear out the previous build's.
rmSync(sidecarChunks, { recursive: true, force: true });

// In the chunks: `require` for the CommonJS dependencies esbuild wraps, and __dirname/__filename as the single-file
// bundle had them (dist/, where sql-wasm.wasm sits and from where media/ is found).
const esmBanner = [
  "import { createRequire as __sbCreateRequire } from 'node:module';",
  "import { fileURLToPath as __sbFileURLToPath } from 'node:url';",
  "import { dirname as __sbDirname, join as __sbJoin } from 'node:path';",
  'const require = __sbCreateRequire(import.meta.url);',
  'const __dirname = __sbDirname(__sbDirname(__sbFileURLToPath(import.meta.url)));',
  "const __filename = __sbJoin(__dirname, 'sidecar.js');",
].join('\n');

const launcher = `#!/usr/bin/env node
'use strict';
// Switchboard sidecar. The code is in ./sidecar/ (ES module chunks, loaded as needed).
// Node 22.1+ keeps compiled code in a cache on disk (module.enableCompileCache); older Node has none.
try {
  const { enableCompileCache } = require('node:module');
  if (typeof enableCompileCache === 'function' && !process.env.NODE_DISABLE_COMPILE_CACHE) enableCompileCache();
} catch {
  // no cache: only slower
}
import('./sidecar/main.mjs').catch((err) => {
  process.stderr.write('switchboard: cannot load ' + __dirname + '/sidecar/main.mjs: ' + (err && err.message) + '\\n');
  process.exitCode = 2;
});
`;

// The SDK's Server builds an ajv validator at construction, for elicitation answers only (never used here).
const serverValidatorShim = {
  name: 'mcp-server-validator-shim',
  setup(build) {
    build.onResolve({ filter: /validation[\\/]ajv-provider\.js$/ }, (args) =>
      /@modelcontextprotocol[\\/]sdk[\\/].*[\\/]server[\\/]index\.js$/.test(args.importer)
        ? { path: path.join(root, 'scripts', 'shims', 'mcp-server-validator.mjs') }
        : undefined,
    );
  },
};

// zod's namespace re-exports every locale (~260 KB minified, parsed at each start); the sidecar speaks English
// only (zod's default, imported by zod itself from locales/en.js), so `z.locales` keeps just `en`.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /[\\/]locales[\\/]index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/]/.test(args.importer) ? { path: path.join(path.dirname(args.importer), args.path), namespace: 'zod-english-only' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({
      contents: "export { default as en } from './en.js';",
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
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
    format: 'esm',
    splitting: true,
    define: {},
    entryPoints: { main: path.join(root, 'src/sidecar/main.ts') },
    outdir: sidecarChunks,
    outExtension: { '.js': '.mjs' },
    chunkNames: '[name]-[hash]',
    banner: { js: esmBanner },
    plugins: [serverValidatorShim, zodEnglishOnly],
    metafile: !!process.env.SWITCHBOARD_BUILD_META,
  }).then((result) => {
    if (result.metafile) writeFileSync(path.join(dist, 'sidecar-meta.json'), JSON.stringify(result.metafile));
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
writeFileSync(path.join(dist, 'sidecar.js'), launcher);
rmSync(path.join(dist, 'sidecar.js.map'), { force: true });

copyFileSync(require.resolve('sql.js/dist/sql-wasm.wasm'), path.join(dist, 'sql-wasm.wasm'));
chmodSync(path.join(dist, 'sidecar.js'), 0o755);
