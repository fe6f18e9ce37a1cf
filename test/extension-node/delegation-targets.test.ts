/**
 * The delegation's pure rules (src/extension/delegation/targets.ts and output.ts import no vscode): where a
 * generated file goes, what the prompt asks for, how a routing decision reads. Plain mocha, part of npm test.
 */
import assert from 'node:assert/strict';
import { describeQuota, describeQuotaLeft, describeRoute } from '../../src/extension/delegation/output';
import {
  buildPrompt,
  detectTestConvention,
  docsTargetFor,
  importSpecifier,
  targetProblem,
  testTargetFor,
} from '../../src/extension/delegation/targets';

describe('Delegation targets and output (pure rules)', () => {
  it('tests mirror src/ into test/ when the project has no tests yet', () => {
    const convention = detectTestConvention([], 'auto', ['src']);
    assert.deepEqual(convention, { location: 'testFolder', folder: 'test', infix: 'test' });
    assert.equal(testTargetFor('src/slugify.ts', convention), 'test/slugify.test.ts');
    assert.equal(testTargetFor('src/core/cascade/load.ts', convention), 'test/core/cascade/load.test.ts');
    assert.equal(testTargetFor('index.js', convention), 'test/index.test.js');
  });

  it('tests follow the existing layout: beside sources, tests/ folders, .spec infix, Python and Go conventions', () => {
    const beside = detectTestConvention(['src/a.test.ts', 'src/b/c.test.ts', 'test/old.test.ts']);
    assert.equal(beside.location, 'besideSource');
    assert.equal(testTargetFor('src/b/d.ts', beside), 'src/b/d.test.ts');
    const specs = detectTestConvention(['tests/a.spec.ts', 'tests/b.spec.ts']);
    assert.deepEqual(specs, { location: 'testFolder', folder: 'tests', infix: 'spec' });
    assert.equal(testTargetFor('lib/x.mts', specs), 'tests/x.spec.ts');
    assert.equal(testTargetFor('pkg/util.py', specs), 'tests/pkg/test_util.py');
    assert.equal(testTargetFor('cmd/run.go', specs), 'cmd/run_test.go');
    assert.equal(testTargetFor('src/a.test.ts', specs), 'src/a.test.ts', 'a test file is its own target');
    assert.equal(testTargetFor('src/a.ts', detectTestConvention(['src/a.test.ts'], 'testFolder', ['spec'])), 'spec/a.test.ts', 'the setting overrides the layout');
  });

  it('docs go under docs/, imports are relative, typed targets must stay inside the folder', () => {
    assert.equal(docsTargetFor('src/net/http.ts'), 'docs/net/http.md');
    assert.equal(docsTargetFor('README.md'), 'README.md');
    assert.equal(importSpecifier('test/slugify.test.ts', 'src/slugify.ts'), '../src/slugify');
    assert.equal(importSpecifier('src/a.test.ts', 'src/a.ts'), './a');
    assert.equal(targetProblem('test/x.test.ts'), undefined);
    assert.match(targetProblem('../x.ts') ?? '', /inside the workspace/);
    assert.match(targetProblem('/etc/passwd') ?? '', /relative/);
    assert.match(targetProblem('  ') ?? '', /relative/);
  });

  it('the prompt names the target, the import and the framework, and asks for the file only', () => {
    const prompt = buildPrompt({ task: 'tests', sourceRel: 'src/slugify.ts', targetRel: 'test/slugify.test.ts', targetExists: true, framework: 'mocha' });
    assert.match(prompt, /saved as test\/slugify\.test\.ts/);
    assert.match(prompt, /from '\.\.\/src\/slugify'/);
    assert.match(prompt, /with mocha/);
    assert.match(prompt, /already exists/);
    assert.match(prompt, /no commentary, no code fences/);
  });

  it('a routing decision reads as provider/model (tier), tokens and cost; quota left per window', () => {
    const result = { provider: 'gemini', model: 'gemini-2.5-flash', tier: 'free', input_tokens: 120, output_tokens: 80, cost_usd: 0, quota_left: [{ metric: 'requests', window: 'day', left: 1499, limit: 1500 }], complete: true, skipped: [] };
    assert.equal(describeRoute(result), 'gemini/gemini-2.5-flash (free) · 120+80 tokens · $0.0000');
    assert.equal(describeQuotaLeft(result.quota_left), '1,499 / 1,500 requests per day left');
    assert.equal(describeQuotaLeft([]), undefined);
    assert.equal(describeQuota({ metric: 'usd', window: 'month', left: 4.98, limit: 5 }), '$4.98 / $5.00 per month left');
    assert.equal(describeQuota({ metric: 'input_chars', window: 'month', left: 0.5, limit: 30000 }), '0.5 / 30,000 input chars per month left');
  });
});
