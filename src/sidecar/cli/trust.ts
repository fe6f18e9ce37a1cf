/**
 * `switchboard trust [--workspace DIR] [--revoke] [--list] [--json]` (SPEC "Trust"): records in
 * `$SWITCHBOARD_HOME/trust.json` that the user trusts a folder, pinning the commands its project configures as
 * they are now; `--revoke` removes that record (and its pins); `--list` shows the folders trusted this way.
 */
import { UserError } from '../../core/errors';
import { redact } from '../../core/redact';
import { decideTrust, grantTrust, listTrust, revokeTrust } from '../../core/trust';
import { projectCommands } from '../../core/trust/commands';
import { checkWorkspace, formatTable } from './format';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';

export const trustCommand: Command = {
  name: 'trust',
  summary: 'Trust this folder (pins its project commands); --revoke undoes it, --list shows trusted folders',
  async run(argv) {
    const { common, values } = parseCommandArgs(argv, { revoke: { type: 'boolean' }, list: { type: 'boolean' } });
    if (values.revoke === true && values.list === true) throw new UserError('--revoke and --list cannot be combined');

    if (values.list === true) {
      const entries = listTrust();
      if (common.json) {
        printJson({ folders: entries.map((e) => ({ folder: e.folder, trusted_at: e.trusted_at, pins: Object.entries(e.pins).map(([slot, p]) => ({ slot, text: redact(p.text), pinned_at: p.pinned_at })) })) });
        return 0;
      }
      if (!entries.length) {
        process.stdout.write('No folder is trusted with `switchboard trust` (VS Code and Claude Code keep their own lists).\n');
        return 0;
      }
      const rows = [['FOLDER', 'TRUSTED AT', 'PINNED COMMANDS'], ...entries.map((e) => [e.folder, e.trusted_at ?? '', String(Object.keys(e.pins).length)])];
      process.stdout.write(formatTable(rows) + '\n');
      return 0;
    }

    checkWorkspace(common.workspace, values.workspace);
    if (values.revoke === true) {
      const removed = await revokeTrust(common.workspace);
      const after = decideTrust(common.workspace);
      if (common.json) {
        printJson({ folder: after.folder, revoked: removed, trusted: after.trusted, ...(after.source ? { source: after.source } : {}) });
        return 0;
      }
      const lines = [removed ? `Switchboard no longer trusts ${after.folder}.` : `${after.folder} was not trusted with \`switchboard trust\`; nothing to revoke.`];
      if (after.trusted) lines.push(`It is still ${after.explanation}: revoke it there too to make it untrusted.`);
      process.stdout.write(lines.join('\n') + '\n');
      return 0;
    }

    const commands = projectCommands(common.workspace);
    const entry = await grantTrust(common.workspace, commands);
    if (common.json) {
      printJson({ folder: entry.folder, trusted: true, trusted_at: entry.trusted_at, pins: commands.map((c) => ({ slot: c.slot, text: redact(c.text) })) });
      return 0;
    }
    const lines = [`Trusted ${entry.folder}: its project servers, recipes and checks may now run (with no provider key in their environment).`];
    if (commands.length) {
      lines.push(`Pinned ${commands.length} command(s); if one changes, it will not run until you trust the folder again:`);
      for (const c of commands) lines.push(`  ${c.slot}: ${c.text.length > 100 ? c.text.slice(0, 99) + '…' : c.text}`);
    } else {
      lines.push('The project configures no commands yet; the first one to run is pinned then.');
    }
    lines.push('Whatever the trust, the project still cannot set base URLs or key variables, allow paid calls, raise budgets or reach files outside it.');
    process.stdout.write(redact(lines.join('\n')) + '\n');
    return 0;
  },
};
