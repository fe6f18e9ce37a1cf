/**
 * Hostile hygiene (issue 9, items 6–9), the way an attacker or an unlucky user meets it: the built sidecar over
 * real stdio, the real router and SDKs against the fake provider server, real files. Families:
 *  - fidelity: file content and generated code keep every byte; only the user's own key values are masked,
 *    a custom apiKeyEnv key included, wherever it could surface (results, stderr, audit.jsonl);
 *  - bounded work: delegate's files are capped (duplicates and aliases counted once) before a byte is read,
 *    files are read after the limiter admits the call, stdout back-pressure and a broken stdout;
 *  - config bombs: alias bombs, deep nesting and oversized files in every config file become diagnostics;
 *  - small ones: see test/core (backups' mode, ledger, base URL) and the CLI cases at the end.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { startFakeProviderServer, type FakeProviderServer } from '../../fakes/provider-server';
import { LineTransport } from '../../../src/sidecar/stdio';
import { formatDiagnostic, type Diagnostic } from '../../../src/core/diagnostics';
import { SIDECAR, buildOnce, childEnv, connectSidecar, makeScratch, textOf, type Connected, type Scratch } from '../helpers';

const run = promisify(execFile);

/** A key in a custom apiKeyEnv variable, shaped like no known key pattern: only its value can catch it. */
const ACME_KEY = 'acmelive' + 'Zq7Wv3Nx9Lp'.repeat(3);
/** The user's OpenAI key (a standard variable). */
const OPENAI_KEY = 'sk-proj-' + 'H7g5'.repeat(10);

/** Ordinary code that pattern-based masking used to rewrite. */
const ORDINARY_CODE = [
  'const token = getToken();',
  "const password = process.env.DB_PASSWORD ?? '';",
  'headers.Authorization = `Bearer ${session.accessToken}`;',
  'export const apiKey = config.get("apiKey");',
  'const url = `https://api.example.com/items?token=${token}&page=2`;',
  '// sample from the docs, not a real key: sk-proj-EXAMPLEexampleEXAMPLEexample1234',
  "const conn = 'postgres://app:hunter2@db.internal:5432/app';",
  'secret: "${SECRET_FROM_VAULT}"',
  '',
].join('\n');

function userRouterYaml(fake: FakeProviderServer): string {
  return [
    'providers:',
    '  - id: acme',
    '    kind: openai-compatible',
    '    tier: free',
    `    baseUrl: ${fake.baseUrl('openai-compatible', 'acme')}`,
    '    apiKeyEnv: ACME_KEY',
    '    models:',
    '      - id: acme-1',
    '        input_per_mtok: 0',
    '        output_per_mtok: 0',
    '        context: 1000000',
    '',
  ].join('\n');
}

function peakRssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)\s+kB/.exec(status)?.[1]);
  return kb * 1024;
}

