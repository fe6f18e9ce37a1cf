import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { collectContextState, syncProjectContext, USER_END, USER_START, type ContextDeps } from '../../../src/core/context';
import { appendAudit, WorkspaceFiles } from '../../../src/core/files';
import { SqlJsLedger } from '../../../src/core/ledger';
import { loadRouterConfig } from '../../../src/core/router';

const REPO = path.resolve(__dirname, '../../..');
const SAMPLE = path.join(REPO, 'media', 'sample-workspace');
const BUNDLED = path.join(REPO, 'media', 'default-agents');

describe('context: collect and sync PROJECT_CONTEXT.md', function () {
  this.timeout(20_000);
  let root: string;
  let workspace: string;
  let env: NodeJS.ProcessEnv;
  let ledger: SqlJsLedger;
  let deps: ContextDeps;
  const file = () => path.join(workspace, 'PROJECT_CONTEXT.md');
  const read = () => fs.readFileSync(file(), 'utf8');

  beforeEach(async () => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-context-')));
    workspace = path.join(root, 'ws');
    // Only the sample's definitions: state another suite may have left in it is not part of the sample.
    fs.cpSync(SAMPLE, workspace, { recursive: true, filter: (src) => path.basename(src) !== '.switchboard' });
    fs.mkdirSync(path.join(workspace, '.git'));
    fs.writeFileSync(path.join(workspace, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    fs.writeFileSync(path.join(workspace, 'package.json'), JSON.stringify({ name: 'sample-app' }));
    fs.mkdirSync(path.join(root, 'home'));
    env = { HOME: path.join(root, 'home'), SWITCHBOARD_HOME: path.join(root, 'sb') };
    ledger = await SqlJsLedger.open({ file: path.join(root, 'sb', 'ledger.sqlite') });
    deps = { env, bundledAgentsDir: BUNDLED, ledger };
  });
  afterEach(async () => {
    await ledger.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('collects name, branch, effective agents, servers, quota left (ledger) and recent delegations (audit log)', async () => {
    const gemini = loadRouterConfig({ workspace, env }).config.providers.find((p) => p.id === 'gemini')!;
    const r = await ledger.reserve({ providerId: 'gemini', rules: gemini.quotas, amounts: { requests: 1 } });
    assert.ok(r.ok);
    await ledger.settle(r.reservationId, gemini.quotas, { providerId: 'gemini', model: 'gemini-2.5-flash', tier: 'free', ok: true, amounts: { requests: 1 }, inputTokens: 10, outputTokens: 10, costUsd: 0, baselineUsd: 0 });
    for (let i = 1; i <= 7; i++) {
      await appendAudit(workspace, { actor: 'claude-code', op: 'delegate', time: `2026-03-0${i}T12:00:00.000Z`, task: `task-${i}`, provider: 'gemini', model: 'gemini-2.5-flash', outcome: 'ok' });
    }
    await appendAudit(workspace, { actor: 'claude-code', op: 'read', path: 'src/slugify.ts', outcome: 'ok' });

    const state = await collectContextState(workspace, deps);
    assert.deepEqual(state.project, { name: 'sample-app', branch: 'main' });
    assert.ok(state.agents.some((a) => a.id === 'test-writer' && a.layer === 'defaults' && a.model === 'haiku'), JSON.stringify(state.agents));
    assert.ok(state.servers.some((s) => s.status === 'optional (off)'));
    assert.deepEqual(state.providers.find((p) => p.id === 'gemini')!.quotas, [{ metric: 'requests', window: 'day', limit: 1500, used: 1 }]);
    assert.deepEqual(state.delegations.map((d) => d.task), ['task-7', 'task-6', 'task-5', 'task-4', 'task-3'], 'the 5 newest delegations, newest first');

    await syncProjectContext(workspace, deps, { actor: 'cli' });
    assert.match(read(), /\| gemini \| free \| gemini-2\.5-flash \| 1499 of 1500 requests\/day \|/);
  });

  it('writes through the file policy with a backup; an unchanged state rewrites nothing (mtime kept)', async () => {
    const first = await syncProjectContext(workspace, deps, { actor: 'cli' });
    assert.equal(first.changed, true);
    assert.equal(first.existed, false);
    assert.ok(first.backupId);
    const bytes = read();

    const past = new Date('2001-01-01T00:00:00Z');
    fs.utimesSync(file(), past, past);
    const second = await syncProjectContext(workspace, deps, { actor: 'cli' });
    assert.deepEqual([second.changed, second.stale, second.backupId], [false, false, undefined]);
    assert.equal(fs.statSync(file()).mtimeMs, past.getTime(), 'not rewritten');
    assert.equal(read(), bytes, 'same state, same bytes');

    // A changed state: rewritten, the previous version backed up and restorable.
    fs.writeFileSync(path.join(workspace, '.agents', 'core', 'release-manager.yaml'),
      'metadata:\n  id: release-manager\n  version: 1.0.0\n  description: Cuts releases\n  category: ops\nruntime:\n  model: sonnet\nimplementation:\n  type: markdown\n  source: Cut the release.\n');
    const third = await syncProjectContext(workspace, deps, { actor: 'cli' });
    assert.equal(third.changed, true);
    assert.deepEqual(third.sections, ['Agents']);
    assert.match(read(), /\| release-manager \| core \| sonnet \| Cuts releases \|/);
    const files = await WorkspaceFiles.open(workspace, { actor: 'cli' });
    const backups = await files.listBackups({ path: 'PROJECT_CONTEXT.md' });
    assert.equal(backups[0]!.id, third.backupId);
    assert.equal(backups[0]!.actor, 'cli');
    await files.restore(third.backupId!, { actor: 'cli' });
    assert.equal(read(), bytes, 'the backup holds the previous version');
  });

  it('keeps the user section verbatim across regenerations', async () => {
    await syncProjectContext(workspace, deps, { actor: 'cli' });
    const notes = '\nDeploys go through `make ship`.\n\n  - never edit generated/\n';
    const text = read();
    fs.writeFileSync(file(), text.slice(0, text.indexOf(USER_START) + USER_START.length) + notes + text.slice(text.indexOf(USER_END)));
    fs.writeFileSync(path.join(workspace, '.git', 'HEAD'), 'ref: refs/heads/release\n');
    const result = await syncProjectContext(workspace, deps, { actor: 'cli' });
    assert.equal(result.changed, true);
    assert.deepEqual(result.sections, ['(header)']);
    assert.ok(read().includes(`${USER_START}${notes}${USER_END}`));
    assert.match(read(), /^- Branch: `release`$/m);
  });

  it('a hand-written PROJECT_CONTEXT.md is kept in the user section and backed up', async () => {
    fs.writeFileSync(file(), '# Our own context\n\nImportant: staging is eu-west-1.\n');
    const result = await syncProjectContext(workspace, deps, { actor: 'cli' });
    assert.equal(result.existed, true);
    assert.match(read(), /<!-- switchboard:user-start -->\n# Our own context\n\nImportant: staging is eu-west-1.\n<!-- switchboard:user-end -->/);
    assert.ok(result.backupId);
  });

  it('check mode writes nothing and reports stale / current', async () => {
    const missing = await syncProjectContext(workspace, deps, { actor: 'cli', check: true });
    assert.deepEqual([missing.stale, missing.changed, missing.existed], [true, false, false]);
    assert.equal(fs.existsSync(file()), false);
    assert.equal(fs.existsSync(path.join(workspace, '.switchboard')), false, 'no state folder created either');
    await syncProjectContext(workspace, deps, { actor: 'cli' });
    assert.equal((await syncProjectContext(workspace, deps, { actor: 'cli', check: true })).stale, false);
  });

  it('keeps CRLF line endings of a checked-out copy (no endless "stale")', async () => {
    await syncProjectContext(workspace, deps, { actor: 'cli' });
    fs.writeFileSync(file(), read().replace(/\n/g, '\r\n'));
    const result = await syncProjectContext(workspace, deps, { actor: 'cli', check: true });
    assert.equal(result.stale, false);
  });

  it('a policy that forbids PROJECT_CONTEXT.md is a clear refusal, and nothing is written', async () => {
    fs.writeFileSync(path.join(workspace, '.mcp', 'policy.yaml'), 'forbidden:\n  - PROJECT_CONTEXT.md\n');
    await assert.rejects(syncProjectContext(workspace, deps, { actor: 'cli' }), (err: Error) => {
      assert.match(err.message, /^Writing "?PROJECT_CONTEXT\.md"? is not allowed: .*\(rule: forbidden\)$/);
      return true;
    });
    assert.equal(fs.existsSync(file()), false);
  });

  it('without a ledger, quota shows as unknown rather than failing', async () => {
    const result = await syncProjectContext(workspace, { env, bundledAgentsDir: BUNDLED }, { actor: 'cli' });
    assert.match(result.content, /\| gemini \| free \| gemini-2\.5-flash \| unknown \(ledger unavailable\) \|/);
  });
});
