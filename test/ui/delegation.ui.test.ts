/**
 * Delegation as a user sees it, with the packaged .vsix in code-server and Chromium: open src/slugify.ts,
 * F1 → "Switchboard: Delegate Tests to Gemini", review the proposal diff, click Apply, see the written test
 * file. The provider is the fake server on 127.0.0.1; the key is a dummy in code-server's environment.
 * Screenshots: test-results/ui-delegation-*.png.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startFakeProviderServer, type FakeProviderServer } from '../fakes/provider-server';
import { fakeProviderEnv } from '../extension/fakeProviders';
import {
  closeBrowser,
  copyWorkspace,
  launchChromium,
  makeScratch,
  startCodeServer,
  workbenchUrl,
  type Browser,
  type CodeServer,
  type Page,
  type Scratch,
} from '../extension/harness';
import { explainFailure, installVsix, recordFailure, runCommand, screenshot, waitForWorkbench } from './workbench';

const VIEWPORT = { width: 1400, height: 900 };
const GENERATED = [
  "import assert from 'node:assert/strict';",
  "import { test } from 'node:test';",
  "import { slugify } from '../src/slugify';",
  '',
  "test('turns a title into a slug', () => {",
  "  assert.equal(slugify('Hello, World!'), 'hello-world');",
  '});',
  '',
  "test('removes accents', () => {",
  "  assert.equal(slugify('Crème brûlée'), 'creme-brulee');",
  '});',
  '',
].join('\n');

/**
 * Waits for the delegation's proposal tab; a Switchboard warning or error toast (a failed delegation, no file)
 * ends the wait at once with its text, the other toasts and the log, instead of a bare timeout.
 */
async function waitForProposal(page: Page, tab: ReturnType<Page['locator']>, scratch: Scratch): Promise<void> {
  const problem = page.locator('.notifications-toasts .notification-toast', { hasText: 'Switchboard', has: page.locator('.codicon-warning, .codicon-error') });
  await tab.or(problem).first().waitFor({ timeout: 150_000 }).catch(async (error: unknown) => {
    throw new Error(`no proposal within 150 s (${String(error).split('\n')[0]})\n${await explainFailure(page, scratch)}`);
  });
  if (!(await tab.isVisible())) throw new Error(`the delegation did not propose anything\n${await explainFailure(page, scratch)}`);
}

/** The day of Gemini's daily quota window (it resets at midnight in Los Angeles). */
function geminiDay(): string {
  return new Date().toLocaleDateString('en-CA', { timeZone: 'America/Los_Angeles' });
}

/** Monaco renders spaces as no-break spaces; compare text with ordinary spaces. */
async function editorText(editor: ReturnType<Page['locator']>): Promise<string> {
  return ((await editor.locator('.view-lines').first().textContent()) ?? '').replace(/\u00a0/g, ' ');
}

