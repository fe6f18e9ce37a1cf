/**
 * `switchboard quota | backups | delegate` as a user runs them: the built dist/sidecar.js in a child process, a
 * temp workspace (copy of the sample), temp HOME and SWITCHBOARD_HOME, and the real Gemini SDK pointed at the fake
 * provider server. The ledger is opened directly (the real sql.js ledger) only to check or seed its contents.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SqlJsLedger } from '../../src/core/ledger';
import { cooldownKey } from '../../src/core/router';
import { startFakeProviderServer, type FakeProviderServer } from '../fakes/provider-server';
import { quotaStatusDescriptor, readToolResult } from '../../src/sidecar/protocol';
import { SIDECAR, buildOnce, childEnv, connectSidecar, makeScratch, type Scratch } from './helpers';

/** Shaped like a real Gemini key so redaction by pattern applies too; never valid anywhere. */
const FAKE_GEMINI_KEY = 'AIzaSy' + 'Q'.repeat(33);
const GENERATED = "import { slugify } from '../src/slugify';\n\ntest('slugs', () => expect(slugify('A B')).toBe('a-b'));\n";

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(scratch: Scratch, args: string[], env: Record<string, string> = {}, onSpawn?: (child: ChildProcess) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SIDECAR, ...args], { cwd: scratch.root, env: childEnv(scratch, env), stdio: ['ignore', 'pipe', 'pipe'] });
    onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    // A hang guard only: every command here finishes in about a second.
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Exit 1, nothing on stdout, exactly one plain line on stderr: no stack, no internal-error marker. */
function assertUserError(r: CliRun, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^switchboard: /);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
  assert.match(lines[0]!, pattern);
}

