// Two bundles, as vscode-eslint does: the extension (only `vscode` external) and the sidecar, runnable with plain
// `node dist/sidecar.js` (sql.js's wasm copied beside it). The sidecar is one CommonJS bundle,
// dist/sidecar/bundle.js, written as a single function expression that dist/sidecar.js (the launcher, built from
// src/sidecar/launch/) compiles through V8's code cache: a start after the first skips compiling what the last one
// ran. Modules reached only through import() (provider SDKs, sql.js, CLI-only commands) stay in the bundle but are
// evaluated only on the call that needs them, so `serve` answers tools/list without running them.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
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
  charset: 'ascii',
  logLevel: 'warning',
  // import.meta.url is used by some ESM dependencies; give them the bundle's own URL.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('url').pathToFileURL(__filename).href;" },
};

const sidecarDir = path.join(dist, 'sidecar');
// Clear out what older builds left there (ES module chunks with content-hashed names).
rmSync(sidecarDir, { recursive: true, force: true });
const bundlePath = path.join(sidecarDir, 'bundle.js');

// The bundle is the body of a function the launcher calls with (exports, require, module, __filename, __dirname),
// as Node's own module wrapper would; __filename is dist/sidecar.js, so __dirname is dist/ (sql-wasm.wasm, media/).
const bundleWrapper = {
  banner: "(function (exports, require, module, __filename, __dirname) {'use strict';const importMetaUrl = require('url').pathToFileURL(__filename).href;",
  footer: '\n})',
};

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

// tools/list is the same for every start of a build: computed here, from the very tool definitions the bundle
// holds, and compiled into it, so a start converts no zod schema to JSON Schema (see src/sidecar/server.ts).
async function toolListing() {
  const result = await esbuild.build({
    ...common,
    sourcemap: false,
    minify: false,
    write: false,
    stdin: {
      // Loaded as main.ts loads them (import()), so the modules initialise in the same order.
      contents: "void (async () => { const { compactToolList } = await import('./src/sidecar/server'); const { ALL_TOOLS } = await import('./src/sidecar/tools'); process.stdout.write(JSON.stringify(compactToolList(ALL_TOOLS))); })();",
      resolveDir: root,
      sourcefile: 'tool-listing.ts',
      loader: 'ts',
    },
    plugins: [serverValidatorShim, zodEnglishOnly],
  });
  const script = path.join(mkdtempSync(path.join(os.tmpdir(), 'switchboard-build-')), 'tool-listing.cjs');
  try {
    writeFileSync(script, result.outputFiles[0].contents);
    return JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } }));
  } finally {
    rmSync(path.dirname(script), { recursive: true, force: true });
  }
}

await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: [path.join(root, 'src/extension/extension.ts')],
    outfile: path.join(dist, 'extension.js'),
    external: ['vscode'],
  }),
  toolListing().then((listing) => esbuild.build({
    ...common,
    define: { ...common.define, SWITCHBOARD_TOOL_LISTING: JSON.stringify(listing) },
    entryPoints: [path.join(root, 'src/sidecar/main.ts')],
    outfile: bundlePath,
    banner: { js: bundleWrapper.banner },
    footer: { js: bundleWrapper.footer },
    plugins: [serverValidatorShim, zodEnglishOnly],
    metafile: !!process.env.SWITCHBOARD_BUILD_META,
  }).then((result) => {
    if (result.metafile) writeFileSync(path.join(dist, 'sidecar-meta.json'), JSON.stringify(result.metafile));
  })),
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
// The launcher reads a pure-ASCII bundle as latin1, several times faster than UTF-8. esbuild escapes other
// characters in strings (charset: ascii) but not in regular expressions (write those as \uXXXX), and a development
// build keeps comments: there the launcher reads UTF-8. A production build must be ASCII.
const bundle = readFileSync(bundlePath);
const nonAscii = bundle.findIndex((byte) => byte > 0x7f);
if (nonAscii >= 0 && production) throw new Error(`dist/sidecar/bundle.js has a non-ASCII byte at ${nonAscii}; write it as an escape`);
// The compile cache is keyed by the bundle's content: V8 itself checks only the source's length.
const bundleId = createHash('sha256').update(bundle).digest('hex').slice(0, 16);
await esbuild.build({
  ...common,
  entryPoints: [path.join(root, 'src/sidecar/launch/launcher.ts')],
  outfile: path.join(dist, 'sidecar.js'),
  sourcemap: false,
  define: { SWITCHBOARD_BUNDLE_ID: JSON.stringify(bundleId), SWITCHBOARD_BUNDLE_ENCODING: JSON.stringify(nonAscii >= 0 ? 'utf8' : 'latin1') },
  banner: { js: '#!/usr/bin/env node' },
});
copyFileSync(require.resolve('sql.js/dist/sql-wasm.wasm'), path.join(dist, 'sql-wasm.wasm'));
chmodSync(path.join(dist, 'sidecar.js'), 0o755);