async function until<T>(probe: () => T | undefined | false, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function auditText(scratch: Scratch): string {
  const file = path.join(scratch.workspace, '.switchboard', 'audit.jsonl');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

describe('hostile hygiene: fidelity, bounded work, config bombs (real sidecar over stdio)', function () {
  this.timeout(180_000);
  let fake: FakeProviderServer;

  before(async () => {
    buildOnce();
    fake = await startFakeProviderServer({ reply: { text: 'OK', usage: { inputTokens: 10, outputTokens: 5 } } });
  });
  after(async () => {
    await fake?.close();
  });
  beforeEach(() => fake.reset());

  describe('fidelity: content keeps its bytes, only the user\'s keys are masked', () => {
    let scratch: Scratch;
    let s: Connected;

    before(async () => {
      scratch = makeScratch();
      fs.writeFileSync(path.join(scratch.switchboardHome, 'router.yaml'), userRouterYaml(fake));
      s = await connectSidecar(scratch, { env: { ACME_KEY, OPENAI_API_KEY: OPENAI_KEY } });
    });
    after(async () => {
      await s?.close();
      scratch?.cleanup();
    });

    it('read_file returns ordinary code byte for byte, and writing it back changes nothing', async () => {
      const file = path.join(scratch.workspace, 'src', 'client.ts');
      fs.writeFileSync(file, ORDINARY_CODE);
      const r = await s.client.callTool({ name: 'read_file', arguments: { path: 'src/client.ts' } });
      assert.equal(r.isError, undefined, textOf(r));
      const content = (r.content as Array<{ text: string }>)[0]!.text;
      assert.equal(content, ORDINARY_CODE, 'the text block is the file, exactly');
      assert.equal((r.structuredContent as { content: string }).content, ORDINARY_CODE, 'structured content too');
      const w = await s.client.callTool({ name: 'write_file', arguments: { path: 'src/client.ts', content } });
      assert.equal(w.isError, undefined, textOf(w));
      assert.equal(fs.readFileSync(file, 'utf8'), ORDINARY_CODE, 'a read-modify-write round trip keeps the file intact');
    });

    it('read_file masks exactly the values of keys the user holds (standard and custom apiKeyEnv), nothing else', async () => {
      const text = `${ORDINARY_CODE}const leaked = "${OPENAI_KEY}";\nconst other = '${ACME_KEY}';\n`;
      fs.writeFileSync(path.join(scratch.workspace, 'src', 'leak.ts'), text);
      // The router config is what names ACME_KEY as a key; any call loading it registers the name.
      await s.client.callTool({ name: 'quota_status', arguments: {} });
      const r = await s.client.callTool({ name: 'read_file', arguments: { path: 'src/leak.ts' } });
      const content = (r.content as Array<{ text: string }>)[0]!.text;
      assert.equal(content, `${ORDINARY_CODE}const leaked = "[REDACTED]";\nconst other = '[REDACTED]';\n`);
      assert.ok(!JSON.stringify(r).includes(ACME_KEY) && !JSON.stringify(r).includes(OPENAI_KEY));
    });

    it('a custom apiKeyEnv key echoed in a provider error body reaches no result, stderr or audit line', async () => {
      fake.enqueue('acme', { kind: 'status', status: 400, message: `invalid credential ${ACME_KEY} for this project` });
      const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'code', prompt: 'Write a helper.' } });
      assert.equal(r.isError, true, 'the provider refused the request');
      assert.equal(fake.count('acme'), 1, 'the call did reach the provider');
      assert.equal(fake.requests[0]!.headers.authorization, `Bearer ${ACME_KEY}`, 'the custom key was the one sent');
      assert.match(textOf(r), /invalid credential \[REDACTED\] for this project/);
      const stderr = await until(() => s.stderr().includes('invalid credential') && s.stderr(), 'the failure on stderr');
      const audit = await until(() => auditText(scratch).includes('"op":"delegate"') && auditText(scratch), 'the delegate audit line');
      for (const [where, text] of [['result', JSON.stringify(r)], ['stderr', stderr], ['audit.jsonl', audit]] as const) {
        assert.ok(!text.includes(ACME_KEY), `the key is in the ${where}`);
        assert.ok(!text.includes(ACME_KEY.slice(-16)), `a tail of the key is in the ${where}`);
      }
    });

    it('generated code keeps its bytes; only a key the user holds is masked, in the result and in the written file', async () => {
      const generated = `${ORDINARY_CODE}const k = "${ACME_KEY}";\n`;
      const expected = `${ORDINARY_CODE}const k = "[REDACTED]";\n`;
      fake.setReply({ text: generated, usage: { inputTokens: 10, outputTokens: 5 } });
      const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'code', prompt: 'Write it.' } });
      assert.equal(r.isError, undefined, textOf(r));
      assert.equal((r.content as Array<{ text: string }>)[0]!.text, expected);
      const w = await s.client.callTool({ name: 'delegate', arguments: { task: 'code', prompt: 'Write it.', output_path: 'src/generated.ts' } });
      assert.equal(w.isError, undefined, textOf(w));
      assert.equal(fs.readFileSync(path.join(scratch.workspace, 'src', 'generated.ts'), 'utf8'), expected);
    });

    it('tokens in server args are masked in list_servers and in `switchboard servers` (table and --json)', async () => {
      const ghp = 'ghp_' + 'R4nd0mT0k3n'.repeat(4);
      const slack = 'xoxb-1234567890-' + 'abcDEF'.repeat(4);
      const aws = 'AKIA' + 'QWERTYUIOPASDFGH';
      const opaque = 'opaque' + 'Value'.repeat(6);
      fs.writeFileSync(path.join(scratch.workspace, '.mcp.json'), JSON.stringify({
        mcpServers: {
          gh: { command: 'github-mcp', args: ['--token', ghp, '--read-only'] },
          slack: { command: 'slack-mcp', args: [`--bot-token=${slack}`] },
          aws: { command: 'aws-mcp', args: ['--access-key', aws, '--region', 'eu-west-1'] },
          custom: { command: 'custom-mcp', args: ['--api-key', opaque, '--key', '${KEY_FROM_ENV}'] },
        },
      }));
      const secrets = [ghp, slack, aws, opaque];
      const r = await s.client.callTool({ name: 'list_servers', arguments: {} });
      const text = JSON.stringify(r);
      for (const secret of secrets) assert.ok(!text.includes(secret), `list_servers shows ${secret.slice(0, 6)}…`);
      assert.match(textOf(r), /github-mcp --token \[REDACTED\] --read-only/);
      assert.match(textOf(r), /aws-mcp --access-key \[REDACTED\] --region eu-west-1/);
      assert.match(textOf(r), /--key \$\{KEY_FROM_ENV\}/, 'a reference names a secret, it does not hold one');

      const env = childEnv(scratch);
      for (const args of [['servers'], ['servers', '--json']]) {
        const out = await run(process.execPath, [SIDECAR, ...args, '--workspace', scratch.workspace], { env, timeout: 60_000 });
        for (const secret of secrets) assert.ok(!out.stdout.includes(secret) && !out.stderr.includes(secret), `${args.join(' ')} shows ${secret.slice(0, 6)}…`);
        assert.match(out.stdout, /\[REDACTED\]/);
      }
    });
  });

  describe('bounded work', () => {
    let scratch: Scratch;

    beforeEach(() => {
      scratch = makeScratch();
      fs.writeFileSync(path.join(scratch.switchboardHome, 'router.yaml'), userRouterYaml(fake));
    });
    afterEach(() => scratch?.cleanup());

    it('24 concurrent delegates with 50 × 10 MB files each are refused before a byte is read; memory stays bounded', async () => {
      const names: string[] = [];
      fs.mkdirSync(path.join(scratch.workspace, 'huge'));
      for (let i = 0; i < 50; i++) {
        const name = `huge/f${i}.txt`;
        // Sparse: 10 MB each as far as stat (and a reader) can tell, no disk used.
        fs.closeSync(fs.openSync(path.join(scratch.workspace, name), 'w'));
        fs.truncateSync(path.join(scratch.workspace, name), 10_000_000);
        names.push(name);
      }
      const s = await connectSidecar(scratch, { env: { ACME_KEY } });
      try {
        const results = await Promise.all(Array.from({ length: 24 }, () => s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'Summarise.', files: names } }, undefined, { timeout: 120_000 })));
        for (const r of results) {
          assert.equal(r.isError, true);
          assert.match(textOf(r), /context files total 476\.8 MB \(50 distinct\), over the 4\.0 MB limit for one delegation/);
        }
        assert.equal(fake.count(), 0, 'no provider was called');
        const peak = peakRssBytes(s.transport.pid!);
        assert.ok(peak < 300 * 1024 * 1024, `peak RSS ${Math.round(peak / 1048576)} MB; 24 × 500 MB of files were never read`);
        // Still serving.
        const ok = await s.client.callTool({ name: 'read_file', arguments: { path: 'src/slugify.ts' } });
        assert.equal(ok.isError, undefined, textOf(ok));
      } finally {
        await s.close();
      }
    });

    it('the same file by other spellings and through a symbolic link counts (and is sent) once', async () => {
      const body = 'x'.repeat(1_500_000) + '\nEND-OF-BIG\n';
      fs.mkdirSync(path.join(scratch.workspace, 'sub'));
      fs.writeFileSync(path.join(scratch.workspace, 'big.txt'), body);
      fs.symlinkSync('big.txt', path.join(scratch.workspace, 'alias.txt'));
      const s = await connectSidecar(scratch, { env: { ACME_KEY } });
      try {
        // 5 × 1.5 MB would be over the 4 MB cap; it is one file.
        const spellings = ['big.txt', './big.txt', `${scratch.workspace}/big.txt`, 'alias.txt', 'sub/../big.txt'.replace('sub/../', './/')];
        const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'Summarise.', files: spellings } });
        assert.equal(r.isError, undefined, textOf(r));
        const sent = JSON.stringify(fake.requests[0]!.json);
        assert.equal(sent.split('END-OF-BIG').length - 1, 1, 'the file is in the request once');
      } finally {
        await s.close();
      }
    });

    it('a forbidden file among the context files fails the call before anything is read or sent, and the refusal is audited', async () => {
      fs.writeFileSync(path.join(scratch.workspace, '.env'), 'DB_PASSWORD=hunter2\n');
      const s = await connectSidecar(scratch, { env: { ACME_KEY } });
      try {
        const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'Summarise.', files: ['src/slugify.ts', '.env'] } });
        assert.equal(r.isError, true);
        assert.match(textOf(r), /Reading "\.env" is not allowed/);
        assert.equal(fake.count(), 0, 'nothing was sent');
        const audit = await until(() => /"op":"read".*"\.env"|"path":"\.env".*"op":"read"/.test(auditText(scratch)) && auditText(scratch), 'the audited refusal');
        assert.doesNotMatch(audit, /hunter2/);
      } finally {
        await s.close();
      }
    });

    it('a queued delegation reads its files only once the limiter admits it', async () => {
      fs.writeFileSync(path.join(scratch.workspace, 'notes.txt'), 'VERSION-BEFORE-ADMISSION\n');
      const s = await connectSidecar(scratch, { env: { ACME_KEY, SWITCHBOARD_MAX_CONCURRENT: '1' } });
      try {
        fake.enqueue('acme', { kind: 'hang_before_headers' });
        const cancelFirst = new AbortController();
        const first = s.client.callTool({ name: 'delegate', arguments: { task: 'code', prompt: 'FIRST' } }, undefined, { timeout: 120_000, signal: cancelFirst.signal }).then(() => 'answered', () => 'cancelled');
        await until(() => fake.count('acme') === 1, 'the first call to reach the provider');
        const second = s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'SECOND', files: ['notes.txt'] } }, undefined, { timeout: 120_000 });
        // Give the second call every chance to (wrongly) read now: it is queued behind the first.
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(fake.count('acme'), 1, 'the second call waits for a slot');
        fs.writeFileSync(path.join(scratch.workspace, 'notes.txt'), 'VERSION-AFTER-ADMISSION\n');
        cancelFirst.abort(); // the client cancels the hung call: its slot is freed
        const [r1, r2] = await Promise.all([first, second]);
        assert.equal(r1, 'cancelled');
        assert.equal(r2.isError, undefined, textOf(r2));
        assert.equal(fake.count('acme'), 2);
        const sent = JSON.stringify(fake.requests[fake.requests.length - 1]!.json);
        assert.match(sent, /VERSION-AFTER-ADMISSION/, 'the file was read after admission');
        assert.doesNotMatch(sent, /VERSION-BEFORE-ADMISSION/);
      } finally {
        await s.close();
      }
    });

    it('a killed stdout reader ends the sidecar instead of leaving a hung session', async () => {
      const child = spawn(process.execPath, [SIDECAR, 'serve', '--workspace', scratch.workspace], { env: childEnv(scratch), stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // The reader of its stdout goes away; its stdin stays open.
      child.stdout.destroy();
      const request = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
      child.stdin.write(JSON.stringify(request) + '\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      const code = await exited;
      clearTimeout(timer);
      assert.equal(code, 1, `exited on its own (stderr: ${stderr})`);
      assert.match(stderr, /stdout: .*EPIPE.*ending the session/);
      child.stdin.destroy();
    });

    it('while the client does not read answers, no further request is taken; all are answered once it reads', async () => {
      const input = new PassThrough();
      const output = new PassThrough({ highWaterMark: 1024 });
      const transport = new LineTransport(input, output);
      const received: JSONRPCMessage[] = [];
      transport.onmessage = (m) => received.push(m);
      await transport.start();
      const big = { jsonrpc: '2.0', id: 'big', result: { text: 'y'.repeat(64 * 1024) } } as unknown as JSONRPCMessage;
      const sent = transport.send(big); // fills the output: nobody reads it yet
      await new Promise((r) => setImmediate(r));
      const frames = Array.from({ length: 5 }, (_, i) => JSON.stringify({ jsonrpc: '2.0', id: i, method: 'ping' })).join('\n') + '\n';
      input.write(frames);
      await new Promise((r) => setImmediate(r));
      assert.equal(received.length, 0, 'requests wait while stdout is full');
      const replies = [transport.send({ jsonrpc: '2.0', id: 'a', result: {} } as JSONRPCMessage), transport.send({ jsonrpc: '2.0', id: 'b', result: {} } as JSONRPCMessage)];
      let out = '';
      output.on('data', (d: Buffer) => (out += d.toString()));
      await sent;
      await Promise.all(replies);
      await until(() => received.length === 5, 'the held-back requests');
      const lines = out.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
      assert.deepEqual(lines, ['big', 'a', 'b'], 'one message at a time, in order, never interleaved');
      await transport.close();
    });
  });

  describe('config bombs: each bad file is its own diagnostic, everything else keeps working', () => {
    let scratch: Scratch;
    let s: Connected;
    const aliasBomb = (): string => {
      const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (let i = 1; i < 9; i++) {
        const name = String.fromCharCode(97 + i);
        const prev = String.fromCharCode(96 + i);
        lines.push(`${name}: &${name} [${Array(9).fill('*' + prev).join(',')}]`);
      }
      return lines.join('\n') + '\n';
    };

    before(async () => {
      scratch = makeScratch();
      fs.writeFileSync(path.join(scratch.switchboardHome, 'router.yaml'), userRouterYaml(fake));
      const ws = scratch.workspace;
      fs.writeFileSync(path.join(ws, '.mcp', 'router.yaml'), aliasBomb());
      fs.writeFileSync(path.join(ws, '.mcp', 'policy.yaml'), aliasBomb());
      fs.writeFileSync(path.join(ws, '.agents', 'discovery-config.yaml'), aliasBomb());
      fs.writeFileSync(path.join(ws, '.agents', 'project', 'bomb.yaml'), aliasBomb());
      fs.writeFileSync(path.join(ws, '.agents', 'project', 'deep.yaml'), 'metadata: ' + '['.repeat(2000) + ']'.repeat(2000) + '\n');
      fs.writeFileSync(path.join(ws, '.mcp', 'servers', 'deep.json'), '{"mcpServers":' + '{"x":'.repeat(500) + '1' + '}'.repeat(500) + '}');
      fs.writeFileSync(path.join(ws, '.mcp', 'servers', 'huge.json'), '{"mcpServers":{}, "pad":"' + 'p'.repeat(3 * 1024 * 1024) + '"}');
      fs.writeFileSync(path.join(ws, '.mcp.json'), aliasBomb());
      s = await connectSidecar(scratch, { env: { ACME_KEY } });
    });
    after(async () => {
      await s?.close();
      scratch?.cleanup();
    });

    it('an alias bomb in policy.yaml: read_file still works (default policy) and the file is reported', async () => {
      const r = await s.client.callTool({ name: 'read_file', arguments: { path: 'src/slugify.ts' } });
      assert.equal(r.isError, undefined, textOf(r));
      assert.equal((r.content as Array<{ text: string }>)[0]!.text, fs.readFileSync(path.join(scratch.workspace, 'src', 'slugify.ts'), 'utf8'));
      await until(() => /policy\.yaml:1:1: error: could not be parsed: more than 100 YAML alias expansions/.test(s.stderr()), 'the policy diagnostic');
    });

    it('an alias bomb in router.yaml: delegate routes with the user layer, quota_status answers, the file is reported', async () => {
      const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'code', prompt: 'Hello.' } });
      assert.equal(r.isError, undefined, textOf(r));
      assert.equal((r.structuredContent as { provider: string }).provider, 'acme');
      const q = await s.client.callTool({ name: 'quota_status', arguments: {} });
      assert.equal(q.isError, undefined, textOf(q));
      await until(() => /router\.yaml:1:1: error: could not be parsed: more than 100 YAML alias expansions/.test(s.stderr()), 'the router diagnostic');
    });

    it('alias bombs and deep nesting in discovery config and agent files: list_agents lists the rest with one diagnostic each', async () => {
      const r = await s.client.callTool({ name: 'list_agents', arguments: {} });
      assert.equal(r.isError, undefined, textOf(r));
      const { agents, diagnostics: structuredDiagnostics } = r.structuredContent as { agents: Array<{ id: string }>; diagnostics: Diagnostic[] };
      const diagnostics = structuredDiagnostics.map(formatDiagnostic);
      assert.ok(agents.some((a) => a.id === 'journey-orchestrator'), 'the other agents are still listed');
      assert.ok(diagnostics.some((d) => /discovery-config\.yaml.*alias/.test(d)), diagnostics.join('\n'));
      assert.ok(diagnostics.some((d) => /bomb\.yaml.*alias/.test(d)), diagnostics.join('\n'));
      assert.ok(diagnostics.some((d) => /deep\.yaml.*(nested|too deep|call stack)/i.test(d)), diagnostics.join('\n'));
    });

    it('server JSON files: an alias bomb, deep nesting and an oversized file are diagnostics; the other servers are listed', async () => {
      const r = await s.client.callTool({ name: 'list_servers', arguments: {} });
      assert.equal(r.isError, undefined, textOf(r));
      const { servers, diagnostics: structuredDiagnostics } = r.structuredContent as { servers: Array<{ id: string }>; diagnostics: Diagnostic[] };
      const diagnostics = structuredDiagnostics.map(formatDiagnostic);
      assert.ok(servers.some((x) => x.id === 'zen'), 'servers from the intact files are listed');
      assert.ok(diagnostics.some((d) => /\.mcp\.json.*alias/.test(d)), diagnostics.join('\n'));
      assert.ok(diagnostics.some((d) => /deep\.json.*nested more than 64 levels/.test(d)), diagnostics.join('\n'));
      assert.ok(diagnostics.some((d) => /huge\.json.*over the 1\.0 MB limit/.test(d)), diagnostics.join('\n'));
    });
  });

  describe('small ones, end to end', () => {
    let scratch: Scratch;
    beforeEach(() => {
      scratch = makeScratch();
    });
    afterEach(() => scratch?.cleanup());

    it('write_file over a 0600 file: its backup is 0600 and .switchboard/ is 0700', async () => {
      const file = path.join(scratch.workspace, 'src', 'private.ts');
      fs.writeFileSync(file, 'export const dsn = "postgres://u:p@h/db";\n');
      fs.chmodSync(file, 0o600);
      const s = await connectSidecar(scratch);
      try {
        const w = await s.client.callTool({ name: 'write_file', arguments: { path: 'src/private.ts', content: 'export const dsn = "";\n' } });
        assert.equal(w.isError, undefined, textOf(w));
        const blobs = path.join(scratch.workspace, '.switchboard', 'backups', 'blobs');
        const modes = fs.readdirSync(blobs).map((b) => fs.statSync(path.join(blobs, b)).mode & 0o777);
        assert.deepEqual(modes, [0o600]);
        assert.equal(fs.statSync(path.join(scratch.workspace, '.switchboard')).mode & 0o777, 0o700);
      } finally {
        await s.close();
      }
    });

    it('`switchboard quota` with a folder where the ledger file goes: exit 1 and one clear line', async () => {
      fs.mkdirSync(path.join(scratch.switchboardHome, 'ledger.sqlite'));
      const out = await run(process.execPath, [SIDECAR, 'quota', '--workspace', scratch.workspace], { env: childEnv(scratch), timeout: 60_000 }).then(
        () => assert.fail('quota should fail'),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(out.code, 1);
      assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr);
      assert.match(out.stderr, /cannot open the usage ledger: .*ledger\.sqlite is a folder, not a file; move it away and try again/);
    });

    it('a delegate to a provider with its key but a broken base URL says so, not "no API key"', async () => {
      fs.writeFileSync(path.join(scratch.switchboardHome, 'router.yaml'), userRouterYaml(fake).replace(/baseUrl: .*/, 'baseUrl: "htp//broken"'));
      const s = await connectSidecar(scratch, { env: { ACME_KEY } });
      try {
        const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'code', prompt: 'Hi.' } });
        assert.equal(r.isError, true);
        assert.match(textOf(r), /acme: baseUrl of provider "acme" is not a valid URL/);
        assert.doesNotMatch(textOf(r), /acme: no API key/);
      } finally {
        await s.close();
      }
    });

    it('`switchboard context` says "Updated" when it replaced a file it could not compare (over 1 MB)', async () => {
      fs.writeFileSync(path.join(scratch.workspace, 'PROJECT_CONTEXT.md'), '# old\n' + 'filler line\n'.repeat(120_000));
      const out = await run(process.execPath, [SIDECAR, 'context', '--workspace', scratch.workspace], { env: childEnv(scratch), timeout: 60_000 });
      assert.match(out.stdout, /^Updated PROJECT_CONTEXT\.md/);
      assert.doesNotMatch(out.stdout, /Created/);
    });
  });
});
