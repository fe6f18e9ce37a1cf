import { diagnostic, type Diagnostic } from '../diagnostics';
import type { Candidate, HiddenRef, SourceRef } from './types';

export interface Merged<T, L extends string> {
  id: string;
  layer: L;
  source: SourceRef;
  definition: T;
  hides: Array<HiddenRef<L>>;
}

/**
 * Merges definitions by id across layers. `candidates` must be in discovery order (layer by layer, files in
 * order); within one layer the first definition of an id wins and each later one is a diagnostic at its line.
 * Across layers the order is `orderFor(id)` (highest first), so a per-item override can reorder layers.
 */
export function mergeLayers<T, L extends string>(
  candidates: ReadonlyArray<Candidate<T, L>>,
  orderFor: (id: string) => ReadonlyArray<L>,
  noun: string,
): { merged: Array<Merged<T, L>>; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const byId = new Map<string, Map<L, Candidate<T, L>>>();
  for (const c of candidates) {
    let layers = byId.get(c.id);
    if (!layers) byId.set(c.id, (layers = new Map()));
    const first = layers.get(c.layer);
    if (first) {
      diagnostics.push(diagnostic(c.source.file, c.source.line, 1,
        `duplicate ${noun} "${c.id}" in the ${c.layer} layer; the first definition (${first.source.file}:${first.source.line}) is used and this one is ignored`, 'warning'));
      continue;
    }
    layers.set(c.layer, c);
  }
  const merged: Array<Merged<T, L>> = [];
  for (const [id, layers] of byId) {
    const ranked: Array<Candidate<T, L>> = [];
    for (const layer of orderFor(id)) {
      const c = layers.get(layer);
      if (c) ranked.push(c);
    }
    // A layer missing from the order (should not happen) still counts, at the end.
    for (const c of layers.values()) if (!ranked.includes(c)) ranked.push(c);
    const [winner, ...rest] = ranked;
    if (!winner) continue;
    merged.push({
      id,
      layer: winner.layer,
      source: winner.source,
      definition: winner.definition,
      hides: rest.map((c) => ({ layer: c.layer, file: c.source.file, line: c.source.line })),
    });
  }
  merged.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { merged, diagnostics };
}

/** A layer order with the preferred layers first and every other layer after them, in default order. */
export function completeOrder<L extends string>(preferred: ReadonlyArray<L> | undefined, defaults: ReadonlyArray<L>): L[] {
  if (!preferred || preferred.length === 0) return [...defaults];
  const out = preferred.filter((l) => defaults.includes(l));
  for (const l of defaults) if (!out.includes(l)) out.push(l);
  return out;
}

/** Diagnostics grouped by file (in the order files were read) and by line within a file, as editors list them. */
export function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  const fileRank = new Map<string, number>();
  for (const d of diagnostics) if (!fileRank.has(d.file)) fileRank.set(d.file, fileRank.size);
  return diagnostics
    .map((d, i) => ({ d, i }))
    .sort((a, b) => fileRank.get(a.d.file)! - fileRank.get(b.d.file)! || a.d.line - b.d.line || a.d.column - b.d.column || a.i - b.i)
    .map((x) => x.d);
}
