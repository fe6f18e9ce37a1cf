/**
 * Entry point the extension host loads (extensionTestsPath): runs every compiled *.test.js next to it with
 * mocha 11 (mocha 12 is ESM-only and cannot be required in the extension host). The same module serves
 * code-server (runner.ts) and @vscode/test-electron (electron.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({
    ui: 'bdd',
    color: false,
    timeout: 30_000,
    // The project's reporter: spec output plus the "tests: N passed, N failed, N skipped" line CI reads.
    reporter: path.resolve(__dirname, '..', '..', '..', 'test', 'support', 'reporter.cjs'),
  });
  const grep = process.env.SWITCHBOARD_TEST_GREP;
  if (grep) mocha.grep(grep);
  // extension.test.js ends by deactivating the extension, so it runs last.
  const files = (fs.readdirSync(__dirname, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.test.js'))
    .sort((a, b) => Number(a === 'extension.test.js') - Number(b === 'extension.test.js') || a.localeCompare(b));
  for (const file of files) mocha.addFile(path.join(__dirname, file));
  return new Promise((resolve, reject) => {
    try {
      mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} extension-host test(s) failed`)) : resolve()));
    } catch (error) {
      reject(error instanceof Error ? error : new Error(String(error)));
    }
  });
}
