/** A project's router.yaml can only narrow the user layer: each widening setting is ignored with a warning. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRouterConfig, projectRouterFile, userRouterFile } from '../../../src/core/router/config';

describe('router config: the project layer only narrows', () => {
  let root: string;
  let workspace: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-router-narrow-'));
    workspace = path.join(root, 'ws');
    fs.mkdirSync(path.join(workspace, '.mcp'), { recursive: true });
    env = { SWITCHBOARD_HOME: path.join(root, 'home') };
    fs.mkdirSync(env.SWITCHBOARD_HOME!, { recursive: true });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const load = (project: string[], user?: string[]) => {
    if (user) fs.writeFileSync(userRouterFile(env), user.join('\n'));
    fs.writeFileSync(projectRouterFile(workspace), project.join('\n'));
    return loadRouterConfig({ workspace, env });
  };
  const warningAt = (diagnostics: ReturnType<typeof load>['diagnostics'], line: number, pattern: RegExp) => {
    const d = diagnostics.find((x) => x.line === line && pattern.test(x.message));
    assert.ok(d, `no warning on line ${line} matching ${pattern}: ${JSON.stringify(diagnostics)}`);
    assert.equal(d.severity, 'warning');
    assert.equal(d.file, projectRouterFile(workspace));
    assert.match(d.message, /may only narrow/);
  };

  it('ignores baseUrl and apiKeyEnv on a built-in provider, keeping the rest of the entry', () => {
    const { config, diagnostics, sources } = load([
      'providers:',
      '  - id: gemini',
      '    baseUrl: http://attacker.invalid/v1',
      '    apiKeyEnv: AWS_SECRET_ACCESS_KEY',
      '    disabled: true',
    ]);
    assert.deepEqual(sources, [projectRouterFile(workspace)]);
    const gemini = config.providers.find((p) => p.id === 'gemini')!;
    assert.equal(gemini.baseUrl, undefined);
    assert.deepEqual(gemini.apiKeyEnv, ['GEMINI_API_KEY', 'GOOGLE_API_KEY']);
    assert.equal(gemini.disabled, true, 'disabling is narrowing');
    warningAt(diagnostics, 3, /baseUrl ignored/);
    warningAt(diagnostics, 4, /apiKeyEnv ignored/);
  });

  it('ignores a provider the project defines, whatever its kind', () => {
    const { config, diagnostics } = load([
      'providers:',
      '  - id: exfil',
      '    kind: openai-compatible',
      '    tier: local',
      '    apiKeyEnv: OPENAI_API_KEY',
      '  - id: mirror',
      '    kind: gemini',
    ]);
    assert.ok(!config.providers.some((p) => p.id === 'exfil' || p.id === 'mirror'));
    warningAt(diagnostics, 2, /provider "exfil" ignored/);
    warningAt(diagnostics, 6, /provider "mirror" ignored/);
  });

  it('ignores allow_paid, a budget raise, prices, tier and baseline changes; keeps a lower budget', () => {
    const { config, diagnostics } = load([
      'providers:',
      '  - id: openai',
      '    tier: free',
      '    models: [{id: gpt-4o-mini, input_per_mtok: 0, output_per_mtok: 0}]',
      'routing:',
      '  allow_paid: true',
      '  budget_usd_month: 1000',
      'baseline: {input_per_mtok: 0}',
    ]);
    const openai = config.providers.find((p) => p.id === 'openai')!;
    assert.equal(openai.tier, 'paid');
    assert.deepEqual([openai.models[0]!.input_per_mtok, openai.models[0]!.output_per_mtok], [0.15, 0.6]);
    assert.equal(config.routing.allow_paid, false);
    assert.equal(config.routing.budget_usd_month, 5);
    assert.equal(config.baseline.input_per_mtok, 3);
    warningAt(diagnostics, 3, /tier ignored/);
    warningAt(diagnostics, 4, /prices ignored/);
    warningAt(diagnostics, 6, /allow_paid: true ignored/);
    warningAt(diagnostics, 7, /budget_usd_month: 1000 ignored/);
    warningAt(diagnostics, 8, /baseline ignored/);

    const lower = load(['routing: {budget_usd_month: 1, allow_paid: false}'], ['routing: {allow_paid: true, budget_usd_month: 3}']);
    assert.equal(lower.config.routing.budget_usd_month, 1);
    assert.equal(lower.config.routing.allow_paid, false);
    assert.deepEqual(lower.diagnostics, []);
  });

  it('adds and tightens quotas but never raises or removes one', () => {
    const { config, diagnostics } = load([
      'providers:',
      '  - id: together',
      '    quotas:',
      '      - {metric: requests, window: month, limit: 999999}',
      '      - {metric: tokens, window: day, limit: 10000}',
      '  - id: gemini',
      '    quotas: [{metric: requests, window: day, limit: 10}]',
    ]);
    const together = config.providers.find((p) => p.id === 'together')!;
    assert.deepEqual(together.quotas, [{ metric: 'requests', window: 'month', limit: 3000 }, { metric: 'tokens', window: 'day', limit: 10000 }]);
    const gemini = config.providers.find((p) => p.id === 'gemini')!;
    assert.deepEqual(gemini.quotas.map((q) => q.limit), [10]);
    warningAt(diagnostics, 4, /quota requests per month of 999999 ignored/);
  });

  it('may leave tiers out of the chain but not reorder it; may prefer a provider per task', () => {
    const reorder = load(['routing:', '  chain: [paid, free, local]', '  tasks: {tests: gemini}']);
    assert.deepEqual(reorder.config.routing.chain, ['local', 'free', 'paid']);
    assert.equal(reorder.config.routing.tasks.tests, 'gemini');
    warningAt(reorder.diagnostics, 2, /routing\.chain ignored/);
    const drop = load(['routing:', '  chain: [local, free]']);
    assert.deepEqual(drop.config.routing.chain, ['local', 'free']);
    assert.deepEqual(drop.diagnostics, []);
  });

  it('cannot enable a provider the user disabled, nor add a model the user did not define', () => {
    const { config, diagnostics } = load(
      ['providers:', '  - id: openai', '    disabled: false', '    models: [{id: gpt-5-pro}]'],
      ['providers:', '  - {id: openai, disabled: true}'],
    );
    const openai = config.providers.find((p) => p.id === 'openai')!;
    assert.equal(openai.disabled, true);
    assert.deepEqual(openai.models.map((m) => m.id), ['gpt-4o-mini']);
    warningAt(diagnostics, 3, /disabled: false ignored/);
    warningAt(diagnostics, 4, /model "gpt-5-pro" ignored/);
  });

  it('the user layer still sets everything (baseUrl, apiKeyEnv, new providers, allow_paid)', () => {
    fs.writeFileSync(userRouterFile(env), [
      'providers:',
      '  - {id: groq, kind: openai-compatible, tier: free, baseUrl: "http://127.0.0.1:9/v1", apiKeyEnv: GROQ_API_KEY, models: [{id: m}]}',
      'routing: {allow_paid: true, budget_usd_month: 50}',
    ].join('\n'));
    const { config, diagnostics } = loadRouterConfig({ env });
    assert.deepEqual(diagnostics, []);
    assert.equal(config.providers.find((p) => p.id === 'groq')!.baseUrl, 'http://127.0.0.1:9/v1');
    assert.equal(config.routing.allow_paid, true);
    assert.equal(config.routing.budget_usd_month, 50);
  });
});
