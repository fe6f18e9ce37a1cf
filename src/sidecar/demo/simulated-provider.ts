/**
 * The SIMULATED provider used by `switchboard demo` — product code, clearly labelled, never a real model.
 *
 * A tiny HTTP server on 127.0.0.1 speaking the Gemini `generateContent` wire protocol (JSON and the
 * `streamGenerateContent?alt=sse` stream the router uses), so the real `@google/genai` SDK, the real router and
 * the real ledger run unchanged when `SWITCHBOARD_GEMINI_BASE_URL` points here. Answers are canned and
 * deterministic: for a request about the sample's `slugify` it returns a runnable test file; usage numbers are
 * derived from the request size the way a real provider reports them.
 *
 * To show verified delegation, its first answer is a flawed draft (one expectation forgets that slugify strips
 * accents), which fails the sample's check; asked again with the check's output (a repair), it answers the
 * corrected file.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export const SIMULATED_LABEL = 'simulated';
/** A dummy key: the SDK insists on one; it is never valid anywhere. */
export const DEMO_API_KEY = 'demo-not-a-real-key';

const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** The test file the simulated model "writes" for media/sample-workspace/src/slugify.ts (node:test, runs as is). */
export const SLUGIFY_TESTS = `import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { slugify } from '../src/slugify';

describe('slugify', () => {
  it('lower-cases words and joins them with one dash', () => {
    assert.equal(slugify('Hello, World!'), 'hello-world');
  });

  it('removes accents', () => {
    assert.equal(slugify('Crème Brûlée'), 'creme-brulee');
  });

  it('turns runs of other characters into a single dash', () => {
    assert.equal(slugify('a  --  b__c'), 'a-b-c');
  });

  it('trims dashes at both ends', () => {
    assert.equal(slugify('  --Switchboard--  '), 'switchboard');
  });

  it('cuts to maxLength without leaving a trailing dash', () => {
    assert.equal(slugify('hello world', 6), 'hello');
    assert.equal(slugify('hello world', 8), 'hello-wo');
  });

  it('returns an empty string when nothing is left', () => {
    assert.equal(slugify('!!!'), '');
  });

  it('rejects a maxLength below 1', () => {
    assert.throws(() => slugify('x', 0), RangeError);
  });
});
`;

/** The simulated model's first draft: the accent expectation is wrong, so the sample's check fails. */
export const SLUGIFY_TESTS_DRAFT = SLUGIFY_TESTS.replace("'creme-brulee'", "'crème-brûlée'");

/** What marks a repair request (src/core/verify/loop.ts words it this way). */
const REPAIR_MARKER = /its check failed/;

const GENERIC_ANSWER = '// Simulated answer from the Switchboard demo provider: no real model was called.\n';

export interface SimulatedProvider {
  /** Base URL for SWITCHBOARD_GEMINI_BASE_URL (the SDK appends /v1beta/models/…). */
  readonly baseUrl: string;
  /** generateContent calls answered so far. */
  readonly requests: number;
  close(): Promise<void>;
}

export async function startSimulatedProvider(): Promise<SimulatedProvider> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    void handle(req, res, () => requests++).catch(() => {
      if (!res.headersSent) sendError(res, 500, 'simulated provider failed');
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, count: () => void): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const match = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(url.pathname);
  if (req.method !== 'POST' || !match) {
    sendError(res, 404, `the simulated provider only answers Gemini generateContent (got ${req.method} ${url.pathname})`);
    return;
  }
  const body = await readBody(req);
  if (body === undefined) {
    sendError(res, 413, 'request too large for the simulated provider');
    return;
  }
  let request: unknown;
  try {
    request = JSON.parse(body);
  } catch {
    sendError(res, 400, 'invalid JSON');
    return;
  }
  count();
  const model = decodeURIComponent(match[1]!);
  const texts: string[] = [];
  collectTexts(request, texts);
  const prompt = texts.join('\n');
  const answer = /slugify/i.test(prompt) ? (REPAIR_MARKER.test(prompt) ? SLUGIFY_TESTS : SLUGIFY_TESTS_DRAFT) : GENERIC_ANSWER;
  // Roughly four characters per token, as real tokenizers average on English and code.
  const usage = { promptTokenCount: Math.ceil(prompt.length / 4), candidatesTokenCount: Math.ceil(answer.length / 4) };
  const usageMetadata = { ...usage, totalTokenCount: usage.promptTokenCount + usage.candidatesTokenCount };
  const chunk = (text: string, last: boolean) => ({
    candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(last ? { finishReason: 'STOP' } : {}) }],
    ...(last ? { usageMetadata } : {}),
    modelVersion: model,
  });

  if (match[2] === 'streamGenerateContent') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const third = Math.ceil(answer.length / 3);
    const parts = [answer.slice(0, third), answer.slice(third, 2 * third), answer.slice(2 * third)];
    parts.forEach((part, i) => res.write(`data: ${JSON.stringify(chunk(part, i === parts.length - 1))}\r\n\r\n`));
    res.end();
    return;
  }
  sendJson(res, 200, chunk(answer, true));
}

/** Every `text` string in the request (system instruction and contents), however the SDK nested them. */
function collectTexts(value: unknown, out: string[]): void {
  if (Array.isArray(value)) for (const v of value) collectTexts(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'text' && typeof v === 'string') out.push(v);
      else collectTexts(v, out);
    }
  }
}

function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function sendError(res: http.ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: { code: status, message, status: status === 404 ? 'NOT_FOUND' : status === 400 ? 'INVALID_ARGUMENT' : 'INTERNAL' } });
}
