import type { Diagnostic } from '../diagnostics';

/** Where an item was defined. `file` is for people (workspace-relative, `~/…`, `(bundled)/…`); `path` is absolute. */
export interface SourceRef {
  file: string;
  line: number;
  path: string;
}

/** A lower definition that an item overrides. */
export interface HiddenRef<L extends string = string> {
  layer: L;
  file: string;
  line: number;
}

/** Every item of either cascade: the winning definition plus where it came from and what it hides. */
export type CascadeItem<T, L extends string> = {
  id: string;
  layer: L;
  source: SourceRef;
  /** Lower-precedence definitions with the same id, highest first. */
  hides: Array<HiddenRef<L>>;
  enabled: boolean;
} & T;

/** One definition found in one file, before layers are merged. */
export interface Candidate<T, L extends string> {
  id: string;
  layer: L;
  source: SourceRef;
  definition: T;
}

export interface CascadeResult<I> {
  items: I[];
  diagnostics: Diagnostic[];
}
