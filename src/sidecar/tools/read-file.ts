import { UserError } from '../../core/errors';
import { readFileDescriptor } from '../protocol/read-file';
import { defineTool } from './tool';

export const readFileTool = defineTool({
  ...readFileDescriptor,
  // The file's bytes, so a read-modify-write keeps it intact; only the user's own key values are masked.
  textIsContent: true,
  async run(args, { sidecar, resultLimitChars }) {
    const files = await sidecar.files();
    const read = await files.read(args.path, { actor: sidecar.actor });
    const part = lineRange(read.text, args.start_line, args.end_line, resultLimitChars);
    const structured = { path: read.path, bytes: read.bytes, sha256: read.sha256, content: part.content, start_line: part.start, end_line: part.end, total_lines: part.total, partial: part.partial };
    // The path was masked when it was checked (WorkspaceFiles.read); the hash is ours.
    const redacted = [read.path, read.sha256];
    if (!part.partial) return { text: part.content, structured, redacted };
    const more = part.end < part.total ? `; continue with start_line ${part.end + 1}` : '';
    return { text: part.content, notes: `[partial: lines ${part.start}-${part.end} of ${part.total} of ${read.path}${more}]`, structured, redacted };
  },
});

export interface LineRange {
  content: string;
  start: number;
  end: number;
  total: number;
  partial: boolean;
}

/**
 * Lines `start`..`end` (1-based, inclusive, newlines kept) of `text`, cut at the last whole line within
 * `limitChars` (at least one line, itself cut if it alone is longer). An empty file has 0 lines.
 */
export function lineRange(text: string, startLine: number | undefined, endLine: number | undefined, limitChars?: number): LineRange {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1 && i + 1 < text.length; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  const total = text.length === 0 ? 0 : starts.length;
  const start = startLine ?? 1;
  if (endLine !== undefined && endLine < start) throw new UserError(`end_line ${endLine} is before start_line ${start}`, 'bad_arguments');
  if (total === 0 || start > total) {
    if (start > 1) throw new UserError(`start_line ${start} is past the end: the file has ${total} line(s)`, 'bad_arguments');
    return { content: '', start: 0, end: 0, total, partial: false };
  }
  let end = Math.min(endLine ?? total, total);
  const offset = (line: number) => (line < total ? starts[line]! : text.length);
  let content = text.slice(starts[start - 1]!, offset(end));
  let cut = false;
  if (limitChars !== undefined && content.length > limitChars) {
    cut = true;
    let last = start;
    while (last < end && offset(last + 1) - starts[start - 1]! <= limitChars) last++;
    end = last;
    content = text.slice(starts[start - 1]!, offset(end)).slice(0, limitChars);
  }
  return { content, start, end, total, partial: cut || start > 1 || end < total };
}
