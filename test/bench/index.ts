/**
 * `npm run bench`: runs every test/bench/*.bench.ts (each exports `run(): Promise<object>`) and prints one JSON
 * document. Every figure sits beside the named reference measured in the same run, as a ratio.
 * `npm run bench -- cascade ledger` runs only the named benches. The document is also written to
 * test-results/bench.json.
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
  const json = JSON.stringify({ machine, loadAvg1m: Math.round((await import('node:os')).loadavg()[0]! * 100) / 100, results }, null, 2) + '\n';
  // Also kept in a file: `npm run bench` prints npm's own banner above the JSON (`npm run -s bench` does not).
  const out = path.join(__dirname, '..', '..', 'test-results', 'bench.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, json);
  process.stdout.write(json);
}

void main();
