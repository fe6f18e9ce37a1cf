import { parseCommandArgs } from './args';
import { openCliSidecar } from './run-tool';
import { printJson, type Command } from './commands';

/**
 * `switchboard context [--check]`: regenerates PROJECT_CONTEXT.md from the workspace's state (only when it
 * changed; backed up first). With --check nothing is written and the exit code says whether the file is stale.
 */
export const contextCommand: Command = {
  name: 'context',
  summary: 'Regenerate PROJECT_CONTEXT.md (--check: exit 1 when it is stale, write nothing)',
  async run(argv) {
    const { common, values } = parseCommandArgs(argv, { check: { type: 'boolean' } });
    const check = values.check === true;
    const sidecar = openCliSidecar(common, values.workspace);
    let result;
    try {
      result = await sidecar.syncContext({ write: !check });
    } finally {
      await sidecar.close();
    }
    const { content: _content, quotaProblem: _q, ...summary } = result;
    const out = { ...summary, ...(result.quotaProblem ? { quota: result.quotaProblem } : {}) };
    if (common.json) printJson(out);
    if (check) {
      if (result.stale) {
        const why = result.existed ? `is stale (${describe(result.sections)} changed)` : 'does not exist';
        process.stderr.write(`switchboard: ${result.path} ${why}; run \`switchboard context\` to ${result.existed ? 'regenerate' : 'generate'} it\n`);
        return 1;
      }
      if (!common.json) process.stdout.write(`${result.path} is up to date.\n`);
      return 0;
    }
    if (!common.json) {
      process.stdout.write(result.changed
        ? `${result.existed ? `Updated ${result.path}: ${describe(result.sections)} changed` : `Created ${result.path}`}; backup ${result.backupId} (\`switchboard backups restore ${result.backupId}\` undoes it).\n`
        : `${result.path} is up to date; nothing written.\n`);
      if (result.quotaProblem) process.stderr.write(`switchboard: quota shown as unknown: ${result.quotaProblem}\n`);
    }
    return 0;
  },
};

function describe(sections: string[]): string {
  return sections.map((s) => (s === '(header)' ? 'title' : s)).join(', ');
}
