import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../core/errors';
import { redactDeep } from '../../core/redact';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';

/** The running bundle (dist/sidecar.js): the demo spawns it as the MCP server and finds media/ beside dist/. */
function runningBundle(): string {
  const entry = process.argv[1] ? fs.realpathSync(process.argv[1]) : '';
  if (!entry.endsWith('.js')) throw new UserError('run the demo from the built bundle: npm run build && node dist/sidecar.js demo', 'demo_not_bundled');
  return entry;
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'The whole path offline on a scratch workspace with a SIMULATED provider (--clean removes the scratch folder)',
  async run(argv) {
    // --workspace is accepted like everywhere, but the demo always works on its own scratch copy.
    const { common, values } = parseCommandArgs(argv, { clean: { type: 'boolean' }, keep: { type: 'boolean' } });
    if (values.clean && values.keep) throw new UserError('--clean and --keep contradict each other');
    const bundle = runningBundle();
    // Loaded on demand: the MCP client SDK is not part of what `serve` loads at startup.
    const { runDemo } = await import('../demo/run-demo');
    const summary = await runDemo({
      bundle,
      sampleDir: path.resolve(path.dirname(bundle), '..', 'media', 'sample-workspace'),
      clean: values.clean === true,
      print: common.json ? undefined : (line) => process.stdout.write(line + '\n'),
    });
    if (common.json) printJson(redactDeep(summary));
    return 0;
  },
};
