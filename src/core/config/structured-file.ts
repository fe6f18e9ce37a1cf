import { formatBytes } from '../format-bytes';
import fs from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parseDocument, isMap, isScalar, isNode, type Document, type Node as YamlNode, type Pair } from 'yaml';
import { diagnostic, type Diagnostic } from '../diagnostics';
import { jsonPathKey, parseJsonFast } from './json-fast';
import { parseSimpleYaml } from './yaml-simple';

/** Configuration files are small; anything larger is a mistake, not a config. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export interface ParsedFile<T> {
  /** The parsed value when the file could be read and parsed (it may still carry schema errors). */
  value: T | undefined;
  diagnostics: Diagnostic[];
  /** Maps a path inside the document to its 1-based line (for items' source locations). */
  lineOf(path: ReadonlyArray<string | number>): number;
  /** Paths of values that failed the schema (not missing or unknown keys), so callers can drop just those. */
  invalidPaths?: Array<Array<string | number>>;
}

export interface ParseOptions {
  /** JSON Schema to validate against. Unknown top-level keys become warnings, other violations errors. */
  schema?: object;
  /** Strip // and block comments first, keeping offsets (VS Code's JSONC files). */
  jsonc?: boolean;
  maxBytes?: number;
}

const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true });
const compiled = new WeakMap<object, ValidateFunction>();

function validatorFor(schema: object): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/** Reads a configuration file and parses it; every problem becomes a diagnostic, nothing throws. */
export function readStructuredFile<T>(file: string, options: ParseOptions = {}): ParsedFile<T> {
  let bytes: Buffer;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return failed(file, 'is not a regular file');
    const max = options.maxBytes ?? MAX_CONFIG_BYTES;
    if (stat.size > max) return failed(file, `file is ${formatBytes(stat.size)}, over the ${formatBytes(max)} limit for configuration files; it was not loaded`);
    bytes = fs.readFileSync(file);
  } catch (err) {
    return failed(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseStructuredText<T>(file, bytes, options);
}

/** YAML aliases one configuration file may expand; a few are normal, thousands are a "billion laughs" bomb. */
export const MAX_ALIAS_COUNT = 100;
/** Nesting deeper than this is no configuration Switchboard reads; it would only exhaust the stack later. */
export const MAX_NESTING_DEPTH = 64;

/**
 * Parses text already in memory (also what the one-file reload uses). Every configuration file goes through
 * here, and nothing in it throws: an alias bomb, nesting too deep, or any exception from the parser or the
 * validator becomes this file's diagnostic, so one hostile file never takes the rest of Switchboard down.
 */
export function parseStructuredText<T>(file: string, input: Buffer | string, options: ParseOptions = {}): ParsedFile<T> {
  try {
    return parseUnguarded<T>(file, input, options);
  } catch (err) {
    return failed(file, `could not be parsed: ${describeParseFailure(err)}; it was not loaded`);
  }
}

function describeParseFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/alias count/i.test(message)) return `more than ${MAX_ALIAS_COUNT} YAML alias expansions (an alias bomb?)`;
  if (err instanceof RangeError || /call stack/i.test(message)) return `nested too deeply (over ${MAX_NESTING_DEPTH} levels)`;
  return firstLine(message);
}

/** Depth of nested lists and mappings, walked without recursion (the value may be built to break recursion). */
function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (!v || typeof v !== 'object') continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return deepest;
}

