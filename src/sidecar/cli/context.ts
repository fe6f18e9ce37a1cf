import fs from 'node:fs';
import { WorkspaceCascade } from '../../core/cascade';
import { syncProjectContext, type KnownServerHealth } from '../../core/context';
import type { Ledger } from '../../core/ledger';
import { redact } from '../../core/redact';
import { lastKnownHealth } from '../health';
import { parseCommandArgs } from './args';
import { checkWorkspace } from './agents';
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
    checkWorkspace(common.workspace, values.workspace);
    const workspace = fs.realpathSync.native(common.workspace);
    const check = values.check === true;
    const { agents, servers } = new WorkspaceCascade({ workspace }).load();
    const serverHealth: Record<string, KnownServerHealth> = {};
    for (const [id, h] of Object.entries(lastKnownHealth(servers.servers, { cwd: workspace }))) {
      serverHealth[id] = h.toolCount === undefined ? { status: h.status } : { status: h.status, toolCount: h.toolCount };
    }
    const ledger = await openLedger();
    let result;
    try {
      result = await syncProjectContext(workspace, { agents, servers, serverHealth, ledger: ledger.ledger }, { actor: 'cli', check });
    } finally {
      await ledger.ledger?.close().catch(() => undefined);
    }
    const { content: _content, ...summary } = result;
    const out = { ...summary, ...(ledger.problem ? { quota: ledger.problem } : {}) };
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
      if (ledger.problem) process.stderr.write(`switchboard: quota shown as unknown: ${ledger.problem}\n`);
    }
    return 0;
  },
};

function describe(sections: string[]): string {
  return sections.map((s) => (s === '(header)' ? 'title' : s)).join(', ');
}

/** The quota ledger, when it can be opened; without it the file still renders, with quota "unknown". */
async function openLedger(): Promise<{ ledger?: Ledger; problem?: string }> {
  try {
    const { SqlJsLedger } = await import('../../core/ledger');
    return { ledger: await SqlJsLedger.open({ lock: { acquireTimeoutMs: 5_000 } }) };
  } catch (err) {
    return { problem: redact((err as Error)?.message ?? String(err)).split('\n')[0] };
  }
}
