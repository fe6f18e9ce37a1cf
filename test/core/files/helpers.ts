/** Real temp folders and a snapshot of a tree, so a test can prove nothing changed. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';

export function tempDir(prefix = 'sb-files-'): string {
  // realpath: macOS's /var is a link to /private/var; tests compare canonical paths.
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

/**
 * Bundles a child-process fixture (fixtures/<name>.ts) into `dir` as CommonJS, so plain `node` starts it in tens
 * of milliseconds instead of the TypeScript loader's second. Returns the bundle's path.
 */
export async function bundleFixture(name: string, dir: string): Promise<string> {
  const bundle = path.join(dir, `${name}.cjs`);
  await esbuild.build({
    entryPoints: [path.join(__dirname, 'fixtures', `${name}.ts`)],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'error',
  });
  return bundle;
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** path → description of every entry below `dir` (type, size, hash, mode, mtime, link target). Never follows links. */
export function snapshot(dir: string, skip: (rel: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (abs: string, rel: string) => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch {
      return;
    }
    let desc = `${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${st.nlink}`;
    if (st.isSymbolicLink()) desc += ' -> ' + fs.readlinkSync(abs);
    else if (st.isFile()) desc += ' ' + crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
    out.set(rel || '.', desc);
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(abs).sort()) {
        const childRel = rel ? `${rel}/${name}` : name;
        if (!skip(childRel)) walk(path.join(abs, name), childRel);
      }
    }
  };
  walk(dir, '');
  return out;
}

export function diffSnapshots(before: Map<string, string>, after: Map<string, string>): string[] {
  const changes: string[] = [];
  for (const [k, v] of before) if (after.get(k) !== v) changes.push(after.has(k) ? `changed ${k}` : `removed ${k}`);
  for (const k of after.keys()) if (!before.has(k)) changes.push(`created ${k}`);
  return changes;
}

export function write(file: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

/** Temp files, journal entries and store temps a crash could leave behind. */
export function orphans(ws: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.sb-tmp')) found.push(path.relative(ws, p));
    }
  };
  walk(ws);
  const journal = path.join(ws, '.switchboard', 'journal');
  if (fs.existsSync(journal)) for (const n of fs.readdirSync(journal)) found.push(`.switchboard/journal/${n}`);
  return [...found, ...journalEntries(ws).filter((e) => e.startsWith('.switchboard/tmp/'))];
}

/**
 * Journal entries, as state-folder paths: new ones are written in `.switchboard/tmp` (beside the temp files, one
 * folder sync for both); `.switchboard/journal` holds those of older versions and of workspaces whose temp
 * folder cannot be used.
 */
export function journalEntries(ws: string): string[] {
  const out: string[] = [];
  for (const dir of ['journal', 'tmp']) {
    const abs = path.join(ws, '.switchboard', dir);
    if (!fs.existsSync(abs)) continue;
    for (const n of fs.readdirSync(abs)) if (n.endsWith('.json') && !n.startsWith('.')) out.push(`.switchboard/${dir}/${n}`);
  }
  return out;
}