function parseUnguarded<T>(file: string, input: Buffer | string, options: ParseOptions): ParsedFile<T> {
  const text = typeof input === 'string' ? input : decodeText(input);
  if (text === undefined) return failed(file, 'is a binary file, not text; it was not loaded');
  if (!/\S/.test(text)) {
    return { value: undefined, diagnostics: [diagnostic(file, 1, 1, 'file is empty; nothing was loaded', 'warning')], lineOf: () => 1 };
  }
  const source = options.jsonc ? blankJsonComments(text) : text;
  // Positions are worked out from offsets only when a diagnostic or a source line asks (see LinePositions).
  const lineCounter = new LinePositions(source);
  // Most files take one of two fast paths (same value, same positions); anything else is composed by yaml.
  const json = parseJsonFast(source);
  if (json) {
    return fromFastPath<T>(file, source, json.value, (p) => json.keyOffsets.get(jsonPathKey(p)), lineCounter, options, json.depth);
  }
  const simple = parseSimpleYaml(source);
  if (simple) return fromFastPath<T>(file, source, simple.value, (p) => simple.keyPositions.get(jsonPathKey(p)), lineCounter, options);
  const doc = parseYamlDocument(source);
  const lineOf = (path: ReadonlyArray<string | number>) => lineOfPath(doc, lineCounter, path);
  const diagnostics: Diagnostic[] = [];
  for (const e of doc.errors) {
    const pos = lineCounter.linePos(e.pos[0]);
    // yaml reports its own stack overflow on deep nesting as a document error: said as what it is.
    const message = /call stack/i.test(e.message) ? `nested more than ${MAX_NESTING_DEPTH} levels deep; it was not loaded` : firstLine(e.message);
    diagnostics.push(diagnostic(file, pos.line, pos.col, message));
  }
  if (diagnostics.length) return { value: undefined, diagnostics, lineOf };
  for (const w of doc.warnings) {
    const pos = lineCounter.linePos(w.pos[0]);
    diagnostics.push(diagnostic(file, pos.line, pos.col, firstLine(w.message), 'warning'));
  }
  const value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as T;
  if (nestingDepth(value, MAX_NESTING_DEPTH) > MAX_NESTING_DEPTH) return tooDeep(file, lineOf);
  const invalidPaths: Array<Array<string | number>> = [];
  if (options.schema) diagnostics.push(...schemaDiagnostics(file, () => doc, lineCounter, value, options.schema, invalidPaths));
  return { value, diagnostics, lineOf, invalidPaths };
}

function parseYamlDocument(source: string): Document {
  return parseDocument(source, { prettyErrors: false, uniqueKeys: true });
}

/**
 * A file one of the fast paths read (parseJsonFast, parseSimpleYaml): the value yaml would give, and the keys'
 * positions (`keyAt`: an offset or a line and column). The YAML document (same value, same positions) is built only
 * if a diagnostic needs a position the fast path did not keep, so a valid file never pays for it.
 */
function fromFastPath<T>(
  file: string,
  source: string,
  value: unknown,
  keyAt: (path: ReadonlyArray<string | number>) => number | { line: number } | undefined,
  lc: LinePositions,
  options: ParseOptions,
  depth = nestingDepth(value, MAX_NESTING_DEPTH),
): ParsedFile<T> {
  let doc: Document | undefined;
  const lazyDoc = () => (doc ??= parseYamlDocument(source));
  const lineOf = (path: ReadonlyArray<string | number>) => {
    const at = typeof path[path.length - 1] === 'string' ? keyAt(path) : undefined;
    if (at === undefined) return lineOfPath(lazyDoc(), lc, path);
    return typeof at === 'number' ? lc.linePos(at).line : at.line;
  };
  if (depth > MAX_NESTING_DEPTH) return tooDeep(file, lineOf);
  const diagnostics: Diagnostic[] = [];
  const invalidPaths: Array<Array<string | number>> = [];
  if (options.schema) diagnostics.push(...schemaDiagnostics(file, lazyDoc, lc, value, options.schema, invalidPaths));
  return { value: value as T, diagnostics, lineOf, invalidPaths };
}

function tooDeep<T>(file: string, lineOf: (path: ReadonlyArray<string | number>) => number): ParsedFile<T> {
  return { value: undefined, diagnostics: [diagnostic(file, 1, 1, `nested more than ${MAX_NESTING_DEPTH} levels deep; it was not loaded`)], lineOf };
}

/** `doc` is called only when a position is needed: valid files (the usual case) never ask for it. */
function schemaDiagnostics(file: string, doc: () => Document, lc: LinePositions, value: unknown, schema: object, invalidPaths: Array<Array<string | number>> = []): Diagnostic[] {
  const out: Diagnostic[] = [];
  const props = (schema as { properties?: Record<string, unknown> }).properties;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const contents = doc().contents;
    const at = contents && isNode(contents) ? position(lc, contents) : { line: 1, col: 1 };
    return [diagnostic(file, at.line, at.col, `expected a mapping at the top level, found ${describe(value)}`)];
  }
  if (props) {
    for (const key of Object.keys(value)) {
      if (!(key in props)) {
        const at = keyPosition(doc(), lc, [], key);
        out.push(diagnostic(file, at.line, at.col, `unknown key "${key}" (known: ${Object.keys(props).join(', ')})`, 'warning'));
      }
    }
  }
  const validate = validatorFor(schema);
  if (!validate(value)) {
    for (const e of dedupe(validate.errors ?? [])) {
      const path = pointerToPath(e.instancePath);
      if (e.keyword === 'additionalProperties') {
        const extra = String((e.params as { additionalProperty: string }).additionalProperty);
        if (path.length === 0) continue; // top level handled above as a warning
        const at = keyPosition(doc(), lc, path, extra);
        out.push(diagnostic(file, at.line, at.col, `${where(path)}: unknown key "${extra}"`));
        continue;
      }
      if (e.keyword !== 'required') invalidPaths.push(path);
      const at = nodePosition(doc(), lc, path);
      out.push(diagnostic(file, at.line, at.col, `${where(path)}: ${explain(e)}`));
    }
  }
  return out;
}

