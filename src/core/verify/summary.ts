/**
 * What a check's output means, in two sizes: one line for results and notifications, and an excerpt (the
 * failing assertions and errors with a little context, then the end of the output) for the repair request.
 */
import type { CheckRun } from './run-check';

const FAILURE_LINE = /(\bfail(ed|ure|ing)?\b|\berror\b|assert|expected|\bactual\b|^not ok|\u2716|\u2717|\u00d7|\bpanic|traceback|exception|cannot find|not found|undefined|SyntaxError|TypeError|ReferenceError|E\s{2,}|^---\s*FAIL|^FAIL\b)/i;
const NOISE = /^\s*(at .*\(node:|at node:|at async |at Module\.|at Object\.<anonymous> \(node:)/;

/** The most telling failure lines first: a failed test's name, then an assertion, then a runner's FAIL line. */
const TELLING = [/^\s*not ok \d+ - /, /^\s*(\u2716|\u00d7|\u2717|FAIL\b|--- FAIL)/, /AssertionError|Expected|assert/, /Error:|Traceback|panicked/];
/** TAP YAML keys that say nothing alone. */
const YAML_NOISE = /^\s*(error: \|-?|---|\.\.\.|duration_ms: .*|failureType: .*|code: .*|name: .*|stack: \|-?|location: .*)$/;

export const DEFAULT_EXCERPT_CHARS = 4_000;

/** One line: how it ended and the first telling line. */
export function summarizeCheck(run: CheckRun, timeoutMs: number): string {
  if (run.spawnError) return `the check could not start: ${oneLine(run.spawnError)}`;
  if (run.timedOut) return `the check did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped`;
  if (run.flooded) return `the check wrote more than ${Math.round(run.outputBytes / 1024 / 1024)} MiB of output and was stopped`;
  if (run.passed) return totalsLine(run.output) ?? 'the check passed';
  const how = run.exitCode !== null ? `exit ${run.exitCode}` : `ended by ${run.signal ?? 'a signal'}`;
  const totals = totalsLine(run.output);
  const lines = cleanLines(run.output).filter((l) => !YAML_NOISE.test(l));
  const first = TELLING.map((re) => lines.find((l) => re.test(l))).find((l) => l !== undefined) ?? lines.find((l) => FAILURE_LINE.test(l));
  return [how, totals, first && first !== totals ? oneLine(first) : undefined].filter(Boolean).join(': ');
}

/** The part of the output a model needs to fix its answer, at most `maxChars`. */
export function failureExcerpt(run: CheckRun, summary: string, maxChars = DEFAULT_EXCERPT_CHARS): string {
  const lines = cleanLines(run.output);
  const all = lines.join('\n');
  if (all.length <= maxChars) return all || summary;
  const keep = new Set<number>();
  lines.forEach((l, i) => {
    if (FAILURE_LINE.test(l)) for (let j = Math.max(0, i - 2); j <= Math.min(lines.length - 1, i + 4); j++) keep.add(j);
  });
  const tailStart = Math.max(0, lines.length - 15);
  for (let j = tailStart; j < lines.length; j++) keep.add(j);
  const parts: string[] = [];
  let last = -1;
  let size = 0;
  const budget = maxChars - 40;
  for (const i of [...keep].sort((a, b) => a - b)) {
    const line = lines[i]!;
    if (size + line.length + 1 > budget) {
      if (i >= tailStart) continue;
      break;
    }
    if (last >= 0 && i > last + 1) parts.push('…');
    parts.push(line);
    size += line.length + 1;
    last = i;
  }
  return parts.join('\n');
}

function cleanLines(output: string): string[] {
  return output
    // eslint-disable-next-line no-control-regex
    .replace(/\u001b\[[0-9;]*[A-Za-z]/g, '')
    .split(/\r?\n/)
    .map((l) => l.replace(/\s+$/, ''))
    .filter((l) => l.trim() !== '' && !NOISE.test(l));
}

/** "# pass 5 / # fail 2" (node:test), "Tests: 2 failed, 5 passed" (jest/vitest), "2 failed, 5 passed" (pytest). */
function totalsLine(output: string): string | undefined {
  const pass = /^# pass (\d+)/m.exec(output);
  const fail = /^# fail (\d+)/m.exec(output);
  if (pass || fail) return `${fail?.[1] ?? 0} failed, ${pass?.[1] ?? 0} passed`;
  const jest = /^\s*Tests:\s+(.+)$/m.exec(output);
  if (jest) return oneLine(jest[1]!);
  const pytest = /^=+ (.*(passed|failed|error).*) =+$/m.exec(output);
  if (pytest) return oneLine(pytest[1]!);
  const mocha = /^\s*(\d+ passing.*)$/m.exec(output);
  const mochaFail = /^\s*(\d+ failing)/m.exec(output);
  if (mocha || mochaFail) return [mochaFail?.[1], mocha?.[1]].filter(Boolean).join(', ');
  return undefined;
}

function oneLine(s: string): string {
  const line = s.split('\n')[0]!.trim();
  return line.length > 240 ? line.slice(0, 237) + '...' : line;
}
