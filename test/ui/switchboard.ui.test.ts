/**
 * The packaged extension as a user gets it: `npm run package`, `code-server --install-extension`, then
 * Chromium through Playwright, reading what the Switchboard views render. Screenshots go to test-results/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  closeBrowser,
  copyWorkspace,
  launchChromium,
  makeScratch,
  REPO_ROOT,
  startCodeServer,
  workbenchUrl,
  type Browser,
  type CodeServer,
  type Page,
  type Scratch,
} from '../extension/harness';
import { installVsix, openSwitchboardContainer, recordFailure, runCommand, packageVsix, paneTitles, RESULTS_DIR, screenshot, viewRows, viewText, waitForRows, waitForWorkbench } from './workbench';

const VSIX_GOAL_BYTES = 3 * 1024 * 1024;
const VIEWPORT = { width: 1400, height: 1100 };


interface Session {
  scratch: Scratch;
  server: CodeServer;
  browser: Browser;
  page: Page;
  workspace: string;
  installedDir: string;
}

/** A fresh code-server with the .vsix installed and the sample workspace open in Chromium. */
async function openSession(options: { workspaceTrust?: boolean } = {}): Promise<Session> {
  const scratch = makeScratch('switchboard-ui-');
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  try {
    const installedDir = installVsix(scratch);
    const workspace = copyWorkspace(scratch);
    server = await startCodeServer({ scratch, workspaceTrust: options.workspaceTrust });
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: VIEWPORT });
    page.setDefaultTimeout(30_000);
    await page.goto(workbenchUrl(server, workspace), { timeout: 30_000 });
    await waitForWorkbench(page);
    return { scratch, server, browser, page, workspace, installedDir: path.join(scratch.extensionsDir, installedDir) };
  } catch (error) {
    await closeBrowser(browser);
    await server?.stop();
    scratch.remove();
    throw error;
  }
}

async function closeSession(session: Session | undefined): Promise<void> {
  if (!session) return;
  await closeBrowser(session.browser);
  await session.server.stop();
  session.scratch.remove();
}

function listFiles(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name))]));
}

/** Moves the pointer off hover targets and lets progress bars finish, so screenshots show the settled UI. */
async function settle(page: Page): Promise<void> {
  await page.mouse.move(VIEWPORT.width - 10, VIEWPORT.height / 2);
  await page.locator('.sidebar .monaco-progress-container.active').first().waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
  await page.waitForTimeout(300);
}

