import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

/**
 * Runs the sidecar's bundle with V8's code cache, so a start after the first skips compiling the JavaScript it
 * ran last time. Node 22's `module.enableCompileCache` would do this for `require`d files, but Node 20 (this
 * project's floor) has none, so the launcher compiles the bundle itself through `vm.Script` with `cachedData`,
 * which every Node since 10 supports.
 *
 * The cache lives in the user's own state folder (never the workspace: a repository must not be able to hand us
 * compiled code). Its file name carries the bundle's content hash, the Node version and the architecture, since
 * V8 checks only the source's length and its own version before trusting a cache.
 */

export type CacheOutcome = 'hit' | 'miss' | 'rejected' | 'off';

export interface BundleRun {
  /** dist/sidecar/bundle.js: one function expression `(function (exports, require, module, __filename, __dirname) {…})`. */
  bundlePath: string;
  /** latin1 for a pure-ASCII bundle (a production build): read unchanged and faster than UTF-8. */
  encoding?: 'latin1' | 'utf8';
  /** Content hash of the bundle, written into the launcher at build time. */
  bundleId: string;
  /** Where cache files go; undefined turns the cache off. */
  cacheDir?: string;
  /** What the bundle sees as __filename (dist/sidecar.js) and, from it, __dirname and `require`'s base. */
  filename: string;
}

export interface BundleStarted {
  outcome: CacheOutcome;
  cacheFile?: string;
  /** Writes the cache now if this start missed it (idempotent; the launcher calls it once startup work is done). */
  saveCache(): void;
}

/** Cache files kept per folder: enough for a CLI and an editor on different versions without thrashing. */
const KEEP_FILES = 4;

export function cacheFileName(bundleId: string, nodeVersion = process.version, arch = process.arch): string {
  return `${bundleId}-node${nodeVersion.replace(/^v/, '')}-${arch}.bin`;
}

export function runBundle(run: BundleRun): BundleStarted {
  const source = fs.readFileSync(run.bundlePath, run.encoding ?? 'utf8');
  const cacheFile = run.cacheDir ? path.join(run.cacheDir, cacheFileName(run.bundleId)) : undefined;
  const cachedData = cacheFile ? readCache(cacheFile) : undefined;
  const options: vm.ScriptOptions = { filename: run.bundlePath, cachedData };
  // Lets an import() left in the bundle load as it would from a plain file (Node 20.8+ has the constant).
  const mainLoader = (vm as { constants?: { USE_MAIN_CONTEXT_DEFAULT_LOADER?: unknown } }).constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  if (mainLoader !== undefined) options.importModuleDynamically = mainLoader as vm.ScriptOptions['importModuleDynamically'];
  const script = new vm.Script(source, options);
  const outcome: CacheOutcome = !cacheFile ? 'off' : !cachedData ? 'miss' : script.cachedDataRejected ? 'rejected' : 'hit';

  let saved = outcome === 'hit' || outcome === 'off';
  // The state folder above cache/compile: a process ending after it was removed (a scratch $SWITCHBOARD_HOME
  // cleaned up) must not bring it back.
  const stateDir = cacheFile ? path.dirname(path.dirname(path.dirname(cacheFile))) : undefined;
  const stateDirExisted = stateDir !== undefined && fs.existsSync(stateDir);
  const saveCache = (): void => {
    if (saved || !cacheFile) return;
    saved = true;
    if (stateDirExisted && !fs.existsSync(stateDir!)) return;
    writeCache(cacheFile, script.createCachedData());
  };

  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  const mod = { exports: {} as unknown, filename: run.filename, id: '.', loaded: false };
  wrapper.call(mod.exports, mod.exports, Module.createRequire(run.filename), mod, run.filename, path.dirname(run.filename));
  return { outcome, cacheFile, saveCache };
}

function readCache(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Best effort: a cache that cannot be written only makes the next start slower. */
function writeCache(file: string, data: Buffer): void {
  const dir = path.dirname(file);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(temp, data, { mode: 0o600 });
    fs.renameSync(temp, file);
    pruneOldCaches(dir, path.basename(file));
  } catch {
    try {
      fs.rmSync(temp, { force: true });
    } catch {
      // nothing left to do
    }
  }
}

/** Keeps the newest few cache files: each release or Node upgrade leaves one behind. */
function pruneOldCaches(dir: string, keep: string): void {
  const files = fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.bin') && name !== keep)
    .map((name) => ({ name, mtime: safeMtime(path.join(dir, name)) }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const old of files.slice(KEEP_FILES - 1)) fs.rmSync(path.join(dir, old.name), { force: true });
}

function safeMtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}
