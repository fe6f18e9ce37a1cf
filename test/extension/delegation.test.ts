/**
 * Delegation in a real VS Code extension host: the commands drive the extension's own sidecar, which calls the
 * fake provider server the runner started (SWITCHBOARD_GEMINI_BASE_URL); the key goes in through SecretStorage.
 * Covers the proposal diff, Apply (written through the sidecar, with a backup), Discard, restore (with a
 * conflict), cancellation, incomplete output, and Install for Claude Code. Target rules are checked first.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import type { SwitchboardApi } from '../../src/extension/api';
import type { ApplyOutcome, DelegationOutcome } from '../../src/extension/delegation/service';
import type { RestoreOutcome } from '../../src/extension/commands/restoreBackup';
import type { InstallOutcome } from '../../src/extension/commands/installForClaudeCode';
import { FAKE_ORIGIN_ENV } from './fakeProviders';
import { waitFor } from './wait';

const EXTENSION_ID = 'switchboard.switchboard';
const KEY_ENV = 'GEMINI_API_KEY';
const DUMMY_KEY = 'test-gemini-key-0123456789';

/** The fake provider server's control API (it runs in the runner's process). */
const fake = {
  origin(): string {
    const origin = process.env[FAKE_ORIGIN_ENV];
    assert.ok(origin, `${FAKE_ORIGIN_ENV} is set by the runner`);
    return origin;
  },
  async call(name: string, args: unknown = {}): Promise<unknown> {
    const response = await fetch(`${fake.origin()}/__control/${name}`, { method: 'POST', body: JSON.stringify(args), signal: AbortSignal.timeout(5000) });
    return response.json();
  },
  reply: (text: string) => fake.call('reply', { reply: { text, usage: { inputTokens: 120, outputTokens: 80 } } }),
  enqueue: (fault: Record<string, unknown>) => fake.call('enqueue', { route: 'gemini', fault, times: 1 }),
  requests: async () => (await fake.call('requests')) as Array<{ route: string; body: string; model?: string }>,
  reset: () => fake.call('reset'),
};

