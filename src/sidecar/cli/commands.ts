/** A CLI subcommand: one file per command under src/sidecar/cli/, registered in main.ts. */
export interface Command {
  name: string;
  summary: string;
  /** Returns the process exit code. Throw UserError for a plain one-line failure (exit 1). */
  run(argv: string[]): Promise<number>;
}

/** Writes machine output: stable JSON, one document, newline-terminated. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
