import { isUserError } from '../core/errors';
import type { Command } from './cli/commands';
import { agentsCommand } from './cli/agents';
import { serversCommand } from './cli/servers';
import { serveCommand } from './cli/serve';
import { installCommand } from './cli/install';
import { contextCommand } from './cli/context';
import { quotaCommand } from './cli/quota';
import { backupsCommand } from './cli/backups';
import { delegateCommand } from './cli/delegate';
import { demoCommand } from './cli/demo';

// Subcommands register here; each lives in its own file under ./cli/.
const commands: Command[] = [serveCommand, agentsCommand, serversCommand, contextCommand, installCommand, quotaCommand, backupsCommand, delegateCommand, demoCommand];

function usage(): string {
  const lines = commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return ['Usage: switchboard <command> [--workspace DIR] [--json]', '', 'Commands:', ...lines].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  // An MCP client starts us with piped stdin and often no arguments (or only options): serve.
  if ((argv.length === 0 || argv[0]!.startsWith('--')) && !process.stdin.isTTY && !argv.some((a) => a === '--help' || a === '-h')) {
    return serveCommand.run(argv);
  }
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`switchboard: unknown command "${name}" (try: ${commands.map((c) => c.name).join(', ')})\n`);
    return 1;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    if (isUserError(err)) {
      process.stderr.write(`switchboard: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      // A bug: still one line for the user; the detail only with SWITCHBOARD_DEBUG.
      process.stderr.write(`switchboard: internal error: ${(err as Error)?.message ?? String(err)}\n`);
      if (process.env.SWITCHBOARD_DEBUG) process.stderr.write(String((err as Error)?.stack) + '\n');
      process.exitCode = 2;
    }
  },
);
