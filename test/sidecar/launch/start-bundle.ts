/**
 * Child process for compile-cache.test.ts: one start of a bundle through runBundle, as the launcher does it.
 * Each start must be its own process: V8 also caches compiled scripts in memory, which would hide the disk cache.
 * argv[2]: JSON {bundlePath, bundleId, cacheDir?, filename, save?}; prints {outcome, cacheFile, probe}.
 */
import { runBundle } from '../../../src/sidecar/launch/compile-cache';

const args = JSON.parse(process.argv[2]!) as { bundlePath: string; bundleId: string; cacheDir?: string; filename: string; save?: boolean };
const started = runBundle(args);
if (args.save) started.saveCache();
const probe = (globalThis as { __compileCacheProbe?: unknown }).__compileCacheProbe;
process.stdout.write(JSON.stringify({ outcome: started.outcome, cacheFile: started.cacheFile, probe }));
