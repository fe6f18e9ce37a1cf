import fs from 'node:fs';
import { MAX_CONFIG_BYTES, decodeText, formatBytes, parseStructuredText, type ParseOptions, type ParsedFile } from '../config/structured-file';
import { diagnostic, type Diagnostic } from '../diagnostics';

/** Text of a file, or a diagnostic saying why it was not loaded (too big, binary, unreadable). */
export function readSourceText(file: string, display: string, stat: fs.Stats, maxBytes = MAX_CONFIG_BYTES): { text: string } | { problem: Diagnostic } {
  if (!stat.isFile()) return { problem: diagnostic(display, 1, 1, 'is not a regular file') };
  if (stat.size > maxBytes) return { problem: tooBig(stat, maxBytes, display) };
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    return { problem: unreadable(err, display) };
  }
  return decoded(bytes, display);
}

/**
 * Text of a file already opened (and fstat'ed) by the caller, with readSourceText's limits; closes `fd`. Reads
 * the size fstat gave, which is what the caller's stamp describes: a file that changes meanwhile gets a new stamp
 * (or a racy one) and is read again on the next load.
 */
export function readOpenedText(fd: number, stat: fs.Stats, display: string, maxBytes = MAX_CONFIG_BYTES): { text: string } | { problem: Diagnostic } {
  let bytes: Buffer;
  try {
    if (stat.size > maxBytes) return { problem: tooBig(stat, maxBytes, display) };
    const buffer = Buffer.allocUnsafe(stat.size);
    let length = 0;
    for (let n; length < buffer.length && (n = fs.readSync(fd, buffer, length, buffer.length - length, null)) > 0; ) length += n;
    bytes = buffer.subarray(0, length);
  } catch (err) {
    return { problem: unreadable(err, display) };
  } finally {
    fs.closeSync(fd);
  }
  return decoded(bytes, display);
}

function tooBig(stat: fs.Stats, maxBytes: number, display: string): Diagnostic {
  return diagnostic(display, 1, 1, `file is ${formatBytes(stat.size)}, over the ${formatBytes(maxBytes)} limit for configuration files; it was not loaded`);
}

function unreadable(err: unknown, display: string): Diagnostic {
  return diagnostic(display, 1, 1, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
}

function decoded(bytes: Buffer, display: string): { text: string } | { problem: Diagnostic } {
  const text = decodeText(bytes);
  return text === undefined ? { problem: diagnostic(display, 1, 1, 'is a binary file, not text; it was not loaded') } : { text };
}

/** readSourceText + parseStructuredText, with diagnostics naming the display path. */
export function parseSourceFile<T>(file: string, display: string, stat: fs.Stats, options: ParseOptions = {}): ParsedFile<T> {
  const read = readSourceText(file, display, stat, options.maxBytes);
  if ('problem' in read) return { value: undefined, diagnostics: [read.problem], lineOf: () => 1 };
  return parseStructuredText<T>(display, read.text, options);
}

/** A deep copy of `value` without the values that failed the schema, so the valid rest can still be used. */
export function withoutInvalid<T>(value: T, invalidPaths: ReadonlyArray<ReadonlyArray<string | number>> | undefined): T {
  if (!invalidPaths || invalidPaths.length === 0) return value;
  const copy = structuredClone(value) as unknown;
  for (const p of invalidPaths) {
    if (p.length === 0) continue;
    let node: unknown = copy;
    for (const key of p.slice(0, -1)) {
      node = node && typeof node === 'object' ? (node as Record<string | number, unknown>)[key] : undefined;
    }
    if (node && typeof node === 'object') {
      const last = p[p.length - 1]!;
      if (Array.isArray(node) && typeof last === 'number') node[last] = undefined;
      else delete (node as Record<string | number, unknown>)[last];
    }
  }
  return copy as T;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