describe('Switchboard UI: delegation with diff preview (packaged .vsix)', function () {
  // A first delegation starts the sidecar and loads the provider SDK: on a busy machine that takes a while.
  this.timeout(240_000);
  let scratch: Scratch | undefined;
  let fake: FakeProviderServer | undefined;
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let workspace: string;
  let installedDir: string;
  let firstDelegationDay = '';

  before(async function () {
    this.timeout(300_000);
    scratch = makeScratch('switchboard-ui-delegation-');
    installedDir = path.join(scratch.extensionsDir, installVsix(scratch));
    workspace = copyWorkspace(scratch);
    fake = await startFakeProviderServer({ reply: { text: '```ts\n' + GENERATED + '```', usage: { inputTokens: 412, outputTokens: 96 } } });
    server = await startCodeServer({ scratch, env: { ...fakeProviderEnv(fake), GEMINI_API_KEY: 'ui-test-dummy-key-0000' } });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: VIEWPORT });
    page.setDefaultTimeout(30_000);
    await page.goto(workbenchUrl(server, workspace), { timeout: 30_000 });
    await waitForWorkbench(page);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page && scratch) await recordFailure(page, scratch, 'ui-delegation', this.currentTest.title);
  });

  after(async () => {
    await closeBrowser(browser);
    await server?.stop();
    await fake?.close();
    scratch?.remove();
  });

  it('"Delegate Tests to Gemini" on src/slugify.ts opens the proposal as a diff against a new, empty file', async () => {
    // Quick Open, as a user opens a file.
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input.input');
    await input.waitFor();
    await input.fill('slugify.ts');
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'slugify.ts' }).first().waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.tabs-container .tab.active', { hasText: 'slugify.ts' }).waitFor();
    // The status-bar item is the extension's first visible sign of life.
    await page.locator('.statusbar-item', { hasText: 'Switchboard' }).first().waitFor();

    firstDelegationDay = geminiDay();
    await runCommand(page, 'Switchboard: Delegate Tests to Gemini');

    const diffTab = page.locator('.tabs-container .tab.active', { hasText: 'gemini proposal' });
    await waitForProposal(page, diffTab, scratch!);
    assert.match((await diffTab.textContent()) ?? '', /slugify\.test\.ts \(new file\) ↔ gemini proposal/);
    const diff = page.locator('.monaco-diff-editor').first();
    await diff.waitFor();
    const proposed = await editorText(diff.locator('.editor.modified'));
    assert.match(proposed, /assert\.equal\(slugify\('Hello, World!'\), 'hello-world'\);/, 'the modified side shows the generated tests');
    assert.doesNotMatch(proposed, /```/, 'without the code fence');
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'proposal for test/slugify.test.ts' });
    await toast.waitFor();
    assert.match((await toast.textContent()) ?? '', /gemini\/gemini-2\.5-flash \(free\) · 412\+96 tokens · \$0\.0000/);
    assert.equal(fs.existsSync(path.join(workspace, 'test', 'slugify.test.ts')), false, 'nothing written yet');
    await page.mouse.move(VIEWPORT.width - 10, VIEWPORT.height - 10);
    await page.waitForTimeout(300);
    await screenshot(page, 'ui-delegation-01-diff.png');
  });

  it('Apply (editor title ✓) writes test/slugify.test.ts and opens it', async () => {
    const apply = page.locator('.editor-actions .action-item a[aria-label^="Apply Proposal"]').first();
    await apply.waitFor();
    await apply.click();
    await page.locator('.tabs-container .tab', { hasText: 'gemini proposal' }).waitFor({ state: 'detached' });
    await page.locator('.tabs-container .tab.active[aria-label^="slugify.test.ts"]').waitFor();
    const file = path.join(workspace, 'test', 'slugify.test.ts');
    assert.equal(fs.readFileSync(file, 'utf8'), GENERATED, 'the file holds exactly the proposal');
    // The editor shows the written file (Monaco renders spaces as no-break spaces; \s matches both).
    const shown = page.locator('.editor-group-container.active .monaco-editor .view-lines', { hasText: /test\('removes\saccents'/ });
    await shown.waitFor();
    assert.match(((await shown.textContent()) ?? '').replace(/\u00a0/g, ' '), /assert\.equal\(slugify\('Crème brûlée'\), 'creme-brulee'\);/);
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: /created test\/slugify\.test\.ts; backup / });
    await toast.waitFor();
    await page.mouse.move(VIEWPORT.width - 10, VIEWPORT.height - 10);
    await page.waitForTimeout(300);
    await screenshot(page, 'ui-delegation-02-applied.png');
    assert.ok(fs.readdirSync(path.join(workspace, '.switchboard')).length > 0, 'the workspace state folder holds the backup');
  });

  it('"Delegate Task…" asks task → provider (Auto first, quota shown) → target; Discard writes nothing', async () => {
    await page.locator('.tabs-container .tab[aria-label^="slugify.ts"]').click();
    await page.locator('.tabs-container .tab.active[aria-label^="slugify.ts"]').waitFor();
    await runCommand(page, 'Switchboard: Delegate Task…');
    const rows = page.locator('.quick-input-widget .monaco-list-row');
    await rows.filter({ hasText: 'Docs' }).first().waitFor();
    assert.deepEqual(
      (await rows.locator('.label-name').allTextContents()).map((s) => s.trim()),
      ['Tests', 'Docs', 'Boilerplate', 'Code'],
    );
    await page.locator('.quick-input-widget input.input').fill('Docs');
    await page.keyboard.press('Enter');

    await rows.filter({ hasText: 'Auto — cheapest' }).first().waitFor();
    await rows.filter({ hasText: 'Gemini' }).first().waitFor();
    const providers = (await rows.allTextContents()).map((s) => s.replace(/\s+/g, ' ').trim());
    assert.match(providers[0]!, /^Auto — cheapest/, `Auto comes first: ${JSON.stringify(providers)}`);
    // Gemini's day ends at midnight in Los Angeles: a run that crossed it since the first delegation starts afresh.
    const left = geminiDay() === firstDelegationDay ? '1,499' : '1,500';
    assert.ok(providers.some((p) => new RegExp(`^Gemini.*free · ${left} / 1,500 requests per day left`).test(p)), `Gemini shows its quota left: ${JSON.stringify(providers)}`);
    assert.ok(providers.some((p) => /^OpenAI.*paid · no key · \$5\.00 \/ \$5\.00 per month left/.test(p)), `a provider without a key says so: ${JSON.stringify(providers)}`);
    await screenshot(page, 'ui-delegation-03-provider-pick.png');
    await page.keyboard.press('Enter');

    const target = page.locator('.quick-input-widget input.input');
    // The same input element turns from the provider filter into the target box, pre-filled.
    const deadline = Date.now() + 20_000;
    while ((await target.inputValue()) !== 'docs/slugify.md' && Date.now() < deadline) await page.waitForTimeout(100);
    assert.equal(await target.inputValue(), 'docs/slugify.md', 'docs default to docs/<name>.md');
    await page.keyboard.press('Enter');

    await waitForProposal(page, page.locator('.tabs-container .tab.active', { hasText: 'slugify.md (new file) ↔ gemini proposal' }), scratch!);
    await page.locator('.editor-actions .action-item a[aria-label^="Discard Proposal"]').first().click();
    await page.locator('.tabs-container .tab', { hasText: 'gemini proposal' }).waitFor({ state: 'detached' });
    assert.equal(fs.existsSync(path.join(workspace, 'docs', 'slugify.md')), false, 'Discard wrote nothing');
  });

  it('the Explorer context menu of a file offers the delegation commands under "Switchboard"', async () => {
    const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: /^slugify\.ts$/ });
    await row.click({ button: 'right' });
    const menu = page.locator('.context-view .monaco-menu');
    const submenu = menu.locator('.action-item', { hasText: /^Switchboard$/ }).first();
    await submenu.waitFor();
    await submenu.hover();
    const item = menu.locator('.action-label', { hasText: 'Delegate Tests to Gemini' });
    await item.waitFor();
    const labels = (await menu.locator('.action-label').allTextContents()).map((s) => s.trim());
    for (const expected of ['Delegate Task…', 'Delegate to Cheapest Provider', 'Delegate Docs to Gemini', 'Delegate Code to Together AI']) {
      assert.ok(labels.includes(expected), `${expected} in ${JSON.stringify(labels)}`);
    }
    await screenshot(page, 'ui-delegation-04-context-menu.png');
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
  });

  it('the package carries the walkthrough pages', () => {
    for (const page of ['set-key.md', 'install-claude.md', 'first-delegation.md']) {
      assert.ok(fs.existsSync(path.join(installedDir, 'media', 'walkthrough', page)), `media/walkthrough/${page} is packaged`);
    }
  });
});
