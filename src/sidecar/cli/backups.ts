import { UserError } from '../../core/errors';
import { redact } from '../../core/redact';
import { listBackupsDescriptor, type BackupRow } from '../protocol/list-backups';
import { restoreBackupDescriptor } from '../protocol/restore-backup';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';
import { formatBytes, formatTable } from './format';
import { callTool, openCliSidecar } from './run-tool';

export function backupsTable(backups: BackupRow[]): string {
  const rows: string[][] = [['ID', 'FILE', 'SIZE', 'TIME', 'ACTOR', 'NOTE']];
  for (const b of backups) {
    const note = !b.existed ? 'file did not exist before (restore deletes it)' : b.restorable ? '' : 'content not kept: not restorable';
    rows.push([b.id, b.path, b.existed ? formatBytes(b.bytes) : '-', b.time, b.actor, note]);
  }
  return formatTable(rows);
}

export const backupsCommand: Command = {
  name: 'backups',
  summary: 'List backups made before each write, newest first; `backups restore ID [--force]` restores one',
  async run(argv) {
    const { common, values, positionals } = parseCommandArgs(argv, {
      file: { type: 'string' },
      limit: { type: 'string' },
      force: { type: 'boolean' },
    });
    const [action, id, ...extra] = positionals;
    if (action !== undefined && action !== 'restore') throw new UserError(`unknown backups action "${action}" (use: backups, or backups restore ID)`);
    if (action === 'restore' && !id) throw new UserError('backups restore needs a backup ID (list them with: switchboard backups)');
    if (extra.length) throw new UserError(`unexpected argument "${extra[0]}"`);
    if (action !== 'restore' && values.force) throw new UserError('--force only applies to: backups restore ID');

    const sidecar = openCliSidecar(common, values.workspace);
    try {
      if (action === 'restore') return await restore(sidecar, id!, values.force === true, common.json);
      const limit = values.limit === undefined ? undefined : Number(values.limit);
      if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new UserError('--limit must be a positive whole number');
      const { text, structured } = await callTool(sidecar, listBackupsDescriptor, { path: values.file as string | undefined, limit });
      const { backups } = structured;
      if (common.json) printJson({ backups });
      else process.stdout.write(redact(backups.length ? backupsTable(backups) : text === 'no backups' ? 'No backups yet.' : text) + '\n');
      return 0;
    } finally {
      await sidecar.close();
    }
  },
};

async function restore(sidecar: ReturnType<typeof openCliSidecar>, id: string, force: boolean, json: boolean): Promise<number> {
  try {
    const { text, structured } = await callTool(sidecar, restoreBackupDescriptor, { backup_id: id, force: force || undefined });
    if (json) printJson(structured);
    else process.stdout.write(redact(text) + '\n');
    return 0;
  } catch (err) {
    // The tool's message speaks of the MCP argument; on the command line it is a flag.
    if (err instanceof UserError) {
      throw new UserError(err.message.replace(/\bUse force\b/, 'Use --force').replace(/\bwith list_backups\b/, 'with: switchboard backups'), err.code);
    }
    throw err;
  }
}
