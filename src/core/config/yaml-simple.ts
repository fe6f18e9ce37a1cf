/**
 * The plain YAML most configuration files are written in (agent definitions, subagent front matter), read
 * without building a YAML document: block mappings of simple keys whose values are single-line plain or quoted
 * scalars, one-line flow sequences of those, `- item` lists of those, or literal block scalars (`|`, `|-`, `|+`).
 * Composing a document
 * with the yaml library costs about ten times as much for these files.
 *
 * It is deliberately narrow and answers only when it is sure to give what yaml.parse gives: on anything else
 * (anchors, aliases, tags, nested lists, folded or indented block scalars, tabs, CR, duplicate keys, multi-line plain
 * scalars, keys that are not plain names...) it returns undefined and the caller takes the yaml library's path,
 * with its diagnostics and guards (alias bombs, nesting, duplicate keys). Plain scalars are typed by the yaml
 * library's own core-schema tags, so `1.2.0`, `42`, `true` and `~` come out as they always did.
 * test/core/config/yaml-simple.test.ts holds both paths to the same answers.
 */
import { Schema, isScalar } from 'yaml';

export interface SimpleYaml {
  value: Record<string, unknown>;
  /** 1-based line and column of each key, by JSON.stringify(path). */
  keyPositions: Map<string, { line: number; col: number }>;
}

/** Characters that send a file to the full parser wherever they appear: tab, CR, other controls, BOM, Unicode line breaks. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNSAFE = /[\t\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u0085\u2028\u2029\ufeff]/;
// Keys are plain names, short enough never to meet yaml's 1024-character limit for implicit keys.
const KEY_LINE = /^( *)([A-Za-z_][A-Za-z0-9_-]{0,127}):(?: +(.*))?$/;
const COMMENT_OR_BLANK = /^ *(?:#.*)?$/;
const LIST_ITEM = /^( *)- +(.*)$/;
const MAX_SIMPLE_DEPTH = 32;
// Quoted scalars without escapes or inner quotes, optionally followed by a comment.
const DOUBLE_QUOTED = /^"([^"\\]*)"(?: +#.*)?$/;
const SINGLE_QUOTED = /^'([^']*)'(?: +#.*)?$/;
/** Plain scalars may not start with an indicator; `-` only before a digit or dot (a negative number). */
const PLAIN_START = /^(?:[^-?:,[\]{}#&*!|>'"%@`\s]|-[0-9.])/;
const FLOW_ITEM = /\s*(?:"([^"\\]*)"|'([^']*)'|([A-Za-z0-9_./~+@()-](?:[A-Za-z0-9_./~+@() -]*[A-Za-z0-9_./~+@()-])?))\s*(,|$)/y;

const coreTags = new Schema({}).tags.filter((t) => t.default === true && t.test && typeof t.resolve === 'function');

/** What yaml makes of a plain scalar: the first core tag whose test matches, else the string itself. */
function resolvePlain(text: string): { value: unknown } | undefined {
  for (const tag of coreTags) {
    if (!tag.test!.test(text)) continue;
    let failed = false;
    const resolved = (tag.resolve as (s: string, onError: () => void, options: object) => unknown)(text, () => (failed = true), { intAsBigInt: false });
    // Some tags give a Scalar node (as they do for the composer), others the value itself.
    return failed ? undefined : { value: isScalar(resolved) ? resolved.value : resolved };
  }
  return { value: text };
}

const specialKeys = new Map<string, boolean>();

/** Keys yaml would not keep as the same string (null → "", True → "true"), and __proto__. */
function isSpecialKey(key: string): boolean {
  let special = specialKeys.get(key);
  if (special === undefined) {
    special = key === '__proto__' || coreTags.some((t) => t.test!.test(key));
    // The same few keys recur in every file; a bounded memo, so a hostile file cannot grow it.
    if (specialKeys.size < 4096) specialKeys.set(key, special);
  }
  return special;
}

/** A single-line scalar after `key: `, or undefined when it is not in the simple subset. */
function scalar(rest: string): { value: unknown } | undefined {
  const c = rest[0];
  if (c === '"' || c === "'") {
    const quoted = (c === '"' ? DOUBLE_QUOTED : SINGLE_QUOTED).exec(rest);
    return quoted ? { value: quoted[1] } : undefined;
  }
  if (c === '[') return flowSequence(rest);
  // A comment starts at the first ` #`; the plain scalar is what stands before it.
  const hash = rest.indexOf(' #');
  const plain = hash === -1 ? rest : rest.slice(0, hash).trimEnd();
  if (!PLAIN_START.test(plain) || plain.includes(': ') || plain.endsWith(':')) return undefined;
  return resolvePlain(plain);
}

function flowSequence(rest: string): { value: unknown[] } | undefined {
  if (!rest.endsWith(']')) return undefined;
  const inner = rest.slice(1, -1);
  if (inner.trim() === '') return { value: [] };
  const items: unknown[] = [];
  FLOW_ITEM.lastIndex = 0;
  while (FLOW_ITEM.lastIndex < inner.length) {
    const m = FLOW_ITEM.exec(inner);
    if (!m) return undefined;
    if (m[3] !== undefined) {
      if (m[3].startsWith('- ')) return undefined;
      const plain = resolvePlain(m[3]);
      if (!plain) return undefined;
      items.push(plain.value);
    } else {
      items.push(m[1] ?? m[2]);
    }
    // A comma must be followed by another item (no trailing comma, which yaml reads differently).
    if (m[4] === ',' && FLOW_ITEM.lastIndex >= inner.length) return undefined;
    if (m[4] === '') break;
  }
  return FLOW_ITEM.lastIndex >= inner.length ? { value: items } : undefined;
}

/** A literal block scalar starting after line `at`, for a key at `keyIndent`; undefined when not simple. */
function literalBlock(lines: string[], at: number, keyIndent: number, header: string, endsWithNewline: boolean): { value: string; next: number } | undefined {
  const chomp = header === '|' ? 'clip' : header === '|-' ? 'strip' : header === '|+' ? 'keep' : undefined;
  if (!chomp) return undefined;
  let indent = -1;
  const entries: string[] = [];
  let blankWidth = 0;
  let j = at + 1;
  for (; j < lines.length; j++) {
    const line = lines[j]!;
    const spaces = line.length - line.trimStart().length;
    if (spaces === line.length) {
      blankWidth = Math.max(blankWidth, line.length);
      entries.push('');
      continue;
    }
    if (indent === -1) {
      if (spaces <= keyIndent) break;
      indent = spaces;
    }
    if (spaces < indent) break;
    entries.push(line.slice(indent));
  }
  // No content, all-space lines wider than the indentation (content or an error for yaml), or a block that runs
  // to the end of a file without a final line break: left to the full parser.
  if (indent === -1 || blankWidth > indent || (j === lines.length && !endsWithNewline)) return undefined;
  let last = entries.length - 1;
  while (last >= 0 && entries[last] === '') last--;
  const body = entries.slice(0, last + 1).join('\n');
  const trailing = entries.length - 1 - last;
  const value = chomp === 'strip' ? body : chomp === 'clip' ? body + '\n' : body + '\n' + '\n'.repeat(trailing);
  return { value, next: j };
}

/** `- item` lines starting at line `at`, all at one indentation (at least the key's), each a one-line scalar. */
function blockList(lines: string[], at: number, keyIndent: number): { value: unknown[]; next: number } | undefined {
  const first = LIST_ITEM.exec(lines[at]!);
  if (!first || first[1]!.length < keyIndent) return undefined;
  const indent = first[1]!.length;
  const value: unknown[] = [];
  let i = at;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (COMMENT_OR_BLANK.test(line)) continue;
    const m = LIST_ITEM.exec(line);
    if (!m || m[1]!.length !== indent) break;
    const item = scalar(m[2]!.trimEnd());
    if (!item) return undefined;
    value.push(item.value);
  }
  // Blank and comment lines after the last item belong to whatever follows.
  while (i > at && COMMENT_OR_BLANK.test(lines[i - 1]!)) i--;
  return { value, next: i };
}