function proposalTabs(): vscode.Tab[] {
  return vscode.window.tabGroups.all
    .flatMap((g) => g.tabs)
    .filter((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.scheme === 'switchboard-proposal');
}

const FIRST_TESTS = "import assert from 'node:assert/strict';\nimport { slugify } from '../src/slugify';\n\nassert.equal(slugify('Hello, World!'), 'hello-world');\n";
const SECOND_TESTS = FIRST_TESTS + "assert.equal(slugify('Crème brûlée'), 'creme-brulee');\n";

describe('Delegation in a real VS Code (sidecar + fake provider)', function () {
  this.timeout(60_000);
  let api: SwitchboardApi;
  let folder: vscode.WorkspaceFolder;
  let root: string;
  const testFile = () => path.join(root, 'test', 'slugify.test.ts');

  let savedHome: string | undefined;
  let isolatedHome: string | undefined;
  const waitForGeminiKey = (present: boolean) =>
    waitFor(
      `the sidecar to see the Gemini key ${present ? 'set' : 'removed'}`,
      async () => {
        const status = await api.sidecars.callTool(root, 'quota_status');
        return status.providers.find((p) => p.id === 'gemini')?.has_key === present;
      },
      60_000,
    );
  const listBackups = async (file: string) => (await api.sidecars.callTool(root, 'list_backups', { path: file })).backups;
  const delegateTests = () => vscode.commands.executeCommand<DelegationOutcome>('switchboard.delegateTestsToGemini', vscode.Uri.file(path.join(root, 'src', 'slugify.ts')));

  before(async function () {
    this.timeout(90_000);
    const extension = vscode.extensions.getExtension<SwitchboardApi>(EXTENSION_ID);
    assert.ok(extension);
    api = await extension.activate();
    folder = vscode.workspace.workspaceFolders![0]!;
    root = folder.uri.fsPath;
    await fake.reset();
    // The other suites expect an untouched quota ledger: delegations here count against a user-state folder of
    // their own. The sidecar reads the environment at each (re)start.
    savedHome = process.env.SWITCHBOARD_HOME;
    isolatedHome = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-delegation-home-'));
    process.env.SWITCHBOARD_HOME = isolatedHome;
    // A user's way in: the key goes to SecretStorage and from there into the sidecar's environment.
    await api.keys.set(KEY_ENV, DUMMY_KEY);
    await api.sidecars.restartRunning('delegation suite: own SWITCHBOARD_HOME and key');
    await waitForGeminiKey(true);
  });

  after(async function () {
    this.timeout(90_000);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    if (savedHome === undefined) delete process.env.SWITCHBOARD_HOME;
    else process.env.SWITCHBOARD_HOME = savedHome;
    await api?.keys.delete(KEY_ENV);
    await api?.sidecars.restartRunning('delegation suite done');
    // The next suite must find a settled sidecar, not one restarting under it.
    await waitForGeminiKey(false);
    if (isolatedHome) fs.rmSync(isolatedHome, { recursive: true, force: true });
    // Leave the workspace as the other suites expect it.
    fs.rmSync(path.join(root, 'test'), { recursive: true, force: true });
    fs.rmSync(path.join(root, 'docs'), { recursive: true, force: true });
    await fake.reset();
  });

  afterEach(async function () {
    // A proposal left by a failed test must not be applied by the next one.
    if (this.currentTest?.state !== 'failed') return;
    for (const tab of proposalTabs()) await vscode.commands.executeCommand('switchboard.discardProposal', (tab.input as vscode.TabInputTextDiff).modified);
  });

  it('contributes every delegation command, the walkthrough with its media, and scoped settings', async () => {
    const pkg = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as {
      contributes: { commands: Array<{ command: string; title: string }>; walkthroughs: Array<{ steps: Array<{ media: { markdown: string } }> }>; configuration: { properties: Record<string, { scope: string }> } };
    };
    const registered = new Set(await vscode.commands.getCommands(true));
    const expected = {
      'switchboard.delegateTask': 'Delegate Task…',
      'switchboard.delegateTestsToGemini': 'Delegate Tests to Gemini',
      'switchboard.delegateDocsToGemini': 'Delegate Docs to Gemini',
      'switchboard.delegateBoilerplateToOpenAI': 'Delegate Boilerplate to OpenAI',
      'switchboard.delegateCodeToTogether': 'Delegate Code to Together AI',
      'switchboard.delegateToCheapest': 'Delegate to Cheapest Provider',
      'switchboard.applyProposal': 'Apply Proposal',
      'switchboard.discardProposal': 'Discard Proposal',
      'switchboard.restoreBackup': 'Restore Backup…',
      'switchboard.installForClaudeCode': 'Install for Claude Code',
      'switchboard.refresh': 'Refresh',
      'switchboard.showLog': 'Show Log',
    };
    for (const [id, title] of Object.entries(expected)) {
      assert.equal(pkg.contributes.commands.find((c) => c.command === id)?.title, title, `${id} is contributed as "${title}"`);
      assert.ok(registered.has(id), `${id} is registered`);
    }
    const extensionPath = vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath;
    const steps = pkg.contributes.walkthroughs[0]!.steps;
    assert.equal(steps.length, 3);
    for (const step of steps) assert.ok(fs.existsSync(path.join(extensionPath, step.media.markdown)), `${step.media.markdown} exists`);
    assert.equal(pkg.contributes.configuration.properties['switchboard.delegation.testLocation']?.scope, 'resource');
    assert.equal(pkg.contributes.configuration.properties['switchboard.sidecar.nodePath']?.scope, 'machine');
  });

  it('Delegate Tests to Gemini opens a diff of an empty new file against the proposal, writing nothing', async () => {
    await fake.reply('```ts\n' + FIRST_TESTS + '```');
    const before = (await fake.requests()).length;
    await vscode.window.showTextDocument(vscode.Uri.file(path.join(root, 'src', 'slugify.ts')));
    const outcome = await vscode.commands.executeCommand<DelegationOutcome>('switchboard.delegateTestsToGemini');
    assert.equal(outcome.status, 'proposed', JSON.stringify(outcome));
    assert.ok(outcome.status === 'proposed');
    assert.equal(outcome.target, 'test/slugify.test.ts', 'tests land in test/, mirroring src/');
    assert.equal(outcome.provider, 'gemini');
    assert.equal(outcome.complete, true);

    const requests = (await fake.requests()).slice(before);
    assert.equal(requests.length, 1, 'one call to the provider');
    assert.equal(requests[0]!.route, 'gemini');
    assert.match(requests[0]!.body, /export function slugify/, 'the source file went along as context');
    assert.match(requests[0]!.body, /test\/slugify\.test\.ts/, 'the prompt names the target');

    const tab = await waitFor('the proposal diff to be the active tab', () => {
      const active = vscode.window.tabGroups.activeTabGroup.activeTab;
      return active?.input instanceof vscode.TabInputTextDiff && active.input.modified.scheme === 'switchboard-proposal' ? active : undefined;
    });
    const input = tab.input as vscode.TabInputTextDiff;
    assert.match(tab.label, /slugify\.test\.ts \(new file\) ↔ gemini proposal/);
    assert.equal(input.original.scheme, 'switchboard-proposal', 'a new file is compared with an empty document');
    assert.equal((await vscode.workspace.openTextDocument(input.original)).getText(), '');
    assert.equal((await vscode.workspace.openTextDocument(input.modified)).getText(), FIRST_TESTS, 'the proposal is the reply without its fence');
    assert.equal(fs.existsSync(testFile()), false, 'nothing is written before Apply');
  });

  it('Apply writes through the sidecar with a backup, closes the diff and opens the file', async () => {
    const outcome = await vscode.commands.executeCommand<ApplyOutcome>('switchboard.applyProposal');
    assert.equal(outcome.status, 'applied', JSON.stringify(outcome));
    assert.ok(outcome.status === 'applied');
    assert.equal(outcome.created, true);
    assert.equal(fs.readFileSync(testFile(), 'utf8'), FIRST_TESTS);
    assert.equal(proposalTabs().length, 0, 'the diff is closed');
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, testFile(), 'the written file is open');
    const backups = await listBackups('test/slugify.test.ts');
    const backup = backups.find((b) => b.id === outcome.backupId);
    assert.ok(backup, `backup ${outcome.backupId} is listed: ${JSON.stringify(backups)}`);
    assert.equal(backup.existed, false, 'the backup records that the file did not exist');
    assert.equal(backup.actor, 'extension');
  });

  it('a second proposal diffs against the file on disk; Apply backs up the old content; Restore Backup puts it back', async () => {
    await fake.reply(SECOND_TESTS);
    const outcome = await delegateTests();
    assert.equal(outcome.status, 'proposed', JSON.stringify(outcome));
    const tab = await waitFor('the diff', () => proposalTabs()[0]);
    const input = tab.input as vscode.TabInputTextDiff;
    assert.equal(input.original.fsPath, testFile(), 'the left side is the current file');
    assert.match(tab.label, /\(current\)/);
    const applied = await vscode.commands.executeCommand<ApplyOutcome>('switchboard.applyProposal', input.modified);
    assert.ok(applied.status === 'applied', JSON.stringify(applied));
    assert.equal(applied.created, false);
    assert.equal(fs.readFileSync(testFile(), 'utf8'), SECOND_TESTS);
    const backup = (await listBackups('test/slugify.test.ts')).find((b) => b.id === applied.backupId);
    assert.ok(backup?.existed && backup.bytes === Buffer.byteLength(FIRST_TESTS), `the backup holds the previous ${Buffer.byteLength(FIRST_TESTS)} bytes: ${JSON.stringify(backup)}`);

    const restored = await vscode.commands.executeCommand<RestoreOutcome>('switchboard.restoreBackup', { folder, backupId: applied.backupId });
    assert.ok(restored?.status === 'restored', JSON.stringify(restored));
    assert.equal(fs.readFileSync(testFile(), 'utf8'), FIRST_TESTS, 'the old state is back');
  });

  it('Restore Backup refuses a file edited since Switchboard wrote it, until forced', async () => {
    const newest = (await listBackups('test/slugify.test.ts'))[0]!;
    fs.writeFileSync(testFile(), 'edited by hand\n');
    const refused = await vscode.commands.executeCommand<RestoreOutcome>('switchboard.restoreBackup', { folder, backupId: newest.id, force: false });
    assert.equal(refused?.status, 'conflict', JSON.stringify(refused));
    assert.equal(fs.readFileSync(testFile(), 'utf8'), 'edited by hand\n', 'a refused restore changes nothing');
    const forced = await vscode.commands.executeCommand<RestoreOutcome>('switchboard.restoreBackup', { folder, backupId: newest.id, force: true });
    assert.ok(forced?.status === 'restored' && forced.result.forced, JSON.stringify(forced));
    assert.notEqual(fs.readFileSync(testFile(), 'utf8'), 'edited by hand\n');
    const handEdit = (await listBackups('test/slugify.test.ts')).find((b) => b.id === forced.result.backup_id);
    assert.ok(handEdit, 'the hand edit was backed up before the forced restore');
  });

  it('Discard closes the diff and writes nothing', async () => {
    await fake.reply('# slugify\n\nTurns titles into URL slugs.\n');
    const outcome = await vscode.commands.executeCommand<DelegationOutcome>('switchboard.delegateDocsToGemini', vscode.Uri.file(path.join(root, 'src', 'slugify.ts')));
    assert.ok(outcome.status === 'proposed', JSON.stringify(outcome));
    assert.equal(outcome.target, 'docs/slugify.md');
    await waitFor('the diff', () => proposalTabs()[0]);
    assert.equal(await vscode.commands.executeCommand('switchboard.discardProposal'), true);
    assert.equal(proposalTabs().length, 0, 'the diff is closed');
    assert.equal(fs.existsSync(path.join(root, 'docs', 'slugify.md')), false, 'nothing was written');
    assert.deepEqual(await listBackups('docs/slugify.md'), [], 'no write, no backup');
    assert.equal(await vscode.commands.executeCommand('switchboard.discardProposal', outcome.proposalId), false, 'a settled proposal cannot be discarded twice');
  });

  it('Delegate Task… with its answers given routes Auto to the cheapest provider with a key, into the chosen target', async () => {
    await fake.reply('export const greeting = "hi";\n');
    const outcome = await vscode.commands.executeCommand<DelegationOutcome>('switchboard.delegateTask', {
      source: vscode.Uri.file(path.join(root, 'src', 'slugify.ts')),
      task: 'boilerplate',
      provider: 'auto',
      target: './src/greeting.ts',
      instruction: 'Export a constant greeting.',
    });
    assert.ok(outcome?.status === 'proposed', JSON.stringify(outcome));
    assert.equal(outcome.target, 'src/greeting.ts', 'the typed target is normalised');
    assert.equal(outcome.provider, 'gemini', 'the only provider with a key (and no local server) is the cheapest available');
    assert.equal(await vscode.commands.executeCommand('switchboard.discardProposal', outcome.proposalId), true);
    const refused = await vscode.commands.executeCommand<DelegationOutcome>('switchboard.delegateTask', { source: vscode.Uri.file(path.join(root, 'src', 'slugify.ts')), task: 'docs', provider: 'gemini', target: '../outside.md' });
    assert.ok(refused?.status === 'failed' && /inside the workspace/.test(refused.message), JSON.stringify(refused));
  });

  it('incomplete output is flagged in the outcome and the diff title', async () => {
    await fake.reply(FIRST_TESTS);
    await fake.enqueue({ kind: 'finish_length' });
    const outcome = await delegateTests();
    assert.ok(outcome.status === 'proposed', JSON.stringify(outcome));
    assert.equal(outcome.complete, false);
    const tab = await waitFor('the diff', () => proposalTabs()[0]);
    assert.match(tab.label, /INCOMPLETE/);
    assert.equal(await vscode.commands.executeCommand('switchboard.discardProposal', outcome.proposalId), true);
  });

  it('Cancel Delegation aborts the provider call in flight; nothing is proposed or written', async () => {
    const before = (await fake.requests()).length;
    const written = fs.readFileSync(testFile(), 'utf8');
    await fake.enqueue({ kind: 'hang_before_headers' });
    const running = delegateTests();
    await waitFor('the provider to receive the request', async () => (await fake.requests()).length > before);
    const started = Date.now();
    assert.equal(await vscode.commands.executeCommand('switchboard.cancelDelegation'), 1, 'one delegation was running');
    const outcome = await running;
    assert.equal(outcome.status, 'cancelled', JSON.stringify(outcome));
    assert.ok(Date.now() - started < 15_000, 'cancellation does not wait for the provider');
    assert.equal(proposalTabs().length, 0);
    assert.equal(fs.readFileSync(testFile(), 'utf8'), written);
    // The sidecar is still usable after the abort.
    await fake.reply(SECOND_TESTS);
    const next = await delegateTests();
    assert.ok(next.status === 'proposed', JSON.stringify(next));
    assert.equal(await vscode.commands.executeCommand('switchboard.discardProposal', next.proposalId), true);
  });

  it('Install for Claude Code (project scope) registers the bundled sidecar in .mcp.json, keeping the other servers', async () => {
    const mcpJson = path.join(root, '.mcp.json');
    const original = fs.readFileSync(mcpJson, 'utf8');
    const others = Object.keys((JSON.parse(original) as { mcpServers: Record<string, unknown> }).mcpServers);
    try {
      const outcome = await vscode.commands.executeCommand<InstallOutcome>('switchboard.installForClaudeCode', { scope: 'project', folder });
      assert.ok(outcome?.status === 'installed', JSON.stringify(outcome));
      assert.equal(outcome.result.verify, 'claude mcp list');
      assert.ok(outcome.result.backup_id, 'the old .mcp.json was backed up');
      const servers = (JSON.parse(fs.readFileSync(mcpJson, 'utf8')) as { mcpServers: Record<string, { command: string; args: string[] }> }).mcpServers;
      for (const name of others) assert.ok(servers[name], `${name} is kept`);
      assert.equal(servers.switchboard?.command, 'node');
      assert.equal(servers.switchboard?.args[1], 'serve');
      assert.equal(fs.realpathSync(servers.switchboard!.args[0]!), fs.realpathSync(path.join(vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath, 'dist', 'sidecar.js')));
    } finally {
      // .mcp.json is outside what the file tools may restore (it can run commands); put it back directly.
      fs.writeFileSync(mcpJson, original);
    }
  });
});
