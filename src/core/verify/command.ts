/**
 * Check command templates (`router.yaml` `verify.tests: "npx vitest run {file}"`) turned into what is spawned.
 *
 * A template is split into an argv the way a POSIX shell splits words (single and double quotes group, and a
 * backslash escapes only a quote or a backslash, so `C:\tools\run.exe` stays as written) and run WITHOUT a
 * shell. `{file}` is substituted inside its word, so the written file is always exactly one argument whatever it
 * contains (spaces, quotes, `;`, `$(…)`, Windows backslashes). A template that needs a shell (pipes, `&&`,
 * redirections, `VAR=x cmd`) runs through `/bin/sh -c` (or `cmd.exe` on Windows) with `{file}` quoted for it.
 */
import { UserError } from '../errors';

export type CheckInvocation =
  | { kind: 'argv'; argv: string[]; display: string }
  | { kind: 'shell'; shell: string; args: string[]; script: string; display: string };

export interface Placeholders {
  /** The written file, workspace-relative. */
  file: string;
  /** Its folder, workspace-relative (`.` for the root). */
  dir?: string;
}

/** Characters that mean something to a shell when they are outside quotes. */
const SHELL_SYNTAX = /[|&;<>()$`*?!~#{}\n]/;
const ENV_ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

interface Word {
  text: string;
  /** True when a shell operator or expansion appears outside quotes. */
  needsShell: boolean;
}

/** Splits a template into words; throws a UserError for an unterminated quote. */
export function splitTemplate(template: string): Word[] {
  const words: Word[] = [];
  let current: Word | undefined;
  let quote: '"' | "'" | undefined;
  const push = (ch: string) => ((current ??= { text: '', needsShell: false }).text += ch);
  for (let i = 0; i < template.length; i++) {
    const ch = template[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else push(ch);
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && (template[i + 1] === '"' || template[i + 1] === '\\')) push(template[++i]!);
      else push(ch);
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      current ??= { text: '', needsShell: false };
      continue;
    }
    if (ch === ' ' || ch === '\t') {
      if (current) words.push(current);
      current = undefined;
      continue;
    }
    if (ch === '\\' && (template[i + 1] === '"' || template[i + 1] === "'" || template[i + 1] === '\\' || template[i + 1] === ' ')) {
      push(template[++i]!);
      continue;
    }
    // `{file}` and `{dir}` are ours, not shell brace expansion.
    if (ch === '{' && /^\{(file|dir)\}/.test(template.slice(i))) {
      const name = template.slice(i, template.indexOf('}', i) + 1);
      push(name);
      i += name.length - 1;
      continue;
    }
    if (SHELL_SYNTAX.test(ch)) (current ??= { text: '', needsShell: false }).needsShell = true;
    push(ch);
  }
  if (quote) throw new UserError(`check command has an unterminated ${quote} quote: ${template}`, 'bad_check_command');
  if (current) words.push(current);
  return words;
}

/** True when the template uses shell syntax (and so must run through a shell). */
export function needsShell(template: string): boolean {
  const words = splitTemplate(template);
  return words.some((w) => w.needsShell) || (words.length > 0 && ENV_ASSIGNMENT.test(words[0]!.text));
}

/**
 * A file argument that no program can mistake for an option: `-x.test.js` becomes `./-x.test.js`. The path
 * keeps the platform's separators (a Windows path stays a Windows path).
 */
export function safeFileArgument(file: string): string {
  return file.startsWith('-') ? `./${file}` : file;
}

function substitute(text: string, values: Placeholders): string {
  return text.replace(/\{(file|dir)\}/g, (_m, name: 'file' | 'dir') => safeFileArgument(name === 'file' ? values.file : values.dir ?? '.'));
}

/** POSIX sh: one single-quoted word; `'` becomes `'\''`. */
export function quotePosix(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * cmd.exe: one double-quoted word. cmd has no escape for `"` inside quotes and expands `%VAR%` even there, so a
 * value holding `"`, `%`, `!`, `^` or a line break is refused rather than passed on half-quoted.
 */
export function quoteCmd(value: string): string {
  if (/["%!^\r\n]/.test(value)) throw new UserError(`the file name ${JSON.stringify(value)} cannot be quoted safely for cmd.exe; rename it or configure a check that needs no shell`, 'unsafe_file_name');
  return `"${value}"`;
}

/** The program and arguments for `template` with its placeholders filled in. */
export function buildInvocation(template: string, values: Placeholders, platform: NodeJS.Platform = process.platform): CheckInvocation {
  const trimmed = template.trim();
  if (!trimmed) throw new UserError('the check command is empty', 'bad_check_command');
  if (!needsShell(trimmed)) {
    const argv = splitTemplate(trimmed).map((w) => substitute(w.text, values));
    return { kind: 'argv', argv, display: argv.map((a) => (/^[\w@%+=:,./\\-]+$/.test(a) ? a : quotePosix(a))).join(' ') };
  }
  const quote = platform === 'win32' ? quoteCmd : quotePosix;
  // Only the placeholders are replaced; the rest of the script is the user's shell text, verbatim.
  const script = trimmed.replace(/\{(file|dir)\}/g, (_m, name: 'file' | 'dir') => quote(safeFileArgument(name === 'file' ? values.file : values.dir ?? '.')));
  if (platform === 'win32') return { kind: 'shell', shell: process.env.ComSpec ?? 'cmd.exe', args: ['/d', '/s', '/c', script], script, display: script };
  return { kind: 'shell', shell: '/bin/sh', args: ['-c', script], script, display: script };
}
