/**
 * JSON configuration files (.mcp.json, .vscode/mcp.json, ~/.claude.json) read with the engine's JSON.parse,
 * which is many times faster than composing a YAML document for them. One pass over the text (after JSON.parse
 * accepted it, so it is well formed) finds what JSON.parse does not tell: where each key is, duplicate keys (JSON
 * keeps the last silently; configuration files treat them as an error), and how deep the nesting goes.
 * Anything this path cannot answer exactly is left to the YAML path (see structured-file.ts).
 */

/** Keys this many containers deep or less have their offsets kept (server names sit at depth 2 or 3). */
const INDEXED_DEPTH = 4;

export interface FastJson {
  value: unknown;
  /** Deepest nesting of objects and arrays (a bare scalar is 0). */
  depth: number;
  /** Offset of the opening quote of each key up to INDEXED_DEPTH, by `jsonPathKey(path)`. */
  keyOffsets: Map<string, number>;
}

export function jsonPathKey(path: ReadonlyArray<string | number>): string {
  return JSON.stringify(path);
}

interface Frame {
  /** Keys seen so far in an object; undefined for an array. */
  keys: Set<string> | undefined;
  /** Path of this container, when it is shallow enough to index. */
  path: Array<string | number> | undefined;
  /** Current key (object) or element index (array). */
  at: string | number;
}

/**
 * The parsed value and key positions when `text` is one JSON document without duplicate keys; undefined when it
 * is not (YAML, JSON with errors or duplicates), so the caller takes the YAML path and its diagnostics.
 */
export function parseJsonFast(text: string): FastJson | undefined {
  const first = firstNonSpace(text);
  if (first !== '{' && first !== '[') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const keyOffsets = new Map<string, number>();
  const stack: Frame[] = [];
  let depth = 0;
  let expectingKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = closingQuote(text, i);
      const top = stack[stack.length - 1];
      if (top?.keys && expectingKey) {
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        if (top.keys.has(key)) return undefined;
        top.keys.add(key);
        top.at = key;
        if (top.path) keyOffsets.set(jsonPathKey([...top.path, key]), i);
        expectingKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const top = stack[stack.length - 1];
      const path = !top ? [] : top.path && stack.length < INDEXED_DEPTH ? [...top.path, top.at] : undefined;
      const object = c === 0x7b;
      stack.push({ keys: object ? new Set() : undefined, path, at: 0 });
      if (stack.length > depth) depth = stack.length;
      expectingKey = object;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectingKey = false;
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1]!;
      if (top.keys) expectingKey = true;
      else top.at = (top.at as number) + 1;
    }
  }
  return { value, depth, keyOffsets };
}

function firstNonSpace(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== ' ' && c !== '\n' && c !== '\r' && c !== '\t') return c;
  }
  return undefined;
}

/** Index of the quote closing the string that opens at `open` (one not preceded by an odd run of backslashes). */
function closingQuote(text: string, open: number): number {
  let end = open;
  for (;;) {
    end = text.indexOf('"', end + 1);
    let backslashes = 0;
    for (let b = end - 1; text.charCodeAt(b) === 0x5c; b--) backslashes++;
    if (backslashes % 2 === 0) return end;
  }
}