// ajv reports every branch of a oneOf/anyOf; the first error per location is the useful one.
function dedupe(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = e.instancePath + '|' + (e.keyword === 'additionalProperties' ? JSON.stringify(e.params) : '');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function explain(e: ErrorObject): string {
  switch (e.keyword) {
    case 'type': return `must be ${(e.params as { type: string }).type}`;
    case 'required': return `missing required key "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'enum': return `must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map((v) => JSON.stringify(v)).join(', ')}`;
    default: return e.message ?? 'is invalid';
  }
}

function where(path: Array<string | number>): string {
  return path.length ? path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[') : 'document';
}

function pointerToPath(pointer: string): Array<string | number> {
  if (!pointer) return [];
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function nodePosition(doc: Document, lc: LinePositions, path: ReadonlyArray<string | number>): { line: number; col: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node)) return position(lc, node);
  }
  return { line: 1, col: 1 };
}

function keyPosition(doc: Document, lc: LinePositions, parent: ReadonlyArray<string | number>, key: string): { line: number; col: number } {
  const map = parent.length ? doc.getIn(parent, true) : doc.contents;
  if (isMap(map)) {
    const pair = map.items.find((p: Pair) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === key);
    if (pair && isNode(pair.key)) return position(lc, pair.key);
  }
  return nodePosition(doc, lc, parent);
}

function lineOfPath(doc: Document, lc: LinePositions, path: ReadonlyArray<string | number>): number {
  if (path.length === 0) return 1;
  const parent = path.slice(0, -1);
  const last = path[path.length - 1];
  if (typeof last === 'string') return keyPosition(doc, lc, parent, last).line;
  return nodePosition(doc, lc, path).line;
}

function position(lc: LinePositions, node: YamlNode): { line: number; col: number } {
  const offset = node.range?.[0] ?? 0;
  return lc.linePos(offset);
}

/**
 * Offset → 1-based line and column, like yaml's LineCounter, but nothing is recorded while parsing: the first
 * question counts lines up to its offset, a second one builds the table of line starts (one indexOf pass).
 */
export class LinePositions {
  private starts: number[] | undefined;
  private asked = false;

  constructor(private readonly text: string) {}

  linePos(offset: number): { line: number; col: number } {
    // One question (an agent's source line, near the top) is answered by counting up to it; the table is built
    // when a second one comes.
    if (!this.asked) {
      this.asked = true;
      let line = 1;
      let start = 0;
      for (let i = this.text.indexOf('\n'); i !== -1 && i < offset; i = this.text.indexOf('\n', i + 1)) {
        line++;
        start = i + 1;
      }
      return { line, col: offset - start + 1 };
    }
    const starts = (this.starts ??= lineStarts(this.text));
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - starts[lo]! + 1 };
  }
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function failed<T>(file: string, message: string): ParsedFile<T> {
  return { value: undefined, diagnostics: [diagnostic(file, 1, 1, message)], lineOf: () => 1 };
}

// A fatal decoder keeps no state between whole-buffer decode() calls, so one serves every file.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text, or undefined for binary content (NUL bytes or invalid UTF-8). A BOM is dropped. */
export function decodeText(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    const text = utf8.decode(bytes);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    return undefined;
  }
}

/** Replaces JSONC comments with spaces so offsets, lines and columns stay where the user sees them. */
export function blankJsonComments(text: string): string {
  let out = '';
  let i = 0;
  let inString = false;
  while (i < text.length) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\' && i + 1 < text.length) { out += text[i + 1]; i += 2; continue; }
      if (c === '"') inString = false;
      i++;
      continue;
    }
    if (c === '"') { inString = true; out += c; i++; continue; }
    if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') { out += ' '; i++; }
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? text.length : end + 2;
      for (; i < stop; i++) out += text[i] === '\n' ? '\n' : ' ';
      continue;
    }
    out += c;
    i++;
  }
  // Trailing commas are legal in JSONC; blank them too.
  return out.replace(/,(\s*[}\]])/g, ' $1');
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'string' ? 'a string' : `a ${typeof v}`;
}

export { formatBytes };
