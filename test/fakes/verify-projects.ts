/**
 * The small real projects under test/fixtures/verify-projects (node:test, CommonJS) and scripted model answers
 * for them: a test file that passes, one whose expectation is wrong (fails its check), and one that does not even
 * load. Test code, shared by the verified-delegation tests and benchmark.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const VERIFY_PROJECTS_DIR = path.resolve(__dirname, '..', 'fixtures', 'verify-projects');

export interface VerifyProject {
  name: string;
  /** Workspace-relative source file. */
  source: string;
  /** Where the delegated test file goes. */
  target: string;
  fn: string;
  module: string;
  deep: boolean;
  cases: Array<[unknown[], unknown]>;
}

export function verifyProjects(): VerifyProject[] {
  return fs.readdirSync(VERIFY_PROJECTS_DIR).sort().map((name) => {
    const dir = path.join(VERIFY_PROJECTS_DIR, name);
    const spec = JSON.parse(fs.readFileSync(path.join(dir, 'cases.json'), 'utf8')) as { fn: string; module: string; deep?: boolean; cases: Array<[unknown[], unknown]> };
    const source = `src/${fs.readdirSync(path.join(dir, 'src'))[0]!}`;
    return { name, source, target: `test/${path.basename(source, '.js')}.test.js`, fn: spec.fn, module: spec.module, deep: spec.deep === true, cases: spec.cases };
  });
}

/** A copy of the project in a fresh temp folder (the workspace a delegation writes into). */
export function copyProject(project: VerifyProject, into?: string): string {
  const dir = into ?? fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `sb-verify-${project.name}-`)));
  fs.cpSync(path.join(VERIFY_PROJECTS_DIR, project.name), dir, { recursive: true });
  return dir;
}

export type AnswerQuality = 'good' | 'wrong' | 'broken';

/** A node:test file for the project: `good` passes, `wrong` asserts a wrong value, `broken` throws on load. */
export function answerFor(project: VerifyProject, quality: AnswerQuality): string {
  const lines = [
    "'use strict';",
    "const { test } = require('node:test');",
    "const assert = require('node:assert/strict');",
    `const { ${project.fn} } = require(${JSON.stringify(project.module)});`,
    '',
  ];
  if (quality === 'broken') lines.push(`const { missing } = require('../src/does-not-exist.js');`, '');
  project.cases.forEach(([args, expected], i) => {
    const want = quality === 'wrong' && i === project.cases.length - 1 ? wrongValue(expected) : expected;
    lines.push(`test(${JSON.stringify(`${project.fn}(${args.map((a) => JSON.stringify(a)).join(', ')})`)}, () => {`);
    lines.push(`  assert.${project.deep ? 'deepEqual' : 'equal'}(${project.fn}(${args.map((a) => JSON.stringify(a)).join(', ')}), ${JSON.stringify(want)});`);
    lines.push('});', '');
  });
  return lines.join('\n');
}

function wrongValue(v: unknown): unknown {
  if (typeof v === 'number') return v + 1;
  if (typeof v === 'string') return `${v}?`;
  return { ...(v as object), unexpected: 1 };
}
