/**
 * "Set API Key…" as a user runs it in the packaged extension: palette → provider pick → password box. The key
 * lands in SecretStorage, the sidecar restarts with it and the Quota view shows "key set"; the key shows up
 * nowhere on screen, in settings, in the workspace or in the logs. Also the status bar item. Screenshots go to
 * test-results/ui-keys-*.png.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
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
import { installVsix, openSwitchboardContainer, recordFailure, runCommand, screenshot, viewRows, waitForWorkbench } from './workbench';

const VIEWPORT = { width: 1400, height: 900 };
const GEMINI_KEY = 'AIzaSyUI_keysTest_0123456789abcdefghijklmn';

/** Polls `probe` until it returns a truthy value (Playwright's page functions would need the DOM lib in tsc). */
async function poll<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile());
}

describe('Switchboard UI: Set API Key and the status bar (packaged .vsix)', function () {
  this.timeout(120_000);
  let scratch: Scratch | undefined;
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let workspace: string;

  before(async function () {
    this.timeout(300_000);
    scratch = makeScratch('switchboard-ui-keys-');
    installVsix(scratch);
    workspace = copyWorkspace(scratch);
    server = await startCodeServer({ scratch });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: VIEWPORT });
    page.setDefaultTimeout(30_000);
    await page.goto(workbenchUrl(server, workspace), { timeout: 30_000 });
    await waitForWorkbench(page);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page && scratch) await recordFailure(page, scratch, 'ui-keys', this.currentTest.title);
  });

  after(async () => {
    await closeBrowser(browser);
    await server?.stop();
    scratch?.remove();
  });

  it('the status bar shows the sidecar ready with this month\'s spend vs saved; clicking it opens the dashboard', async () => {
    const item = page.locator('.statusbar-item', { hasText: 'Switchboard' }).first();
    await item.waitFor();
    const text = await poll('the status bar to show the month\'s spend', async () => {
      const t = (await item.textContent()) ?? '';
      return /Switchboard \$\d+\.\d\d · saved \$\d+\.\d\d/.test(t) && t;
    });
    assert.match(text, /Switchboard \$0\.00 · saved \$0\.00/);
    await item.click();
    const tab = page.locator('.tabs-container .tab', { hasText: 'Switchboard Dashboard' });
    await tab.waitFor();
    await page.frameLocator('iframe.webview.ready').frameLocator('#active-frame').locator('[role="progressbar"][aria-label^="gemini"]').first().waitFor();
    await tab.locator('.codicon-close').click();
  });

  it('"Set API Key…" takes the key in a password box; the Quota view then shows the key as set', async () => {
    await openSwitchboardContainer(page);
    const before = await poll('the Quota view to list gemini', async () => (await viewRows(page, 'Quota')).find((r) => r.label === 'gemini'));
    assert.match(before.description, /no key/);

    await runCommand(page, 'Switchboard: Set API Key');
    const input = page.locator('.quick-input-widget input.input');
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Google Gemini' }).first().waitFor();
    await input.fill('Google Gemini');
    await page.keyboard.press('Enter');

    // The second step is a password box: typed characters are masked and never rendered as text.
    await poll('the password box', async () => (await input.getAttribute('type')) === 'password');
    await input.fill(GEMINI_KEY);
    await screenshot(page, 'ui-keys-01-password-box.png');
    assert.ok(!(await page.locator('body').innerText()).includes(GEMINI_KEY), 'the key is not visible on screen');
    await page.keyboard.press('Enter');

    await poll('gemini to show "key set"', async () => (await viewRows(page, 'Quota')).some((r) => r.label === 'gemini' && r.description.includes('key set')));
    await page.mouse.move(VIEWPORT.width - 10, VIEWPORT.height / 2);
    await screenshot(page, 'ui-keys-02-key-set.png');
    const after = (await viewRows(page, 'Quota')).find((r) => r.label === 'gemini');
    assert.match(after?.description ?? '', /^free · key set/);
  });

  it('the key is in no settings file, workspace file or log', () => {
    const places = [...filesUnder(path.join(scratch!.userDataDir, 'User')), ...filesUnder(path.join(scratch!.userDataDir, 'logs')), ...filesUnder(workspace), ...filesUnder(scratch!.switchboardHome)];
    assert.ok(places.some((f) => f.endsWith('Switchboard.log')), 'the Switchboard log was among the files read');
    const holding = places.filter((f) => fs.readFileSync(f, 'latin1').includes(GEMINI_KEY));
    assert.deepEqual(holding, []);
  });
});
