/**
 * `npm run test:vscode`: the extension-host suite inside a real VS Code (code-server 4.100.3), offline.
 * Builds dist/ and the suite, opens a copy of media/sample-workspace with this repo as the extension under
 * development, lets mocha run in the extension host and exits with its result. Always stops code-server and
 * Chromium; a hard timeout ends a hung run.
 */
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import { buildExtension, buildExtensionTests, TEST_INDEX } from './build';
import {
  closeBrowser,
  copyWorkspace,
  launchChromium,
  makeScratch,
  remoteUri,
  REPO_ROOT,
  startCodeServer,
  withTimeout,
  workbenchUrl,
  type Browser,
  type CodeServer,
  type Scratch,
} from './harness';
import { TIMING_PREFIX } from './timing';
import { startFakeProviderServer, type FakeProviderServer } from '../fakes/provider-server';
import { fakeProviderEnv } from './fakeProviders';

const RUN_TIMEOUT_MS = Number(process.env.SWITCHBOARD_VSCODE_TIMEOUT_MS ?? 180_000);
const HARD_TIMEOUT_MS = RUN_TIMEOUT_MS + 60_000;
/** Workbench console lines that say nothing about the run (the gallery is off on purpose). */
const WORKBENCH_NOISE = ['Ignoring fetching additional builtin extensions', 'Creating a socket', 'Resolving connection token', 'Resolved connection token'];


async function main(): Promise<number> {
  const timings: Record<string, number> = {};
  let t = performance.now();
  buildExtension();
  await buildExtensionTests();
  timings.buildMs = performance.now() - t;

  let scratch: Scratch | undefined;
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let fake: FakeProviderServer | undefined;
  const cleanup = async () => {
    await closeBrowser(browser);
    await server?.stop();
    await fake?.close();
    scratch?.remove();
  };
  // Ctrl-C or a CI kill still stops code-server (it runs in its own process group).
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping code-server and Chromium`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const hardTimer = setTimeout(() => {
    console.error(`Hard timeout after ${HARD_TIMEOUT_MS / 1000} s; stopping.`);
    void cleanup().finally(() => process.exit(124));
  }, HARD_TIMEOUT_MS);

  try {
    scratch = makeScratch('switchboard-vscode-');
    const workspace = copyWorkspace(scratch);
    // Delegations in the suite reach this fake through SWITCHBOARD_<ID>_BASE_URL (env reaches the extension host).
    fake = await startFakeProviderServer();
    server = await startCodeServer({ scratch, env: fakeProviderEnv(fake) });
    timings.codeServerStartMs = server.startMs;
    const runningServer = server;

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    let activationMs: number | undefined;
    const exitCode = new Promise<number>((resolve) => {
      void page.exposeFunction('codeAutomationExit', (code: number) => resolve(code));
    });
    await page.exposeFunction('codeAutomationLog', (_type: string, args: unknown[]) => {
      const line = util.format(...(Array.isArray(args) ? args : [args]));
      if (line.startsWith(TIMING_PREFIX)) {
        const measured = JSON.parse(line.slice(TIMING_PREFIX.length)) as Record<string, number>;
        if (typeof measured.activationMs === 'number') activationMs = measured.activationMs;
        // Other figures the suite measures (sidecar start time in the editor, …) go to the results file too.
        for (const [name, value] of Object.entries(measured)) if (name !== 'activationMs' && typeof value === 'number') timings[name] = value;
        return;
      }
      if (!WORKBENCH_NOISE.some((noise) => line.startsWith(noise))) process.stdout.write(line + '\n');
    });

    const payload: Array<[string, string]> = [
      ['extensionDevelopmentPath', remoteUri(runningServer, REPO_ROOT)],
      ['extensionTestsPath', remoteUri(runningServer, TEST_INDEX)],
      ['skipWelcome', 'true'],
    ];
    t = performance.now();
    await page.goto(workbenchUrl(runningServer, workspace, payload), { timeout: 30_000 });
    const code = await withTimeout(exitCode, RUN_TIMEOUT_MS, 'The extension-host test run');
    timings.runMs = performance.now() - t;
    if (activationMs !== undefined) timings.activationMs = activationMs;

    const summary = Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v * 10) / 10]));
    console.log(`\nreal VS Code (code-server): ${JSON.stringify(summary)}`);
    const resultsDir = path.join(REPO_ROOT, 'test-results');
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(path.join(resultsDir, 'vscode-extension-host.json'), JSON.stringify({ exitCode: code, ...summary }, null, 2) + '\n');
    if (code !== 0) console.error(`Extension-host tests failed (exit ${code}). code-server output:\n${runningServer.output().slice(-4000)}`);
    return code;
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    if (server) console.error(`code-server output:\n${server.output().slice(-4000)}`);
    return 1;
  } finally {
    clearTimeout(hardTimer);
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
