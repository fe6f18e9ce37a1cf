/**
 * `npm run bench`: runs every test/bench/*.bench.ts (each exports `run(): Promise<object>`) and prints one JSON
 * document. Every figure sits beside the named reference measured in the same run, as a ratio.
 * `npm run bench -- cascade ledger` runs only the named benches.
 */
import fs from 'node:fs';
import path from 'node:path';

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const files = fs.readdirSync(__dirname).filter((f) => f.endsWith('.bench.ts')).sort();
  const results: Record<string, unknown> = {};
  for (const file of files) {
    const name = file.replace(/\.bench\.ts$/, '');
    if (only.length && !only.includes(name)) continue;
    process.stderr.write(`bench: ${name}…\n`);
    const mod = (await import(path.join(__dirname, file))) as { run(): Promise<unknown> };
    try {
      results[name] = await mod.run();
    } catch (err) {
      results[name] = { error: (err as Error).message };
    }
  }
  const machine = { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: (await import('node:os')).cpus().length };
  process.stdout.write(JSON.stringify({ machine, results }, null, 2) + '\n');
}

void main();
