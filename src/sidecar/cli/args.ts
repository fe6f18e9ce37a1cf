import { parseArgs } from 'node:util';
import path from 'node:path';
import { UserError } from '../../core/errors';

/** Options every subcommand takes. */
export interface CommonOptions {
  workspace: string;
  json: boolean;
}

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

/** Parses a subcommand's arguments; unknown options are a user error, not a stack trace. */
export function parseCommandArgs(argv: string[], extra: OptionSpec = {}): { common: CommonOptions; values: Record<string, unknown>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { workspace: { type: 'string' }, json: { type: 'boolean' }, ...extra },
      allowPositionals: true,
      strict: true,
    });
    const workspace = path.resolve(typeof values.workspace === 'string' ? values.workspace : process.cwd());
    return { common: { workspace, json: values.json === true }, values, positionals };
  } catch (err) {
    throw new UserError((err as Error).message.split('\n')[0]!.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}
