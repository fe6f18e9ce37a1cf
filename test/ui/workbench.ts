/** Reading and driving the VS Code web workbench with Playwright, by the DOM a user sees. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, runCodeServerCli, type Page, type Scratch } from '../extension/harness';

export const RESULTS_DIR = path.join(REPO_ROOT, 'test-results');
export const VSIX = path.join(REPO_ROOT, 'switchboard.vsix');

let packaged: { bytes: number; ms: number } | undefined;

/** Builds the .vsix once per test run, exactly as a release would (`npm run package`); every UI suite installs it. */
export function packageVsix(): { bytes: number; ms: number } {
  if (!packaged) {
    const started = performance.now();
    const result = spawnSync('npm', ['run', 'package'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 180_000 });
    if (result.status !== 0) throw new Error(`npm run package failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stdout}${result.stderr}`);
    packaged = { bytes: fs.statSync(VSIX).size, ms: performance.now() - started };
  }
  return packaged;
}

/** Installs the packaged .vsix into a scratch code-server, as a user would; returns the installed folder's name. */
export function installVsix(scratch: Scratch): string {
  packageVsix();
  runCodeServerCli(['--install-extension', VSIX], scratch);
  const installed = fs.readdirSync(scratch.extensionsDir).find((d) => d.startsWith('switchboard.switchboard-'));
  assert.ok(installed, `the .vsix installed into ${scratch.extensionsDir}`);
  return installed;
}

export interface ViewRow {
  label: string;
  description: string;
  level: number;
}

export async function waitForWorkbench(page: Page): Promise<void> {
  await page.waitForSelector('.monaco-workbench .activitybar', { timeout: 60_000 });
}

export async function openSwitchboardContainer(page: Page): Promise<void> {
  const item = page.locator('.activitybar .action-item a[aria-label^="Switchboard"]');
  await item.waitFor({ timeout: 30_000 });
  // Clicking an already open container closes the side bar; only click when it is not the active one.
  const active = await item.evaluate((a) => a.closest('.action-item')?.classList.contains('checked') ?? false);
  if (!active) await item.click();
  await page.locator('.sidebar .pane-header', { hasText: 'Agents' }).waitFor({ timeout: 30_000 });
}

/** The pane titles in the side bar, top to bottom. */
export async function paneTitles(page: Page): Promise<string[]> {
  return page.$$eval('.sidebar .pane .pane-header .title', (titles) => titles.map((t) => (t.textContent ?? '').trim()));
}

function pane(page: Page, title: string) {
  return page.locator('.sidebar .pane', { has: page.locator('.pane-header .title', { hasText: new RegExp(`^${title}$`, 'i') }) });
}

/** Rows a tree view currently renders (label, description, depth). */
export async function viewRows(page: Page, title: string): Promise<ViewRow[]> {
  return pane(page, title)
    .locator('.pane-body .monaco-list-row[role="treeitem"]')
    .evaluateAll((rows) =>
      rows.map((row) => ({
        label: (row.querySelector('.label-name')?.textContent ?? '').trim(),
        description: (row.querySelector('.label-description')?.textContent ?? '').trim(),
        level: Number(row.getAttribute('aria-level') ?? '0'),
      })),
    );
}

/** Waits until a tree view renders at least `min` rows, and returns them. */
export async function waitForRows(page: Page, title: string, min = 1, timeoutMs = 30_000): Promise<ViewRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await viewRows(page, title);
    if (rows.length >= min) return rows;
    if (Date.now() > deadline) throw new Error(`The ${title} view rendered ${rows.length} rows, expected at least ${min}`);
    await page.waitForTimeout(200);
  }
}

/** Text of a view's welcome content or message, if any is shown. */
export async function viewText(page: Page, title: string): Promise<string> {
  return ((await pane(page, title).locator('.pane-body').textContent({ timeout: 10_000 })) ?? '').replace(/\s+/g, ' ').trim();
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, name);
  await page.screenshot({ path: file });
  return file;
}

/** Every Switchboard output-channel log the scratch code-server wrote (newest session last). */
export function switchboardLogs(scratch: Scratch): string {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name === 'Switchboard.log') found.push(full);
    }
  };
  const logs = path.join(scratch.userDataDir, 'logs');
  if (fs.existsSync(logs)) walk(logs);
  return found.sort().map((file) => `--- ${path.relative(scratch.root, file)}\n${fs.readFileSync(file, 'utf8')}`).join('\n') || '(no Switchboard.log written)';
}

/** What a user would see when a step fails: the notification toasts, then the Switchboard log. */
export async function explainFailure(page: Page, scratch: Scratch): Promise<string> {
  const toasts = await page
    .locator('.notifications-toasts .notification-toast, .notifications-center .notification-list-item')
    .allInnerTexts()
    .catch((error: unknown) => [`(could not read notifications: ${String(error)})`]);
  const shown = toasts.map((t) => `  • ${t.replace(/\s+/g, ' ').trim()}`).join('\n') || '  (none)';
  return `notifications on screen:\n${shown}\nSwitchboard log:\n${switchboardLogs(scratch)}`;
}

/**
 * After a failed test: a screenshot named after it (test-results/<prefix>-failed-<title>.png), and on stderr what
 * the user saw and what Switchboard logged, since CI keeps only the output.
 */
export async function recordFailure(page: Page, scratch: Scratch, prefix: string, title: string): Promise<void> {
  const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
  await screenshot(page, `${prefix}-failed-${slug}.png`);
  console.error(`      ${(await explainFailure(page, scratch)).replace(/\n/g, '\n      ')}`);
}

/** F1, the command's title, Enter once the filter has made it the focused row (Enter runs the focused row). */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input.input');
  await input.waitFor();
  await input.fill(`>${title}`);
  await page.locator('.quick-input-widget .monaco-list-row.focused', { hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
}
