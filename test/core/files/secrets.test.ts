/**
 * Plants a key of every provider in the environment, in request headers and in error bodies, runs them through
 * the real SDK / fetch against a local fake server, the audit log and WorkspaceFiles, and finds none anywhere
 * it could surface: audit lines, backup records, results, error messages. Other areas (logs, tool results)
 * extend PLANTED and `assertClean`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import OpenAI from 'openai';
import { WorkspaceFiles, appendAudit, readAudit } from '../../../src/core/files';
import { formatAuditLine } from '../../../src/core/files/audit';
import { addSecretValues, redact, redactDeep, resetSecretValues } from '../../../src/core/redact';
import { removeDir, tempDir } from './helpers';

/** Realistic shapes; none is a real key. */
export const PLANTED = {
  openai: 'sk-proj-' + 'Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z'.repeat(2),
  gemini: 'AIza' + 'Sy' + 'D3f6H9k2M5p8S1v4Y7b0E3h6K9n2Q5t',
  huggingface: 'hf_' + 'aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567',
  togetherLegacy: '3f9a' + 'c0ffee12'.repeat(7) + 'beef', // 64 hex digits, no prefix
  together: 'tgp_v1_' + 'Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe',
  bearer: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl',
  anthropic: 'sk-ant-api03-' + 'Q'.repeat(40),
  hfOrg: 'api_org_' + 'Q1w2E3r4T5y6U7i8O9p0A1s2D3',
};

export function assertClean(where: string, text: string): void {
  for (const [provider, key] of Object.entries(PLANTED)) {
    assert.ok(!text.includes(key), `${provider} key found in ${where}: …${text.slice(Math.max(0, text.indexOf(key) - 60), text.indexOf(key) + 10)}`);
    // A fragment long enough to be useful to an attacker must not survive either.
    assert.ok(!text.includes(key.slice(-20)), `${provider} key tail found in ${where}`);
  }
}

const ENV_KEYS: Record<string, string> = {
  OPENAI_API_KEY: PLANTED.openai,
  GEMINI_API_KEY: PLANTED.gemini,
  HF_TOKEN: PLANTED.huggingface,
  TOGETHER_API_KEY: PLANTED.togetherLegacy,
};