export function parseSimpleYaml(text: string): SimpleYaml | undefined {
  if (UNSAFE.test(text)) return undefined;
  const endsWithNewline = text.endsWith('\n');
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split('\n');
  const root: Record<string, unknown> = {};
  const keyPositions = new Map<string, { line: number; col: number }>();
  const stack: Array<{ indent: number; map: Record<string, unknown>; path: string[] }> = [{ indent: 0, map: root, path: [] }];
  // A key with nothing after its colon: a nested mapping if the next line is deeper, else null.
  let open: { indent: number; map: Record<string, unknown>; key: string; path: string[] } | undefined;
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (COMMENT_OR_BLANK.test(line)) {
      i++;
      continue;
    }
    if (open && line.trimStart().startsWith('-')) {
      // `- item` lines as the value of the key above (at its indentation or deeper, as yaml allows).
      const list = blockList(lines, i, open.indent);
      if (!list) return undefined;
      open.map[open.key] = list.value;
      open = undefined;
      i = list.next;
      continue;
    }
    const m = KEY_LINE.exec(line);
    if (!m) return undefined;
    const indent = m[1]!.length;
    const key = m[2]!;
    // `key:  # comment` is a key with nothing after it.
    const rest = m[3] === undefined || m[3].startsWith('#') ? '' : m[3].trimEnd();
    if (open) {
      if (indent > open.indent) {
        const child: Record<string, unknown> = {};
        open.map[open.key] = child;
        // Nesting this deep is no configuration: the full parser and its nesting guard answer.
        if (stack.length >= MAX_SIMPLE_DEPTH) return undefined;
        stack.push({ indent, map: child, path: open.path });
      } else {
        open.map[open.key] = null;
      }
      open = undefined;
    }
    while (stack.length > 1 && stack[stack.length - 1]!.indent > indent) stack.pop();
    const frame = stack[stack.length - 1]!;
    if (frame.indent !== indent || isSpecialKey(key) || Object.prototype.hasOwnProperty.call(frame.map, key)) return undefined;
    const path = [...frame.path, key];
    keyPositions.set(JSON.stringify(path), { line: i + 1, col: indent + 1 });
    if (rest === '') {
      frame.map[key] = undefined; // claims the key (duplicates are refused above); set when the next line is seen
      open = { indent, map: frame.map, key, path };
      i++;
      continue;
    }
    if (rest[0] === '|') {
      const block = literalBlock(lines, i, indent, rest, endsWithNewline);
      if (!block) return undefined;
      frame.map[key] = block.value;
      i = block.next;
      continue;
    }
    const value = scalar(rest);
    if (!value) return undefined;
    frame.map[key] = value.value;
    i++;
  }
  if (open) open.map[open.key] = null;
  return keyPositions.size ? { value: root, keyPositions } : undefined;
}
