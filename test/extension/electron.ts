/**
 * `npm run test:electron`: the same extension-host suite under @vscode/test-electron, for machines with
 * internet (it downloads VS Code 1.100.3 into .vscode-test/). Not used offline; runner.ts is the offline path.
 */
import { runTests } from '@vscode/test-electron';
import { buildExtension, buildExtensionTests, TEST_INDEX } from './build';
import { copyWorkspace, makeScratch, REPO_ROOT } from './harness';

async function main(): Promise<void> {
  buildExtension();
  await buildExtensionTests();
  const scratch = makeScratch('switchboard-electron-');
  try {
    const workspace = copyWorkspace(scratch);
    await runTests({
      // The oldest VS Code the manifest accepts (engines.vscode ^1.100.0), same as code-server 4.100.3.
      version: process.env.SWITCHBOARD_VSCODE_VERSION ?? '1.100.3',
      extensionDevelopmentPath: REPO_ROOT,
      extensionTestsPath: TEST_INDEX,
      launchArgs: [
        workspace,
        '--disable-extensions',
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
        '--user-data-dir', scratch.userDataDir,
        '--extensions-dir', scratch.extensionsDir,
      ],
      // A scratch HOME so the user layers (~/.claude/…) are the test's, not the developer's.
      extensionTestsEnv: { HOME: scratch.home, SWITCHBOARD_HOME: scratch.switchboardHome },
    });
  } finally {
    scratch.remove();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
