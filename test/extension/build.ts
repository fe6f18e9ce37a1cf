/** Compiles the extension-host suite to out/test/extension/ (the extension host runs JS, not TS). */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { REPO_ROOT } from './harness';

export const OUT_DIR = path.join(REPO_ROOT, 'out', 'test', 'extension');
export const TEST_INDEX = path.join(OUT_DIR, 'index.js');

/** Builds dist/ (the extension under test) with the project's own build script. */
export function buildExtension(): void {
  const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build.mjs')], { cwd: REPO_ROOT, stdio: 'inherit', timeout: 120_000 });
  if (result.status !== 0) throw new Error(`npm run build failed (${result.error?.message ?? `exit ${result.status}`})`);
}

export async function buildExtensionTests(): Promise<void> {
  const sourceDir = path.join(REPO_ROOT, 'test', 'extension');
  const tests = (fs.readdirSync(sourceDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.test.ts')).map((f) => path.join(sourceDir, f));
  fs.rmSync(OUT_DIR, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: [path.join(sourceDir, 'index.ts'), ...tests],
    outdir: OUT_DIR,
    outbase: sourceDir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'inline',
    logLevel: 'warning',
    // vscode is the host's; mocha is loaded from node_modules so the reporter and the suite share one copy.
    external: ['vscode', 'mocha'],
  });
}
