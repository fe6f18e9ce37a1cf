import { createServer } from '../server';
import { SidecarContext } from '../context';
import { serveStdio } from '../stdio';
import { DirectToolCalls } from '../direct-tool-calls';
import { ALL_TOOLS } from '../tools';
import { parseCommandArgs } from './args';
import type { Command } from './commands';
import { UserError } from '../../core/errors';
import { isDirectory } from '../../core/paths';
import { ACTORS, type Actor } from '../../core/files/backups';
import { withEditorKeys } from '../keys';
import { SWITCHBOARD_VERSION } from '../version';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'MCP server over stdio (the default when stdin is not a terminal); --http [--host H] [--port N] [--no-auth]: the team server',
  async run(argv) {
    const { common, values } = parseCommandArgs(argv, {
      'max-frame-bytes': { type: 'string' }, actor: { type: 'string' },
      http: { type: 'boolean' }, host: { type: 'string' }, port: { type: 'string' }, 'no-auth': { type: 'boolean' },
    });
    if (values.http === true) return (await import('./serve-http')).serveHttp(values, process.env);
    if (values.host !== undefined || values.port !== undefined || values['no-auth'] !== undefined) throw new UserError('--host, --port and --no-auth go with --http');
    // Who the audit log names for writes: the editor's own sidecar passes --actor extension.
    const actor = values.actor === undefined ? undefined : (ACTORS as readonly string[]).includes(values.actor as string) ? (values.actor as Actor) : undefined;
    if (values.actor !== undefined && !actor) throw new UserError(`--actor: expected one of ${ACTORS.join(', ')}`);
    const explicit = argv.some((a) => a === '--workspace' || a.startsWith('--workspace='));
    if (explicit && !isDirectory(common.workspace)) throw new UserError('--workspace: not a folder');
    const maxFrame = values['max-frame-bytes'] ?? process.env.SWITCHBOARD_MAX_FRAME_BYTES;
    const maxFrameBytes = maxFrame === undefined ? undefined : Number(maxFrame);
    if (maxFrameBytes !== undefined && !(Number.isInteger(maxFrameBytes) && maxFrameBytes > 0)) throw new UserError('max frame bytes must be a positive integer');
    // The editor hands keys only for a folder it trusts: the one this sidecar starts in.
    // A plain copy: a server's environment is fixed at start, and every redaction reads the key variables (on
    // process.env each read is a call into the runtime).
    const env = { ...(await withEditorKeys(process.env, (line) => process.stderr.write(`switchboard: ${line}\n`), common.workspace)) };
    const sidecar = new SidecarContext({ workspace: common.workspace, workspaceExplicit: explicit, actor, env });
    const server = createServer({ sidecar, version: SWITCHBOARD_VERSION });
    const direct = new DirectToolCalls(sidecar, ALL_TOOLS);
    const ended = await serveStdio(server, { maxFrameBytes, log: sidecar.log, direct });
    await sidecar.close();
    // A broken stdout means the client is gone: exit now rather than linger on work nobody can receive.
    if (ended.outputError) process.exit(1);
    return 0;
  },
};
