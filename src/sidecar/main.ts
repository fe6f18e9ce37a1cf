import { isUserError } from '../core/errors';
import type { Command } from './cli/commands';

/**
 * Subcommands, each in its own file under ./cli/, loaded only when run: a process started by an MCP client
 * (serve) never evaluates the CLI-only modules (health checks, demo, install), which keeps cold start short.
 */
const commands: Array<{ name: string; load: () => Promise<Command> }> = [
  { name: 'serve', load: async () => (await import('./cli/serve')).serveCommand },
  { name: 'agents', load: async () => (await import('./cli/agents')).agentsCommand },
  { name: 'servers', load: async () => (await import('./cli/servers')).serversCommand },
  { name: 'context', load: async () => (await import('./cli/context')).contextCommand },
  { name: 'install', load: async () => (await import('./cli/install')).installCommand },
  { name: 'quota', load: async () => (await import('./cli/quota')).quotaCommand },
  { name: 'ledger', load: async () => (await import('./cli/ledger')).ledgerCommand },
  { name: 'backups', load: async () => (await import('./cli/backups')).backupsCommand },
  { name: 'delegate', load: async () => (await import('./cli/delegate')).delegateCommand },
  { name: 'registry', load: async () => (await import('./cli/registry')).registryCommand },
  { name: 'report', load: async () => (await import('./cli/report')).reportCommand },
  { name: 'demo', load: async () => (await import('./cli/demo')).demoCommand },
  { name: 'trust', load: async () => (await import('./cli/trust')).trustCommand },
];

async function usage(): Promise<string> {
  const loaded = await Promise.all(commands.map((c) => c.load()));
  const lines = loaded.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return [
    'Usage: switchboard <command> [--workspace DIR] [--json]',
    '       switchboard --version | --help',
    '',
    'Commands:',
    ...lines,
    '',
    'With no command and stdin not a terminal (an MCP client started it), switchboard serves MCP over stdio.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  // Checked first: `--version` from a script (stdin not a terminal) must print the version, not start serving.
  if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version') {
    const { SWITCHBOARD_VERSION } = await import('./version');
    process.stdout.write(`switchboard ${SWITCHBOARD_VERSION}\n`);
    return 0;
  }
  // An MCP client starts us with piped stdin and often no arguments (or only options): serve.
  if ((argv.length === 0 || argv[0]!.startsWith('--')) && !process.stdin.isTTY && !argv.some((a) => a === '--help' || a === '-h')) {
    return (await commands[0]!.load()).run(argv);
  }
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write((await usage()) + '\n');
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`switchboard: unknown command "${name}" (try: ${commands.map((c) => c.name).join(', ')})\n`);
    return 1;
  }
  const loaded = await command.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`switchboard ${loaded.name}: ${loaded.summary}\nOptions every command takes: --workspace DIR, --json\n`);
    return 0;
  }
  return loaded.run(rest);
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
