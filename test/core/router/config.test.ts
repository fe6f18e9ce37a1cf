import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRouterConfig, projectRouterFile, userRouterFile } from '../../../src/core/router/config';

describe('router config: router.yaml layers', () => {
  let root: string;
  let workspace: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-router-config-'));
    workspace = path.join(root, 'ws');
    fs.mkdirSync(path.join(workspace, '.mcp'), { recursive: true });
    env = { SWITCHBOARD_HOME: path.join(root, 'home') };
    fs.mkdirSync(env.SWITCHBOARD_HOME!, { recursive: true });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const writeUser = (text: string) => fs.writeFileSync(userRouterFile(env), text);
  const writeProject = (text: string) => fs.writeFileSync(projectRouterFile(workspace), text);

  it('holds the seed free tiers and a local Ollama tier as built-in defaults', () => {
    const { config, diagnostics, sources } = loadRouterConfig({ workspace, env });
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(sources, []);
    const byId = Object.fromEntries(config.providers.map((p) => [p.id, p]));
    assert.deepEqual(byId.together!.quotas, [{ metric: 'requests', window: 'month', limit: 3000 }]);
    assert.deepEqual(byId.gemini!.quotas, [{ metric: 'requests', window: 'day', limit: 1500, reset_tz: 'America/Los_Angeles' }]);
    assert.deepEqual(byId.huggingface!.quotas, [{ metric: 'input_chars', window: 'month', limit: 30000 }]);
    assert.deepEqual(byId.openai!.quotas, [{ metric: 'usd', window: 'month', limit: 5 }]);
    assert.equal(byId.openai!.tier, 'paid');
    assert.equal(byId.local!.baseUrl, 'http://127.0.0.1:11434/v1');
    assert.equal(byId.local!.tier, 'local');
    assert.deepEqual(config.routing.chain, ['local', 'free', 'paid']);
    assert.equal(config.routing.allow_paid, false);
    assert.deepEqual(config.alerts, [0.8, 0.95, 1.0]);
    assert.deepEqual([config.baseline.input_per_mtok, config.baseline.output_per_mtok], [3, 15]);
    assert.deepEqual(byId.gemini!.apiKeyEnv, ['GEMINI_API_KEY', 'GOOGLE_API_KEY']);
  });

  it('merges project over user over defaults by provider id, field by field', () => {
    writeUser([
      'providers:',
      '  - id: gemini',
      '    baseUrl: http://127.0.0.1:9/gemini',
      '    quotas: [{metric: requests, window: day, limit: 100, reset_tz: America/Los_Angeles}]',
      '  - id: groq',
      '    kind: openai-compatible',
      '    tier: free',
      '    apiKeyEnv: GROQ_API_KEY',
      '    models: [{id: llama-3.1-8b-instant, context: 8000}]',
      'routing: {allow_paid: true, budget_usd_month: 2, tasks: {tests: gemini}}',
    ].join('\n'));
    writeProject([
      'providers:',
      '  - id: gemini',
      '    quotas: [{metric: requests, window: day, limit: 50}]',
      'routing: {tasks: {docs: together}}',
      'alerts: [1.0, 0.5]',
    ].join('\n'));
    const { config, diagnostics, sources } = loadRouterConfig({ workspace, env });
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(sources, [userRouterFile(env), projectRouterFile(workspace)]);
    const gemini = config.providers.find((p) => p.id === 'gemini')!;
    assert.equal(gemini.baseUrl, 'http://127.0.0.1:9/gemini', 'user field kept where the project is silent');
    assert.deepEqual(gemini.quotas, [{ metric: 'requests', window: 'day', limit: 50, reset_tz: 'America/Los_Angeles' }], 'the project tightens the user quota');
    assert.equal(gemini.models[0]!.id, 'gemini-2.5-flash', 'default models kept');
    assert.equal(gemini.source, projectRouterFile(workspace));
    const groq = config.providers.find((p) => p.id === 'groq')!;
    assert.deepEqual(groq.apiKeyEnv, ['GROQ_API_KEY']);
    assert.deepEqual(groq.models, [{ id: 'llama-3.1-8b-instant', input_per_mtok: 0, output_per_mtok: 0, context: 8000, capabilities: undefined }]);
    assert.equal(config.routing.allow_paid, true);
    assert.equal(config.routing.budget_usd_month, 2);
    assert.deepEqual(config.routing.tasks, { tests: 'gemini', docs: 'together' });
    assert.deepEqual(config.alerts, [0.5, 1.0]);
  });

  it('a broken project file falls back to the user layer and reports the line', () => {
    writeUser('routing: {allow_paid: true}\n');
    writeProject('routing:\n  allow_paid: true\n  chain: [local, cheap]\n');
    const { config, diagnostics, sources } = loadRouterConfig({ workspace, env });
    assert.deepEqual(sources, [userRouterFile(env)]);
    assert.equal(config.routing.allow_paid, true);
    assert.deepEqual(config.routing.chain, ['local', 'free', 'paid']);
    const err = diagnostics.find((d) => d.severity === 'error')!;
    assert.equal(err.file, projectRouterFile(workspace));
    assert.equal(err.line, 3);
    assert.match(err.message, /routing\.chain\[1\]: must be one of "local", "free", "paid"/);
    assert.ok(diagnostics.some((d) => d.severity === 'warning' && /not applied/.test(d.message)));
  });

  it('a YAML syntax error falls back to defaults with the error line', () => {
    writeUser('providers:\n  - id: gemini\n    quotas: [\n');
    const { config, diagnostics, sources } = loadRouterConfig({ env });
    assert.deepEqual(sources, []);
    assert.equal(config.providers.find((p) => p.id === 'gemini')!.quotas[0]!.limit, 1500);
    assert.ok(diagnostics.some((d) => d.severity === 'error' && d.file === userRouterFile(env) && d.line >= 3));
  });

  it('reports a new provider without a kind and an unknown time zone', () => {
    writeUser([
      'providers:',
      '  - id: mystery',
      '    models: [{id: m1}]',
      '  - id: gemini',
      '    quotas:',
      '      - {metric: requests, window: day, limit: 5, reset_tz: Mars/Olympus}',
    ].join('\n'));
    const { diagnostics, sources } = loadRouterConfig({ env });
    assert.deepEqual(sources, []);
    const kind = diagnostics.find((d) => /"kind" is required/.test(d.message))!;
    assert.equal(kind.line, 2);
    const tz = diagnostics.find((d) => /unknown time zone "Mars\/Olympus"/.test(d.message))!;
    assert.equal(tz.line, 6);
  });

  it('warns (without rejecting the file) about a task routed to an unknown provider', () => {
    writeProject('routing:\n  tasks:\n    tests: gemeni\n');
    const { config, diagnostics, sources } = loadRouterConfig({ workspace, env });
    assert.deepEqual(sources, [projectRouterFile(workspace)]);
    assert.equal(config.routing.tasks.tests, 'gemeni');
    const w = diagnostics.find((d) => /no provider "gemeni"/.test(d.message))!;
    assert.equal(w.severity, 'warning');
    assert.equal(w.line, 3);
  });
});
