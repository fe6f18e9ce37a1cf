/**
 * Where a delegation's result goes and what the model is asked. Pure functions over relative paths (no vscode,
 * no file system) so every rule is testable on its own; the caller gathers the existing test files.
 */
import path from 'node:path';

export const TASK_KINDS = ['tests', 'docs', 'boilerplate', 'code'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

export const TASK_LABELS: Record<TaskKind, string> = {
  tests: 'Tests',
  docs: 'Docs',
  boilerplate: 'Boilerplate',
  code: 'Code',
};

export const TASK_DESCRIPTIONS: Record<TaskKind, string> = {
  tests: 'Unit tests for the file, where the project keeps its tests',
  docs: 'Markdown documentation under docs/',
  boilerplate: 'New code from your instruction, in the file you name',
  code: 'A change to the file itself, from your instruction',
};

/** boilerplate and code need the user's instruction; tests and docs follow from the file alone. */
export function needsInstruction(task: TaskKind): boolean {
  return task === 'boilerplate' || task === 'code';
}

export type TestLocation = 'auto' | 'testFolder' | 'besideSource';

const TEST_DIRS = ['test', 'tests', '__tests__', 'spec'];
/** Folders that hold sources and are dropped when mirroring into a test folder (src/a/b.ts → test/a/b.test.ts). */
const SOURCE_ROOTS = ['src', 'lib', 'source'];
const TEST_FILE = /(?:^|\/)(?:[^/]+\.(test|spec)\.[^/.]+|test_[^/]+\.py|[^/]+_test\.go)$/;

export function isTestFile(rel: string): boolean {
  return TEST_FILE.test(toPosix(rel));
}

/**
 * The convention the project's existing tests follow: the folder they live in (or beside the sources) and the
 * infix they use (`.test` or `.spec`). With no tests yet: a `test/` folder mirroring the sources, `.test`.
 */
export interface TestConvention {
  location: 'testFolder' | 'besideSource';
  /** Top-level test folder, when location is testFolder. */
  folder: string;
  infix: 'test' | 'spec';
}

export function detectTestConvention(existingTests: string[], setting: TestLocation = 'auto', topLevelDirs: string[] = []): TestConvention {
  const tests = existingTests.map(toPosix).filter((f) => isTestFile(f) && !f.split('/').includes('node_modules'));
  const inFolder = tests.filter((f) => TEST_DIRS.includes(f.split('/')[0]!));
  const beside = tests.filter((f) => !f.split('/').some((segment) => TEST_DIRS.includes(segment)));
  const specs = tests.filter((f) => /\.spec\.[^/.]+$/.test(f)).length;
  const infix = specs > tests.length - specs ? 'spec' : 'test';
  const counts = new Map<string, number>();
  for (const f of inFolder) counts.set(f.split('/')[0]!, (counts.get(f.split('/')[0]!) ?? 0) + 1);
  const busiest = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const folder = busiest ?? TEST_DIRS.find((d) => topLevelDirs.includes(d)) ?? 'test';

  if (setting === 'testFolder') return { location: 'testFolder', folder, infix };
  if (setting === 'besideSource') return { location: 'besideSource', folder, infix };
  // Most tests decide; a tie (including none at all) goes to a test folder, the more common layout.
  return { location: beside.length > inFolder.length ? 'besideSource' : 'testFolder', folder, infix };
}

/** Where the tests for `sourceRel` go under `convention` (a test file is its own target). */
export function testTargetFor(sourceRel: string, convention: TestConvention): string {
  const source = toPosix(sourceRel);
  if (isTestFile(source)) return source;
  const dir = path.posix.dirname(source);
  const ext = path.posix.extname(source);
  const base = path.posix.basename(source, ext);
  // Languages with one fixed convention keep it whatever the setting says.
  if (ext === '.go') return path.posix.join(dir, `${base}_test.go`);
  const name = ext === '.py' ? `test_${base}.py` : `${base}.${convention.infix}${testExtension(ext)}`;
  if (convention.location === 'besideSource') return path.posix.join(dir, name);
  const segments = dir === '.' ? [] : dir.split('/');
  if (segments[0] && (SOURCE_ROOTS.includes(segments[0]) || segments[0] === convention.folder)) segments.shift();
  return path.posix.join(convention.folder, ...segments, name);
}

/** Type declarations and module variants get tests in the matching script language. */
function testExtension(ext: string): string {
  if (ext === '.mts' || ext === '.cts') return '.ts';
  if (ext === '.mjs' || ext === '.cjs') return '.js';
  return ext || '.txt';
}

/** docs/<path without the source root>/<name>.md; a Markdown file is its own target. */
export function docsTargetFor(sourceRel: string): string {
  const source = toPosix(sourceRel);
  if (/\.mdx?$/i.test(source)) return source;
  const dir = path.posix.dirname(source);
  const segments = dir === '.' ? [] : dir.split('/');
  if (segments[0] && SOURCE_ROOTS.includes(segments[0])) segments.shift();
  return path.posix.join('docs', ...segments, `${path.posix.basename(source, path.posix.extname(source))}.md`);
}

export function defaultTarget(task: TaskKind, sourceRel: string, convention: TestConvention): string {
  if (task === 'tests') return testTargetFor(sourceRel, convention);
  if (task === 'docs') return docsTargetFor(sourceRel);
  return toPosix(sourceRel);
}

/** A target the user typed: relative, inside the folder, normalised; undefined means acceptable. */
export function targetProblem(input: string): string | undefined {
  const value = input.trim();
  if (!value) return 'Give a path relative to the workspace folder';
  if (path.isAbsolute(value) || /^[a-zA-Z]:[\\/]/.test(value)) return 'Give a path relative to the workspace folder';
  const normal = path.posix.normalize(toPosix(value));
  if (normal === '..' || normal.startsWith('../')) return 'The target must be inside the workspace folder';
  if (normal.endsWith('/')) return 'The target must be a file, not a folder';
  return undefined;
}

export function normaliseTarget(input: string): string {
  return path.posix.normalize(toPosix(input.trim())).replace(/^\.\//, '');
}

/** The module specifier a test at `targetRel` uses to import `sourceRel` (JS/TS: no extension). */
export function importSpecifier(targetRel: string, sourceRel: string): string {
  const source = toPosix(sourceRel);
  let rel = path.posix.relative(path.posix.dirname(toPosix(targetRel)), source);
  if (/\.(ts|tsx|js|jsx|mts|cts|mjs|cjs)$/.test(rel)) rel = rel.replace(/\.(ts|tsx|js|jsx|mts|cts|mjs|cjs)$/, '');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

/** The test framework a package.json declares, if any. */
export function detectTestFramework(packageJsonText: string | undefined): string | undefined {
  if (!packageJsonText) return undefined;
  try {
    const pkg = JSON.parse(packageJsonText) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    const deps = { ...pkg.dependencies, ...pkg.devDependencies };
    return ['vitest', 'jest', 'mocha', 'ava', 'jasmine'].find((name) => name in deps);
  } catch {
    return undefined;
  }
}

export interface PromptParts {
  task: TaskKind;
  sourceRel: string;
  targetRel: string;
  targetExists: boolean;
  instruction?: string;
  framework?: string;
}

/** What the model is asked. The reply becomes the whole target file, so it must be that file and nothing else. */
export function buildPrompt(parts: PromptParts): string {
  const { task, sourceRel, targetRel } = parts;
  const lines: string[] = [];
  const sameFile = sourceRel === targetRel;
  if (task === 'tests') {
    lines.push(`Write unit tests for ${sourceRel}; they are saved as ${targetRel}.`);
    if (!sameFile && /\.(ts|tsx|js|jsx|mts|cts|mjs|cjs)$/.test(sourceRel)) lines.push(`Import the code under test from '${importSpecifier(targetRel, sourceRel)}'.`);
    if (parts.framework) lines.push(`The project tests with ${parts.framework}.`);
    else if (/\.(ts|js|mts|mjs|cts|cjs)$/.test(sourceRel)) lines.push('No test framework is declared; use node:test with node:assert/strict.');
    lines.push('Cover normal cases, edge cases and errors.');
  } else if (task === 'docs') {
    lines.push(`Write Markdown documentation for ${sourceRel}; it is saved as ${targetRel}. Describe what it is for, its API with examples, and its edge cases.`);
  } else if (task === 'code') {
    lines.push(parts.instruction?.trim() ?? '', '', `Apply this to ${sourceRel}${sameFile ? '' : ` and save the result as ${targetRel}`}. Keep everything the instruction does not ask to change.`);
  } else {
    lines.push(parts.instruction?.trim() ?? '', '', `The result is saved as ${targetRel}. Follow the conventions of ${sourceRel}.`);
  }
  if (parts.targetExists && !sameFile) lines.push(`${targetRel} already exists (given below): keep what is still right and extend it.`);
  lines.push(`Reply with the complete content of ${targetRel} only: no commentary, no code fences.`);
  return lines.join('\n');
}

function toPosix(p: string): string {
  return p.split('\\').join('/');
}