describe('Switchboard UI (packaged .vsix in code-server + Chromium)', function () {
  this.timeout(120_000);
  const figures: Record<string, number> = {};

  before(function () {
    this.timeout(240_000);
    const packaged = packageVsix();
    figures.vsixBytes = packaged.bytes;
    figures.packageMs = Math.round(packaged.ms);
  });

  after(() => {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    fs.writeFileSync(path.join(RESULTS_DIR, 'vscode-ui.json'), JSON.stringify(figures, null, 2) + '\n');
    console.log(`      figures: ${JSON.stringify(figures)}`);
  });

  describe('trusted workspace', () => {
    let session: Session | undefined;

    before(async function () {
      this.timeout(120_000);
      const started = performance.now();
      session = await openSession();
      figures.codeServerStartMs = Math.round(session.server.startMs);
      figures.workbenchReadyMs = Math.round(performance.now() - started);
    });

    afterEach(async function () {
      if (this.currentTest?.state === 'failed' && session) await recordFailure(session.page, session.scratch, 'ui', this.currentTest.title);
    });
    after(async () => closeSession(session));

    it('the installed .vsix holds only the allowlisted files and is under 3 MB', () => {
      const files = listFiles(session!.installedDir).sort();
      for (const needed of ['package.json', 'dist/extension.js', 'dist/sidecar.js', 'dist/sidecar/bundle.js', 'dist/sql-wasm.wasm', 'media/switchboard.svg']) {
        assert.ok(files.includes(needed), `${needed} is packaged`);
      }
      const unwanted = files.filter((f) => /\.map$|^src\/|^test\/|^out\/|^node_modules\/|^media\/sample-workspace\/|\.ts$|^\.ci\//.test(f) && !f.endsWith('.d.ts'));
      assert.deepEqual(unwanted, [], 'no sources, tests, sourcemaps, dependencies or fixtures in the package');
      assert.ok(figures.vsixBytes! <= VSIX_GOAL_BYTES, `.vsix is ${figures.vsixBytes} bytes`);
    });

    it('the activity bar shows Switchboard; its container holds MCP Servers, Agents and Quota', async () => {
      const { page } = session!;
      await screenshot(page, 'ui-01-workbench.png');
      await openSwitchboardContainer(page);
      const titles = await paneTitles(page);
      for (const title of ['MCP Servers', 'Agents', 'Quota']) assert.ok(titles.some((t) => t.toLowerCase() === title.toLowerCase()), `${title} pane in ${JSON.stringify(titles)}`);
    });

    it('the three trees show the sample workspace by layer and each provider\'s quota', async () => {
      const { page } = session!;
      const agents = await waitForRows(page, 'Agents', 4);
      const agentLabels = agents.map((r) => r.label);
      for (const expected of ['project', 'core', 'journey-orchestrator', 'ai-engineer', 'code-reviewer']) assert.ok(agentLabels.includes(expected), `Agents shows ${expected}: ${JSON.stringify(agentLabels)}`);
      const aiEngineer = agents.find((r) => r.label === 'ai-engineer')!;
      assert.match(aiEngineer.description, /opus/);
      assert.ok(agents.some((r) => /overridden by/.test(r.description)), 'an overridden agent says so');

      const servers = await waitForRows(page, 'MCP Servers', 3);
      const serverLabels = servers.map((r) => r.label);
      for (const expected of ['project', 'zen', 'context7', 'playwright']) assert.ok(serverLabels.includes(expected), `MCP Servers shows ${expected}: ${JSON.stringify(serverLabels)}`);
      assert.ok(servers.some((r) => /optional, off/.test(r.description)), 'an optional server is shown as off');

      const quota = await waitForRows(page, 'Quota', 3);
      const quotaLabels = quota.map((r) => r.label);
      for (const expected of ['gemini', 'together', '0 / 1,500 requests/day']) assert.ok(quotaLabels.includes(expected), `Quota shows ${expected}: ${JSON.stringify(quotaLabels)}`);
      assert.match(quota.find((r) => r.label === '0 / 1,500 requests/day')!.description, /^0% · resets in /);
      await settle(page);
      const file = await screenshot(page, 'ui-02-switchboard-views.png');
      console.log(`      screenshot: ${path.relative(REPO_ROOT, file)}`);
    });

    it('"Switchboard: Show Log" from the palette opens the Switchboard output with the activation line', async () => {
      const { page } = session!;
      await runCommand(page, 'Switchboard: Show Log');
      // Monaco renders spaces as no-break spaces; \s matches both.
      const output = page.locator('.part.panel .monaco-editor .view-lines').filter({ hasText: /Activated\s+in\s+[\d.]+\s+ms/ });
      await output.waitFor({ timeout: 30_000 });
      const text = (await output.textContent()) ?? '';
      const activation = /Activated\s+in\s+([\d.]+)\s+ms/.exec(text);
      assert.ok(activation, `activation line in the log: ${text.slice(0, 300)}`);
      figures.activationMs = Number(activation[1]);
      await settle(page);
      await screenshot(page, 'ui-03-show-log.png');
    });
  });

  describe('untrusted workspace (Restricted Mode)', () => {
    let session: Session | undefined;

    before(async function () {
      this.timeout(120_000);
      session = await openSession({ workspaceTrust: true });
    });

    afterEach(async function () {
      if (this.currentTest?.state === 'failed' && session) await recordFailure(session.page, session.scratch, 'ui', this.currentTest.title);
    });
    after(async () => closeSession(session));

    it('the views say that Restricted Mode is why servers, sidecar and delegation are off', async () => {
      const { page } = session!;
      // VS Code asks whether to trust the folder; a user who declines gets Restricted Mode.
      const decline = page.getByRole('button', { name: /No, I don.t trust the authors/i });
      await decline.click({ timeout: 30_000 });
      await openSwitchboardContainer(page);
      // Listing is harmless, so the trees still fill; each view says what is off and why.
      const agents = await waitForRows(page, 'Agents', 4);
      assert.ok(agents.some((r) => r.label === 'ai-engineer'), 'agents are still listed');
      await waitForRows(page, 'MCP Servers', 3);
      assert.match(await viewText(page, 'MCP Servers'), /Restricted Mode: servers are listed .* not started or checked/);
      assert.match(await viewText(page, 'Agents'), /Restricted Mode: .*delegates nothing/);
      assert.deepEqual(await viewRows(page, 'Quota'), [], 'no quota rows without the sidecar');
      assert.match(await viewText(page, 'Quota'), /Restricted Mode: quota comes from the Switchboard sidecar/);
      await settle(page);
      await screenshot(page, 'ui-04-restricted-mode.png');
    });
  });
});
