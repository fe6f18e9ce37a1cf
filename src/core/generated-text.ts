/**
 * Models often wrap a whole file in one code fence despite being told not to; that fence is not part of the
 * file. Only a single wrapping fence is removed: text with several fenced blocks is content, kept as it is.
 * The result ends with a newline.
 */
export function stripFence(text: string): string {
  const m = /^\s*```[^\n`]*\n([\s\S]*?)\n?```\s*$/.exec(text);
  const body = m && !/^```/m.test(m[1]!) ? m[1]! : text;
  return body.endsWith('\n') ? body : body + '\n';
}
