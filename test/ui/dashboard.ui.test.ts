/**
 * The dashboard as a user sees it, with the packaged .vsix in code-server and Chromium: two real delegations
 * (the CLI against the fake provider, same SWITCHBOARD_HOME as the editor), then "Switchboard: Open Dashboard";
 * its figures must equal `switchboard report --json`, and a delegation made while it is open shows up without
 * a click (file watchers). Screenshots: test-results/ui-dashboard-light.png and ui-dashboard-dark.png.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startFakeProviderServer, type FakeProviderServer } from '../fakes/provider-server';
import { fakeProviderEnv } from '../extension/fakeProviders';
import { closeBrowser, copyWorkspace, launchChromium, makeScratch, REPO_ROOT, startCodeServer, workbenchUrl, type Browser, type CodeServer, type Page, type Scratch } from '../extension/harness';
import { installVsix, recordFailure, runCommand, screenshot, waitForWorkbench } from './workbench';

const VIEWPORT = { width: 1400, height: 1000 };
const KEY = 'ui-test-dummy-key-0000';

describe('Switchboard UI: the dashboard (packaged .vsix)', function () {
  this.timeout(180_000);
  const ORIGINAL_DOCS = '# Answer\n\nWritten by hand before any delegation.\n';
  let scratch: Scratch | undefined;
  let fake: FakeProviderServer | undefined;
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let workspace: string;

  /** Asynchronous on purpose: the fake provider answers from this process, so it must not be blocked. */
  function cli(args: string[]): Promise<string> {
    const env = { ...process.env, HOME: scratch!.home, SWITCHBOARD_HOME: scratch!.switchboardHome, ...fakeProviderEnv(fake!), GEMINI_API_KEY: KEY };
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'sidecar.js'), ...args, '--workspace', workspace], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(stdout);
        else reject(new Error(`switchboard ${args.join(' ')} exited ${code}: ${stderr}`));
      });
    });
  }

  const frame = () => page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  const figure = async (name: string) => ((await frame().locator(`[data-figure="${name}"] .value`).textContent()) ?? '').trim();

  before(async function () {
    this.timeout(400_000);
    scratch = makeScratch('switchboard-ui-dashboard-');
    installVsix(scratch);
    workspace = copyWorkspace(scratch);
    const settings = path.join(scratch.userDataDir, 'User', 'settings.json');
    fs.writeFileSync(settings, JSON.stringify({ ...JSON.parse(fs.readFileSync(settings, 'utf8')), 'workbench.colorTheme': 'Default Light Modern' }, null, 2));
    fake = await startFakeProviderServer({ reply: { text: 'export const answer = 42;\n', usage: { inputTokens: 1200, outputTokens: 300 } } });
    // docs/answer.md exists before its delegation overwrites it, so Restore has a version to bring back.
    fs.mkdirSync(path.join(workspace, 'docs'), { recursive: true });
    fs.writeFileSync(path.join(workspace, 'docs', 'answer.md'), ORIGINAL_DOCS);
    await cli(['delegate', 'code', '--prompt', 'answer', '--out', 'src/answer.ts']);
    await cli(['delegate', 'docs', '--prompt', 'explain', '--out', 'docs/answer.md']);
    server = await startCodeServer({ scratch, env: { ...fakeProviderEnv(fake), GEMINI_API_KEY: KEY } });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: VIEWPORT });
    page.setDefaultTimeout(45_000);
    await page.goto(workbenchUrl(server, workspace), { timeout: 30_000 });
    await waitForWorkbench(page);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page && scratch) await recordFailure(page, scratch, 'ui-dashboard', this.currentTest.title);
  });

  after(async () => {
    await closeBrowser(browser);
    await server?.stop();
    await fake?.close();
    scratch?.remove();
  });

  it('"Switchboard: Open Dashboard" shows the same figures as `switchboard report --json`', async () => {
    // The status-bar item is the extension's first visible sign of life.
    await page.locator('.statusbar-item', { hasText: 'Switchboard' }).first().waitFor();
    await runCommand(page, 'Switchboard: Open Dashboard');
    await page.locator('.tabs-container .tab.active', { hasText: 'Switchboard Dashboard' }).waitFor();
    await frame().locator('vscode-table-row').nth(1).waitFor({ timeout: 60_000 });
    const report = JSON.parse(await cli(['report', '--json']));
    const month = report.ledger_month;
    const money = (x: number) => `$${x.toFixed(x !== 0 && Math.abs(x) < 0.01 ? 4 : 2)}`;
    assert.equal(await figure('spent'), money(month.usd));
    assert.equal(await figure('saved'), money(Math.max(0, month.baseline_usd - month.usd)));
    assert.equal(await figure('calls'), String(month.calls));
    assert.equal(month.calls, report.totals.calls, 'the ledger and the audit log agree');
    const workspaceLine = (await frame().locator('[data-figure="workspace"]').textContent()) ?? '';
    assert.match(workspaceLine, new RegExp(`${report.totals.calls} delegations, spent \\${money(report.totals.spend_usd)}, saved \\${money(report.totals.saved_usd)}`));
    const tasks = await frame().locator('vscode-table-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-task')));
    assert.deepEqual(tasks, report.history.map((h: { task: string }) => h.task));
    assert.ok(await frame().locator('[role="progressbar"][aria-label^="gemini"]').count() > 0, 'gemini quota bars');
    assert.match((await frame().locator('.chain').textContent()) ?? '', /gemini \(free\) — ready/);
    await frame().locator('.chart canvas').waitFor();
    await page.mouse.move(VIEWPORT.width / 2, 5); // the title bar: no hover tooltip in the picture
    await page.waitForTimeout(500);
    await screenshot(page, 'ui-dashboard-light.png');
  });

  it('a delegation made while it is open appears by itself; dark theme', async () => {
    await cli(['delegate', 'tests', '--prompt', 'more', '--out', 'test/answer.test.ts']);
    await frame().locator('vscode-table-row').nth(2).waitFor({ timeout: 60_000 });
    assert.equal(await frame().locator('vscode-table-row').first().getAttribute('data-task'), 'tests', 'newest first');
    await runCommand(page, 'Preferences: Toggle between Light/Dark Themes');
    await page.locator('.monaco-workbench.vs-dark').waitFor();
    await page.waitForTimeout(1000);
    await screenshot(page, 'ui-dashboard-dark.png');
  });

  it('Restore on a history row brings the file back as it was before that delegation (CAS restore in the sidecar)', async () => {
    const file = path.join(workspace, 'docs', 'answer.md');
    assert.notEqual(fs.readFileSync(file, 'utf8'), ORIGINAL_DOCS, 'the delegation overwrote docs/answer.md');
    const row = frame().locator('vscode-table-row', { hasText: 'docs/answer.md' });
    await row.locator('vscode-button', { hasText: 'Restore' }).click();
    await frame().locator('#status', { hasText: 'Restored docs/answer.md' }).waitFor({ timeout: 60_000 });
    assert.equal(fs.readFileSync(file, 'utf8'), ORIGINAL_DOCS, 'the file holds its content from before the delegation');
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: /docs\/answer\.md restored; undo with backup / });
    await toast.waitFor();
    // Restoring again is a no-op: the file is already in that state, nothing else changes.
    await row.locator('vscode-button', { hasText: 'Restore' }).click();
    await page.locator('.notifications-toasts .notification-toast', { hasText: 'docs/answer.md was already in that state' }).waitFor({ timeout: 60_000 });
    await frame().locator('#status', { hasText: 'docs/answer.md was already as it was before that delegation' }).waitFor();
    assert.equal(fs.readFileSync(file, 'utf8'), ORIGINAL_DOCS);
  });

  it('Open on a history row opens the written file in an editor', async () => {
    await frame().locator('vscode-table-row', { hasText: 'src/answer.ts' }).locator('vscode-button', { hasText: 'Open' }).click();
    await page.locator('.tabs-container .tab.active[aria-label^="answer.ts"]').waitFor();
    const shown = page.locator('.editor-group-container.active .monaco-editor .view-lines', { hasText: /answer\s=\s42/ });
    await shown.waitFor();
  });
});
