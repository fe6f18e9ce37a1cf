import path from 'node:path';
import { switchboardHome } from '../../core/paths';
import { runBundle, type BundleStarted } from './compile-cache';

/**
 * dist/sidecar.js: starts the sidecar's bundle (dist/sidecar/bundle.js) through V8's code cache (see
 * compile-cache.ts). The build replaces SWITCHBOARD_BUNDLE_ID with the bundle's content hash and
 * SWITCHBOARD_BUNDLE_ENCODING with latin1 when the bundle is pure ASCII.
 */
declare const SWITCHBOARD_BUNDLE_ID: string;
declare const SWITCHBOARD_BUNDLE_ENCODING: 'latin1' | 'utf8';

/** The MCP server and the CLI commands run different code: each keeps its own cache, filled by what it ran. */
function cacheProfile(argv: string[]): string {
  const first = argv[0];
  return first === undefined || first === 'serve' || (first.startsWith('--') && first !== '--help' && first !== '--version') ? 'serve' : 'cli';
}

function start(): void {
  const env = process.env;
  // NODE_DISABLE_COMPILE_CACHE is Node's own switch for its compile cache; it turns this one off too. The demo
  // promises to write nothing outside its scratch folder, so it keeps no cache in $SWITCHBOARD_HOME either.
  const off = !!env.NODE_DISABLE_COMPILE_CACHE || process.argv[2] === 'demo';
  const cacheDir = off ? undefined : path.join(switchboardHome(env), 'cache', 'compile');
  let started: BundleStarted;
  try {
    started = runBundle({
      bundlePath: path.join(__dirname, 'sidecar', 'bundle.js'),
      encoding: SWITCHBOARD_BUNDLE_ENCODING,
      bundleId: `${SWITCHBOARD_BUNDLE_ID}-${cacheProfile(process.argv.slice(2))}`,
      cacheDir,
      filename: __filename,
    });
  } catch (err) {
    process.stderr.write(`switchboard: cannot load ${path.join(__dirname, 'sidecar', 'bundle.js')}: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 2;
    return;
  }
  if (env.SWITCHBOARD_DEBUG) process.stderr.write(`switchboard: compile cache ${started.outcome}${started.cacheFile ? ` (${started.cacheFile})` : ''}\n`);
  if (started.outcome === 'miss' || started.outcome === 'rejected') {
    // Saved once the start-up code has run (a server has answered its first requests by then), or at exit for a
    // command that finishes sooner; either way the next start finds the functions this one compiled.
    setTimeout(started.saveCache, 1500).unref();
    process.once('exit', started.saveCache);
  }
}

start();