/** A provider that echoes what it was sent (keys included) in its error body and headers, as some do. */
async function echoServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.writeHead(401, { 'content-type': 'application/json', 'x-echo-auth': String(req.headers.authorization ?? req.headers['x-goog-api-key'] ?? '') });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${req.headers.authorization ?? ''} ${req.headers['x-goog-api-key'] ?? ''} url=${req.url}`, type: 'invalid_request_error', body } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('files: secrets never reach audit lines, records, results or errors', function () {
  this.timeout(15_000);
  let ws: string;
  const saved: Record<string, string | undefined> = {};
  before(() => {
    for (const [k, v] of Object.entries(ENV_KEYS)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  after(() => {
    for (const k of Object.keys(ENV_KEYS)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    resetSecretValues();
  });
  beforeEach(() => (ws = tempDir('sb-secrets-')));
  afterEach(() => removeDir(ws));

  describe('redact: every carrier', () => {
    const carriers: Array<[string, (k: string) => string]> = [
      ['bare in text', (k) => `the key is ${k} ok`],
      ['Authorization header line', (k) => `Authorization: Bearer ${k}`],
      ['x-goog-api-key header line', (k) => `x-goog-api-key: ${k}`],
      ['x-api-key in JSON', (k) => `{"x-api-key":"${k}"}`],
      ['api_key in YAML', (k) => `api_key: ${k}`],
      ['query parameter', (k) => `GET https://generativelanguage.googleapis.com/v1/models?key=${k}&alt=json`],
      ['URL password', (k) => `https://user:${k}@example.invalid/v1`],
      ['JSON error body', (k) => JSON.stringify({ error: { message: `Incorrect API key provided: ${k}.` } })],
      ['stack-like text', (k) => `Error: 401 ${k}\n    at call (x.ts:1:1)`],
    ];
    for (const [name, make] of carriers) {
      it(`removes every provider's key: ${name}`, () => {
        for (const key of Object.values(PLANTED)) assertClean(name, redact(make(key)));
      });
    }

    it('removes keys found only through the environment (Together legacy hex) and registered values', () => {
      assert.equal(redact(`together said ${PLANTED.togetherLegacy}`), 'together said [REDACTED]');
      const odd = 'weird-shaped-secret-value-123';
      addSecretValues([odd]);
      assert.equal(redact(`x ${odd} y`), 'x [REDACTED] y');
    });

    it('leaves hashes, ids and ordinary text alone', () => {
      const sha = 'a'.repeat(64);
      for (const text of [`sha256 ${sha}`, 'max_tokens: 100', 'input_tokens=12', 'backup 0hod8vl8od7-af22', 'see https://example.invalid/docs?page=2']) {
        assert.equal(redact(text), text);
      }
    });

    it('redactDeep masks values under secret-named keys whatever their shape, and handles Headers, Errors and cycles', () => {
      const headers = new Headers({ authorization: 'short1', 'x-goog-api-key': 'short2', accept: 'application/json' });
      const err = Object.assign(new Error(`failed with ${PLANTED.openai}`), { code: 'E401' });
      const loop: Record<string, unknown> = { password: 'hunter2!', nested: { token: 'abc' } };
      loop.self = loop;
      const out = redactDeep({ headers, err, loop, when: new Date(0), n: 3 });
      const text = JSON.stringify(out);
      assert.ok(!text.includes('short1') && !text.includes('short2') && !text.includes('hunter2') && !text.includes('"abc"'), text);
      assert.ok(text.includes('application/json'));
      assertClean('redactDeep', text);
      assert.deepEqual((out as { err: unknown }).err, { name: 'Error', message: 'failed with [REDACTED]', code: 'E401' });
      assert.ok((out as { when: unknown }).when instanceof Date);
    });
  });

  it('a real OpenAI SDK error (key echoed in body and headers) leaves no key in the audit log', async () => {
    const server = await echoServer();
    try {
      const client = new OpenAI({ apiKey: PLANTED.openai, baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 5000 });
      const err = await client.chat.completions.create({ model: 'gpt-x', messages: [{ role: 'user', content: `use ${PLANTED.huggingface}` }] }).catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
      assert.ok(err instanceof OpenAI.APIError);
      assert.ok(String(err.message).includes(PLANTED.openai), 'the fake server really echoed the key');
      await appendAudit(ws, { actor: 'claude-code', op: 'delegate', provider: 'openai', outcome: 'error', message: err.message, error: err, headers: err.headers, body: err.error });
      const raw = fs.readFileSync(path.join(ws, '.switchboard/audit.jsonl'), 'utf8');
      assertClean('audit.jsonl', raw);
      const [rec] = await readAudit(ws, { limit: 1 });
      assert.equal(rec!.op, 'delegate');
      assert.match(String(rec!.message), /\[REDACTED\]/);
    } finally {
      await server.close();
    }
  });

  it('keys sent as x-goog-api-key and ?key= (Gemini), Bearer (HF, Together) and echoed back are not audited', async () => {
    const server = await echoServer();
    try {
      const calls: Array<[string, RequestInit]> = [
        [`${server.url}/v1beta/models/x:generateContent?key=${PLANTED.gemini}`, { method: 'POST', headers: { 'x-goog-api-key': PLANTED.gemini } }],
        [`${server.url}/models/x`, { method: 'POST', headers: { authorization: `Bearer ${PLANTED.huggingface}` }, body: '{}' }],
        [`${server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${PLANTED.together}` }, body: '{}' }],
        [`${server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${PLANTED.togetherLegacy}` }, body: '{}' }],
        [`${server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${PLANTED.bearer}` }, body: '{}' }],
      ];
      for (const [url, init] of calls) {
        const res = await fetch(url, init);
        const body = await res.text();
        assert.equal(res.status, 401);
        await appendAudit(ws, { actor: 'extension', op: 'delegate', outcome: 'error', url, request_headers: init.headers, response_headers: res.headers, body });
      }
      assertClean('audit.jsonl', fs.readFileSync(path.join(ws, '.switchboard/audit.jsonl'), 'utf8'));
      assert.equal((await readAudit(ws)).length, calls.length);
    } finally {
      await server.close();
    }
  });

  it('WorkspaceFiles: keys in reason, provider, paths and error messages go nowhere', async () => {
    const files = await WorkspaceFiles.open(ws, { actor: 'cli' });
    const surfaces: string[] = [];
    const w = await files.write('src/a.ts', 'x', { actor: 'claude-code', reason: `generated with ${PLANTED.openai}`, provider: `gemini ${PLANTED.gemini}`, model: PLANTED.huggingface });
    surfaces.push(JSON.stringify(w));
    surfaces.push(JSON.stringify(await files.listBackups()));
    for (const input of [`src/${PLANTED.together}.ts`, `.env/${PLANTED.openai}`, `../${PLANTED.gemini}.ts`, `src/${PLANTED.togetherLegacy}.exe`]) {
      const err = await files.write(input, 'x', { actor: 'claude-code' }).then(() => undefined, (e: Error) => e);
      if (err) surfaces.push(err.message);
      const read = await files.read(input, { actor: 'claude-code' }).then((r) => JSON.stringify(r), (e: Error) => e.message);
      surfaces.push(read);
    }
    const restored = await files.restore(w.backupId, { actor: 'cli' });
    surfaces.push(JSON.stringify(restored));
    for (const s of surfaces) assertClean('result or error', s);
    assertClean('audit.jsonl', fs.readFileSync(path.join(ws, '.switchboard/audit.jsonl'), 'utf8'));
    const recDir = path.join(ws, '.switchboard/backups/records');
    // Records keep the real path (a file named after a key is named so on disk too; restore needs it); every
    // other field is redacted.
    for (const d of fs.readdirSync(recDir)) {
      for (const n of fs.readdirSync(path.join(recDir, d))) {
        const stored = JSON.parse(fs.readFileSync(path.join(recDir, d, n), 'utf8'));
        const { path: _p, ...rest } = stored.record ?? stored;
        assertClean('backup record', JSON.stringify(rest));
      }
    }
  });

  it('an audit line stays one atomic write (< 4000 bytes) however long the fields', () => {
    const line = formatAuditLine({ actor: 'cli', op: 'delegate', message: 'x'.repeat(20_000), detail: { deep: 'y'.repeat(9000) }, path: 'a.ts', cost_usd: 0.5 });
    assert.ok(Buffer.byteLength(line) < 4000, String(Buffer.byteLength(line)));
    const parsed = JSON.parse(line);
    assert.equal(parsed.path, 'a.ts');
    assert.equal(parsed.cost_usd, 0.5);
    assert.equal(parsed.truncated, true);
  });
});
