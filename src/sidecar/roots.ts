import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Canonical form of a folder (symlinks resolved) when it exists; the resolved path otherwise. */
export function canonicalDir(dir: string): string {
  try {
    return fs.realpathSync.native(path.resolve(dir));
  } catch {
    return path.resolve(dir);
  }
}

/** True when `inner` is `outer` or inside it, decided component by component (never by string prefix). */
export function isWithin(inner: string, outer: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === '' || (!rel.startsWith('..' + path.sep) && rel !== '..' && !path.isAbsolute(rel));
}

/** The local folders among a client's `file://` root URIs, canonical; other schemes are ignored. */
export function rootPaths(uris: readonly string[]): string[] {
  const out: string[] = [];
  for (const uri of uris) {
    if (!uri.startsWith('file:')) continue;
    try {
      out.push(canonicalDir(fileURLToPath(uri)));
    } catch {
      // A malformed URI names nothing we could allow.
    }
  }
  return out;
}

/**
 * Intersects allowed folders with client roots: a root inside an allowed folder narrows it to the root; an
 * allowed folder inside a root stays as is; a root elsewhere adds nothing. Roots can only narrow.
 */
export function narrowToRoots(allowed: readonly string[], roots: readonly string[]): string[] {
  const out = new Set<string>();
  for (const a of allowed) {
    for (const r of roots) {
      if (isWithin(r, a)) out.add(r);
      else if (isWithin(a, r)) out.add(a);
    }
  }
  return [...out];
}
