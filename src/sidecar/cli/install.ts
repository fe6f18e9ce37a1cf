/**
 * `switchboard install claude [--scope project|local|user]` — registers the sidecar with Claude Code.
 * - project: merges a `switchboard` entry into the workspace's `.mcp.json` (other servers kept), written through
 *   the file-safety layer with a backup. `.mcp.json` is forbidden to the MCP tools (a model must not add commands
 *   the editor runs); this command is the user's own explicit action, so only it lifts that one rule.
 * - local / user: runs `claude mcp add --scope <scope>` (Claude Code owns ~/.claude.json), replacing an older
 *   switchboard entry of that scope.
 * Prints how to verify (`claude mcp list`).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { isDirectory } from '../../core/paths';
import path from 'node:path';
import { parseStructuredText } from '../../core/config/structured-file';
import { UserError } from '../../core/errors';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';

const SCOPES = ['project', 'local', 'user'] as const;
type Scope = (typeof SCOPES)[number];
const SERVER_NAME = 'switchboard';

export const installCommand: Command = {
  name: 'install',
  summary: 'install claude [--scope project|local|user]: register the sidecar with Claude Code',
  async run(argv) {
    const { common, values, positionals } = parseCommandArgs(argv, { scope: { type: 'string' }, 'claude-bin': { type: 'string' } });
    if (positionals[0] !== 'claude' || positionals.length > 1) throw new UserError('usage: switchboard install claude [--scope project|local|user]');
    const scope = (values.scope ?? 'local') as Scope;
    if (!SCOPES.includes(scope)) throw new UserError(`--scope must be one of ${SCOPES.join(', ')}`);
    if (!isDirectory(common.workspace)) throw new UserError('--workspace: not a folder');
    const entry = serverEntry();
    const claude = (values['claude-bin'] as string | undefined) ?? process.env.SWITCHBOARD_CLAUDE_BIN ?? 'claude';

    let result: { scope: Scope; file?: string; backup_id?: string; command: string; args: string[]; verify: string };
    if (scope === 'project') {
      const { backupId } = await mergeIntoMcpJson(common.workspace, entry);
      result = { scope, file: '.mcp.json', backup_id: backupId, command: entry.command, args: entry.args, verify: 'claude mcp list' };
    } else {
      addWithClaude(claude, scope, entry, common.workspace);
      result = { scope, command: entry.command, args: entry.args, verify: 'claude mcp list' };
    }

    if (common.json) printJson(result);
    else {
      const where = scope === 'project' ? `.mcp.json (backup ${result.backup_id})` : `Claude Code's ${scope} configuration`;
      process.stdout.write(`Registered "${SERVER_NAME}" (${entry.command} ${entry.args.join(' ')}) in ${where}.\n`);
      process.stdout.write(`Verify: run \`claude mcp list\` in this folder; it should show "${SERVER_NAME}: … ✔ Connected".\n`);
      if (scope === 'project') process.stdout.write('Claude Code asks you to approve project servers from .mcp.json the first time.\n');
    }
    return 0;
  },
};

interface ServerEntry {
  type: 'stdio';
  command: string;
  args: string[];
}

/** `node <this bundle> serve`: Claude Code starts it in the project folder, which becomes the workspace. */
function serverEntry(): ServerEntry {
  const script = fs.realpathSync(path.resolve(process.argv[1] ?? 'dist/sidecar.js'));
  return { type: 'stdio', command: 'node', args: [script, 'serve'] };
}

async function mergeIntoMcpJson(workspace: string, entry: ServerEntry): Promise<{ backupId: string }> {
  const { WorkspaceFiles, loadPolicy } = await import('../../core/files');
  const loaded = loadPolicy(workspace);
  const policy = { ...loaded.policy, forbidden: loaded.policy.forbidden.filter((f) => f !== '.mcp.json') };
  const files = await WorkspaceFiles.open(workspace, { actor: 'cli', policy });
  let doc: Record<string, unknown> = {};
  const existing = path.join(workspace, '.mcp.json');
  if (fs.existsSync(existing)) {
    const text = (await files.read('.mcp.json', { actor: 'cli' })).text;
    if (text.trim()) {
      const parsed = parseStructuredText<unknown>('.mcp.json', text);
      const error = parsed.diagnostics.find((d) => d.severity === 'error');
      if (error) throw new UserError(`.mcp.json:${error.line}:${error.column}: ${error.message}; fix it first, nothing was changed`);
      if (!parsed.value || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) throw new UserError('.mcp.json must hold a JSON object; nothing was changed');
      doc = parsed.value as Record<string, unknown>;
    }
  }
  const servers = doc.mcpServers;
  if (servers !== undefined && (typeof servers !== 'object' || servers === null || Array.isArray(servers))) {
    throw new UserError('.mcp.json: "mcpServers" must be an object; nothing was changed');
  }
  doc.mcpServers = { ...(servers as Record<string, unknown> | undefined), [SERVER_NAME]: entry };
  const written = await files.write('.mcp.json', JSON.stringify(doc, null, 2) + '\n', { actor: 'cli', reason: 'install claude --scope project' });
  return { backupId: written.backupId };
}

function addWithClaude(claude: string, scope: Scope, entry: ServerEntry, cwd: string): void {
  const run = (args: string[]) => spawnSync(claude, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  // Replace an older entry of ours in that scope; "not found" is fine.
  run(['mcp', 'remove', '--scope', scope, SERVER_NAME]);
  const added = run(['mcp', 'add', '--scope', scope, SERVER_NAME, '--', entry.command, ...entry.args]);
  if (added.error) {
    const missing = (added.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UserError(missing ? `Claude Code CLI not found ("${claude}"); install it (npm i -g @anthropic-ai/claude-code) or use --scope project` : `could not run claude: ${added.error.message}`);
  }
  if (added.status !== 0) {
    const why = (added.stderr || added.stdout || '').trim().split('\n')[0] ?? '';
    throw new UserError(`claude mcp add failed (exit ${added.status})${why ? `: ${why}` : ''}`);
  }
}
