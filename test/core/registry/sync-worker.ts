/** Child process for the concurrent-sync test: syncs `file` from `url` and exits 0. */
import { RegistryIndex } from '../../../src/core/registry';

async function main(): Promise<void> {
  const [file, url] = process.argv.slice(2) as [string, string];
  const index = await RegistryIndex.open(file);
  const report = await index.sync([url], { full: true });
  if (report.registries[0]?.error) throw new Error(report.registries[0].error);
  index.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(String((err as Error).stack) + '\n');
    process.exit(1);
  },
);