describe('CLI: quota, backups, delegate (dist/sidecar.js in a child process)', function () {
  this.timeout(60_000);
  let scratch: Scratch;
  let fake: FakeProviderServer;
  let env: Record<string, string>;
  const ws = () => ['--workspace', scratch.workspace];
  const ledgerFile = () => path.join(scratch.switchboardHome, 'ledger.sqlite');

  before(async () => {
    buildOnce();
    fake = await startFakeProviderServer({ reply: { text: '```ts\n' + GENERATED + '```', usage: { inputTokens: 300, outputTokens: 40 } } });
    scratch = makeScratch();
    env = { SWITCHBOARD_GEMINI_BASE_URL: fake.baseUrl('gemini'), GEMINI_API_KEY: FAKE_GEMINI_KEY };
  });
  after(async () => {
    await fake?.close();
    scratch?.cleanup();
  });

  describe('quota', () => {
    it('prints a table per provider: tier, key present (never the key), quota used/limit, %, reset, status; then the month', async () => {
      const r = await runCli(scratch, ['quota', ...ws()], env);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split('\n');
      assert.match(lines[0]!, /^PROVIDER\s+TIER\s+KEY\s+QUOTA\s+USED \/ LIMIT\s+USED %\s+RESETS\s+STATUS$/);
      const row = (id: string) => lines.find((l) => l.startsWith(id + ' '));
      // The time to reset depends on the hour the suite runs (under an hour before Gemini's midnight in Los
      // Angeles, under a day at a month's end): any of the CLI's duration forms.
      const resets = String.raw`in (\d+d \d+h|\d+h \d+m|\d+m|\d+s)`;
      assert.match(row('gemini')!, new RegExp(String.raw`^gemini\s+free\s+yes\s+requests/day\s+0 / 1500\s+0%\s+${resets}\s+ready$`));
      assert.match(row('together')!, new RegExp(String.raw`^together\s+free\s+no\s+requests/month\s+0 / 3000\s+0%\s+${resets}\s+ready$`));
      assert.match(row('huggingface')!, /input_chars\/month\s+0 \/ 30000/);
      assert.match(row('openai')!, /^openai\s+paid\s+no\s+usd\/month\s+\$0\.0000 \/ \$5\.0000/);
      assert.match(row('local')!, /^local\s+local\s+not needed\s+no quota/);
      assert.match(r.stdout, /^\d{4}-\d{2}: 0 call\(s\), spent \$0\.0000; the premium baseline would have cost \$0\.0000, saved \$0\.0000\.$/m);
      assert.ok(!r.stdout.includes(FAKE_GEMINI_KEY) && !r.stderr.includes(FAKE_GEMINI_KEY), 'the key is never printed');
    });

    it('shows cooldowns and open circuits held in the shared ledger', async () => {
      const ledger = await SqlJsLedger.open({ file: ledgerFile() });
      try {
        await ledger.setCooldown(cooldownKey('together', undefined), Date.now() + 5 * 60_000, 'rate limited');
        for (let i = 0; i < 5; i++) await ledger.recordOutcome('huggingface', false);
      } finally {
        await ledger.close();
      }
      const r = await runCli(scratch, ['quota', ...ws()], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^together .*cooling down in [45]m \(rate limited\)$/m);
      assert.match(r.stdout, /^huggingface .*circuit open in (\d+s|1m)$/m);
      const json = JSON.parse((await runCli(scratch, ['quota', '--json', ...ws()], env)).stdout);
      const together = json.providers.find((p: { id: string }) => p.id === 'together');
      assert.equal(together.cooldown_reason, 'rate limited');
      assert.ok(Date.parse(together.cooldown_until) > Date.now());
      assert.equal(json.providers.find((p: { id: string }) => p.id === 'huggingface').circuit, 'open');

      // The editor reads quota_status over MCP: it must say exactly what the CLI says (computed once, in the tool).
      const session = await connectSidecar(scratch, { env });
      try {
        const { structured } = readToolResult(quotaStatusDescriptor, await session.client.callTool({ name: 'quota_status', arguments: {} }));
        for (const id of ['together', 'huggingface']) {
          const fromTool = structured.providers.find((p) => p.id === id)!;
          const fromCli = json.providers.find((p: { id: string }) => p.id === id);
          for (const field of ['cooldown_until', 'cooldown_reason', 'circuit', 'circuit_until'] as const) {
            assert.equal(fromCli[field], fromTool[field], `${id}.${field}: CLI and tool agree`);
          }
        }
        const together = structured.providers.find((p) => p.id === 'together')!;
        assert.equal(together.cooldown_reason, 'rate limited');
        assert.equal(together.circuit, 'closed', 'a 429 cooldown is not an open circuit');
        const huggingface = structured.providers.find((p) => p.id === 'huggingface')!;
        assert.equal(huggingface.circuit, 'open');
        assert.ok(Date.parse(huggingface.circuit_until!) > Date.now());
        assert.equal(huggingface.cooldown_until, undefined, 'an open circuit is not a 429 cooldown');
      } finally {
        await session.close();
      }
    });

    it('--json is one stable document with the same figures', async () => {
      const r = await runCli(scratch, ['quota', '--json', ...ws()], env);
      assert.equal(r.code, 0, r.stderr);
      const json = JSON.parse(r.stdout);
      assert.deepEqual(Object.keys(json), ['providers', 'month']);
      assert.deepEqual(json.providers.map((p: { id: string }) => p.id), ['local', 'gemini', 'together', 'huggingface', 'openai']);
      const gemini = json.providers.find((p: { id: string }) => p.id === 'gemini');
      assert.deepEqual(Object.keys(gemini), ['id', 'tier', 'key_needed', 'has_key', 'quotas', 'circuit', 'key']);
      assert.equal(gemini.has_key, true);
      assert.deepEqual(Object.keys(gemini.quotas[0]), ['metric', 'window', 'limit', 'left', 'resets_at', 'used', 'percent_used']);
      assert.deepEqual(Object.keys(json.month), ['month', 'calls', 'usd', 'baseline_usd', 'saved_usd']);
      assert.ok(!r.stdout.includes(FAKE_GEMINI_KEY));
    });
  });

  describe('delegate', () => {
    beforeEach(() => fake.reset());

    it('--out writes the answer with a backup, prints path, backup id and the routing decision; the ledger is charged once', async () => {
      fake.setReply({ text: '```ts\n' + GENERATED + '```', usage: { inputTokens: 300, outputTokens: 40 } });
      const before = JSON.parse((await runCli(scratch, ['quota', '--json', ...ws()], env)).stdout);
      const r = await runCli(scratch, ['delegate', 'tests', '--file', 'src/slugify.ts', '--out', 'test/slugify.test.ts', ...ws()], env);
      assert.equal(r.code, 0, r.stderr);
      const target = path.join(scratch.workspace, 'test', 'slugify.test.ts');
      assert.equal(fs.readFileSync(target, 'utf8'), GENERATED, 'written without the code fence');
      const backupId = /Undo: switchboard backups restore (\S+)/.exec(r.stdout)?.[1];
      assert.ok(backupId, r.stdout);
      assert.match(r.stdout, /^created test\/slugify\.test\.ts \(\d+ bytes\)/);
      assert.match(r.stdout, /Routed to gemini · model gemini-2\.5-flash · tier free/);
      assert.match(r.stdout, /tokens: 300 in \+ 40 out; cost \$0\.0000 \(premium baseline \$0\.0015, saved \$0\.0015\)/);
      assert.match(r.stdout, /quota left: \d+ of 1500 requests\/day/);
      assert.match(r.stdout, /together: no API key/);
      assert.equal(fake.count('gemini'), 1, 'one provider call');
      const [request] = fake.requests;
      assert.match(JSON.stringify(request!.json), /Write unit tests for the files given\.[\s\S]*File src\/slugify\.ts/, 'default prompt plus the file');

      const after = JSON.parse((await runCli(scratch, ['quota', '--json', ...ws()], env)).stdout);
      const used = (q: { providers: Array<{ id: string; quotas: Array<{ used: number }> }> }) => q.providers.find((p) => p.id === 'gemini')!.quotas[0]!.used;
      assert.equal(used(after) - used(before), 1, 'gemini requests/day charged exactly once');
      assert.equal(after.month.calls - before.month.calls, 1);
      assert.ok(after.month.saved_usd > before.month.saved_usd);

      const backups = JSON.parse((await runCli(scratch, ['backups', '--json', ...ws()], env)).stdout).backups;
      assert.equal(backups[0].id, backupId, 'newest first');
      assert.equal(backups[0].path, 'test/slugify.test.ts');
      assert.equal(backups[0].actor, 'cli');
      assert.equal(backups[0].existed, false);
    });

    it('without --out prints the answer alone on stdout and the decision on stderr; --json carries both', async () => {
      fake.setReply({ text: 'Slugify turns titles into URL slugs.', usage: { inputTokens: 100, outputTokens: 8 } });
      const r = await runCli(scratch, ['delegate', 'docs', '--file', 'src/slugify.ts', '--prompt', 'Explain it.', ...ws()], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'Slugify turns titles into URL slugs.\n');
      assert.match(r.stderr, /Routed to gemini · model gemini-2\.5-flash · tier free\n {2}tokens: 100 in \+ 8 out/);
      assert.match(JSON.stringify(fake.requests[0]!.json), /Explain it\./);

      const j = await runCli(scratch, ['delegate', 'review', '--provider', 'gemini', '--max-tokens', '500', '--json', ...ws()], env);
      assert.equal(j.code, 0, j.stderr);
      const json = JSON.parse(j.stdout);
      assert.equal(json.text, 'Slugify turns titles into URL slugs.');
      assert.equal(json.provider, 'gemini');
      assert.equal(json.input_tokens, 100);
      assert.equal(json.complete, true);
      assert.equal(typeof json.baseline_usd, 'number');
      assert.equal((fake.requests[1]!.json as { generationConfig?: { maxOutputTokens?: number } }).generationConfig?.maxOutputTokens, 500);
    });

    it('an answer cut short is not written with --out: exit 1, one line, the file untouched', async () => {
      fake.setDefault('*', { kind: 'finish_length' });
      const r = await runCli(scratch, ['delegate', 'docs', '--file', 'src/slugify.ts', '--out', 'docs/slugify.md', ...ws()], env);
      assertUserError(r, /NOT WRITTEN: .*cut short/);
      assert.equal(fs.existsSync(path.join(scratch.workspace, 'docs', 'slugify.md')), false);
    });

    it('Ctrl-C stops a hanging generation: exit 1, one line, its quota reservation given back', async () => {
      fake.setDefault('*', { kind: 'hang_before_headers' });
      const before = JSON.parse((await runCli(scratch, ['quota', '--json', ...ws()], env)).stdout);
      let timer: NodeJS.Timeout | undefined;
      const r = await runCli(scratch, ['delegate', 'docs', '--prompt', 'x', ...ws()], env, (child) => {
        // Once the request reached the provider, the user presses Ctrl-C.
        timer = setInterval(() => {
          if (fake.count('gemini') > 0) {
            clearInterval(timer);
            child.kill('SIGINT');
          }
        }, 20);
      });
      clearInterval(timer);
      assertUserError(r, /^switchboard: delegation cancelled \(Ctrl-C\)$/);
      const after = JSON.parse((await runCli(scratch, ['quota', '--json', ...ws()], env)).stdout);
      const left = (q: { providers: Array<{ id: string; quotas: Array<{ left: number }> }> }) => q.providers.find((p) => p.id === 'gemini')!.quotas[0]!.left;
      assert.equal(left(after), left(before), 'nothing held or charged');
    });

    it('no usable provider is a plain one-line error listing why each was skipped', async () => {
      const r = await runCli(scratch, ['delegate', 'code', '--prompt', 'x', ...ws()], { GEMINI_API_KEY: '' });
      assertUserError(r, /no provider could take this code task: .*gemini: no API key/);
      assert.equal(fake.count(), 0);
    });
  });

  describe('backups', () => {
    it('lists newest first as a table, --file filters, and restore removes a file that did not exist before', async () => {
      fake.setReply({ text: 'export const a = 1;\n', usage: { inputTokens: 10, outputTokens: 5 } });
      const made = await runCli(scratch, ['delegate', 'code', '--prompt', 'constant', '--out', 'src/generated.ts', ...ws()], env);
      assert.equal(made.code, 0, made.stderr);
      const id = /Undo: switchboard backups restore (\S+)/.exec(made.stdout)![1]!;

      const table = await runCli(scratch, ['backups', ...ws()], env);
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^ID\s+FILE\s+SIZE\s+TIME\s+ACTOR\s+NOTE$/);
      assert.match(lines[1]!, new RegExp(`^${id}\\s+src/generated\\.ts\\s+-\\s+\\d{4}-\\d\\d-\\d\\dT\\S+\\s+cli\\s+file did not exist before`));
      assert.ok(lines.length >= 3, 'the earlier delegation is listed too');

      const filtered = JSON.parse((await runCli(scratch, ['backups', '--json', '--file', 'src/generated.ts', ...ws()], env)).stdout).backups;
      assert.deepEqual(filtered.map((b: { id: string }) => b.id), [id]);

      const restored = await runCli(scratch, ['backups', 'restore', id, ...ws()], env);
      assert.equal(restored.code, 0, restored.stderr);
      assert.match(restored.stdout, /^src\/generated\.ts deleted \(it did not exist before\)/);
      assert.equal(fs.existsSync(path.join(scratch.workspace, 'src', 'generated.ts')), false);
    });

    it('restore refuses a file edited since Switchboard wrote it (exit 1, one line), --force restores it', async () => {
      const file = path.join(scratch.workspace, 'README.md');
      fs.writeFileSync(file, 'original\n');
      fake.setReply({ text: 'generated readme\n', usage: { inputTokens: 10, outputTokens: 5 } });
      const made = await runCli(scratch, ['delegate', 'docs', '--prompt', 'readme', '--out', 'README.md', '--json', ...ws()], env);
      assert.equal(made.code, 0, made.stderr);
      const id = JSON.parse(made.stdout).backup_id as string;
      fs.writeFileSync(file, 'edited by hand\n');

      const refused = await runCli(scratch, ['backups', 'restore', id, ...ws()], env);
      assertUserError(refused, /README\.md" was changed after Switchboard last wrote it.*Use --force/);
      assert.equal(fs.readFileSync(file, 'utf8'), 'edited by hand\n', 'nothing lost');

      const forced = await runCli(scratch, ['backups', 'restore', id, '--force', '--json', ...ws()], env);
      assert.equal(forced.code, 0, forced.stderr);
      const json = JSON.parse(forced.stdout);
      assert.equal(json.forced, true);
      assert.equal(json.restored_from, id);
      assert.equal(fs.readFileSync(file, 'utf8'), 'original\n');
      // The hand edit was backed up before the forced restore: it can be brought back.
      const back = await runCli(scratch, ['backups', 'restore', json.backup_id, ...ws()], env);
      assert.equal(back.code, 0, back.stderr);
      assert.equal(fs.readFileSync(file, 'utf8'), 'edited by hand\n');
    });
  });

  describe('user errors: exit 1 with one plain line, no stack', () => {
    const cases: Array<[string, (w: string[]) => string[], RegExp]> = [
      ['missing task', (w) => ['delegate', ...w], /delegate needs a task: tests, docs/],
      ['unknown task', (w) => ['delegate', 'poetry', ...w], /unknown task "poetry"/],
      ['bad --max-tokens', (w) => ['delegate', 'tests', '--max-tokens', 'lots', ...w], /--max-tokens must be a positive whole number/],
      ['stray positional', (w) => ['delegate', 'tests', 'src/slugify.ts', ...w], /unexpected argument "src\/slugify\.ts" \(give files with --file/],
      ['unknown option', (w) => ['quota', '--verbose', ...w], /Unknown option '--verbose'/],
      ['forbidden --out', (w) => ['delegate', 'code', '--prompt', 'x', '--out', '.env', ...w], /not allowed/i],
      ['missing --file', (w) => ['delegate', 'docs', '--file', 'nope.ts', ...w], /nope\.ts/],
      ['unknown agent', (w) => ['delegate', 'docs', '--agent', 'ghost', ...w], /unknown agent "ghost"/],
      ['restore without id', (w) => ['backups', 'restore', ...w], /backups restore needs a backup ID/],
      ['unknown backup', (w) => ['backups', 'restore', 'no-such-id', ...w], /No backup "no-such-id"; list them with: switchboard backups/],
      ['unknown backups action', (w) => ['backups', 'purge', ...w], /unknown backups action "purge"/],
      ['--force without restore', (w) => ['backups', '--force', ...w], /--force only applies to/],
      ['missing workspace', () => ['quota', '--workspace', '/nonexistent/switchboard-ws'], /--workspace \/nonexistent\/switchboard-ws: not a directory/],
    ];
    for (const [name, argv, pattern] of cases) {
      it(name, async () => {
        fake.reset();
        assertUserError(await runCli(scratch, argv(ws()), env), pattern);
        assert.equal(fake.count(), 0, 'no provider was called');
      });
    }
  });
});
