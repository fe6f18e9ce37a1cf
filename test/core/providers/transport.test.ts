/** Header parsing, status classification and error detail extraction, offline; the guarded fetch against a loopback server. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { classifyStatus, providerErrorDetail, runAttempt, toProviderError } from '../../../src/core/providers/failure';
import { GuardedTransport, parseRateLimitHeaders, parseResetMs, parseRetryAfterMs } from '../../../src/core/providers/transport';
import { ProviderError } from '../../../src/core/providers/types';

describe('transport: Retry-After and rate-limit headers', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  it('reads retry-after-ms first, then Retry-After seconds or HTTP date', () => {
    assert.equal(parseRetryAfterMs(new Headers({ 'retry-after-ms': '1500', 'retry-after': '9' }), now), 1500);
    assert.equal(parseRetryAfterMs(new Headers({ 'retry-after': '2' }), now), 2000);
    assert.equal(parseRetryAfterMs(new Headers({ 'retry-after': '0.5' }), now), 500);
    assert.equal(parseRetryAfterMs(new Headers({ 'retry-after': 'Sun, 01 Mar 2026 12:00:30 GMT' }), now), 30_000);
    assert.equal(parseRetryAfterMs(new Headers({ 'retry-after': 'Sun, 01 Mar 2026 11:00:00 GMT' }), now), 0, 'a date in the past means now');
    assert.equal(parseRetryAfterMs(new Headers({ 'retry-after': 'soon' }), now), undefined);
    assert.equal(parseRetryAfterMs(new Headers(), now), undefined);
  });

  it('reads reset durations, seconds and Unix times', () => {
    assert.equal(parseResetMs('1s'), 1000);
    assert.equal(parseResetMs('6m0s'), 360_000);
    assert.equal(parseResetMs('20ms'), 20);
    assert.equal(parseResetMs('1h2m3.5s'), 3_723_500);
    assert.equal(parseResetMs('30'), 30_000);
    assert.equal(parseResetMs(String(now / 1000 + 60), now), 60_000);
    assert.equal(parseResetMs('tomorrow'), undefined);
    assert.equal(parseResetMs('5x'), undefined);
    assert.equal(parseResetMs(null), undefined);
  });

  it('maps OpenAI-style and bare x-ratelimit-* headers', () => {
    assert.deepEqual(
      parseRateLimitHeaders(new Headers({ 'x-ratelimit-limit-requests': '60', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20ms', 'x-ratelimit-limit-tokens': '1000', 'x-ratelimit-remaining-tokens': '10', 'x-ratelimit-reset-tokens': '2s' })),
      { limitRequests: 60, remainingRequests: 0, resetRequestsMs: 20, limitTokens: 1000, remainingTokens: 10, resetTokensMs: 2000 },
    );
    assert.deepEqual(parseRateLimitHeaders(new Headers({ 'x-ratelimit-limit': '600', 'x-ratelimit-remaining': '599', 'x-ratelimit-reset': '1' })), { limitRequests: 600, remainingRequests: 599, resetRequestsMs: 1000 });
    assert.equal(parseRateLimitHeaders(new Headers({ 'content-type': 'application/json' })), undefined);
  });
});

describe('failure classification', () => {
  it('classifies statuses', () => {
    assert.equal(classifyStatus(429, ''), 'rate_limited');
    assert.equal(classifyStatus(401, ''), 'auth');
    assert.equal(classifyStatus(403, ''), 'auth');
    for (const s of [500, 502, 503, 504, 529]) assert.equal(classifyStatus(s, ''), 'server_error');
    assert.equal(classifyStatus(400, '{"error":{"code":"context_length_exceeded"}}'), 'context_length');
    assert.equal(classifyStatus(400, 'The input token count (9) exceeds the maximum number of tokens allowed (8).'), 'context_length');
    assert.equal(classifyStatus(400, 'bad temperature'), 'bad_request');
    assert.equal(classifyStatus(404, ''), 'bad_request');
    assert.equal(classifyStatus(422, ''), 'bad_request');
    assert.equal(classifyStatus(408, ''), 'timeout');
    assert.equal(classifyStatus(413, ''), 'context_length');
  });

  it('extracts one short line of the provider message', () => {
    assert.equal(providerErrorDetail('{"error":{"message":"Quota\\n exceeded"}}'), 'Quota exceeded');
    assert.equal(providerErrorDetail('{"error":"model loading"}'), 'model loading');
    assert.equal(providerErrorDetail('{"detail":"nope"}'), 'nope');
    assert.equal(providerErrorDetail('got status: UNAVAILABLE. {"error":{"code":503,"message":"overloaded"}}'), 'overloaded');
    assert.equal(providerErrorDetail('<html><body>502 Bad Gateway</body></html>'), '');
    assert.equal(providerErrorDetail('x'.repeat(500)).length, 200);
  });

  it('never passes a raw error through and redacts what it says', () => {
    const key = 'sk-proj-abcdefghijklmnopqrstuvwxyz123456';
    const err = toProviderError('p', new Error(`request failed with ${key}`));
    assert.ok(err instanceof ProviderError);
    assert.equal(err.failure, 'network');
    assert.ok(!err.message.includes(key));
    const same = new ProviderError('p', 'auth', 'x');
    assert.equal(toProviderError('p', same), same);
    assert.equal(toProviderError('p', new SyntaxError('Unexpected end of JSON input')).failure, 'malformed');
    assert.equal(toProviderError('p', Object.assign(new Error('boom'), { status: 503 })).failure, 'server_error');
  });
});

describe('guarded fetch', () => {
  let server: http.Server;
  let origin: string;
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/declared-big') res.writeHead(200, { 'content-length': String(10_000_000), 'content-type': 'application/json' }).end();
      else if (req.url === '/sse-split') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"a":1}\n\ndata: [DO');
        setTimeout(() => res.end('NE]\n\n'), 20);
      } else if (req.url === '/sse-then-silence') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'x-ratelimit-remaining': '3' });
        res.write('data: {"a":1}\n\n');
        setTimeout(() => res.write('data: {"a":2}\n\n'), 50); // then nothing, the connection left open
      } else if (req.url === '/sse-whole') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('data: {"a":1}\n\ndata: {"a":2}\n\ndata: [DONE]\n\n');
      } else if (req.url === '/sse-bytewise') {
        // The end marker one byte per write, each its own chunk; a JSON event before it ends in "E]" too.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"a":["ONE"]}\n\n');
        const bytes = [...'data:[DONE]\n\n'];
        const next = () => (bytes.length ? (res.write(bytes.shift()!), setTimeout(next, 2)) : res.end());
        setTimeout(next, 2);
      } else if (req.url === '/sse-no-done') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('data: {"a":"DONE]","b":"[DONE"}\n\ndata: [NONE]\n\n');
      } else if (req.url === '/bom') res.writeHead(200, { 'content-type': 'application/json' }).end('\uFEFF{"ok":"é"}');
      else res.writeHead(200, { 'content-type': 'application/json', 'x-ratelimit-remaining': '4' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const limits = { headersTimeoutMs: 1000, idleTimeoutMs: 1000, totalDeadlineMs: 3000, maxResponseBytes: 1_000_000 };

  it('passes a body through and records status and rate-limit headers', async () => {
    const t = new GuardedTransport(limits);
    try {
      const res = await t.fetch(`${origin}/ok`);
      assert.deepEqual(await res.json(), { ok: true });
      assert.equal(t.record.status, 200);
      assert.deepEqual(t.record.rateLimit, { remainingRequests: 4 });
      assert.equal(t.record.tripped, undefined);
    } finally {
      t.dispose();
    }
  });

  it('hands over a read-whole body as a Response every body method and clone work on, each read once', async () => {
    const t = new GuardedTransport(limits);
    try {
      const res = await t.fetch(`${origin}/ok`);
      assert.ok(res instanceof Response);
      assert.equal(res.ok, true);
      assert.equal(res.status, 200);
      assert.equal(res.url, `${origin}/ok`);
      assert.equal(res.headers.get('x-ratelimit-remaining'), '4');
      const copy = res.clone();
      assert.equal(res.bodyUsed, false);
      assert.deepEqual(JSON.parse(Buffer.from(await res.arrayBuffer()).toString()), { ok: true });
      assert.equal(res.bodyUsed, true);
      await assert.rejects(res.text(), TypeError, 'a body is read at most once, as with fetch');
      assert.throws(() => res.clone(), TypeError);
      const blob = await copy.clone().blob();
      assert.equal(await blob.text(), '{"ok":true}');
      assert.ok(copy.body);
      const branch = copy.clone();
      assert.equal(branch.headers.get('x-ratelimit-remaining'), '4', 'a clone taken after body keeps the headers');
      assert.equal(await branch.text(), '{"ok":true}');
      const chunks: Uint8Array[] = [];
      for await (const chunk of copy.body!) chunks.push(chunk);
      assert.equal(Buffer.concat(chunks).toString(), '{"ok":true}');
      assert.equal(copy.bodyUsed, true);
    } finally {
      t.dispose();
    }
  });

  it('hands over an event stream as a Response whose body is the inspected stream (clone and text work too)', async () => {
    const t = new GuardedTransport(limits);
    try {
      const res = await t.fetch(`${origin}/sse-whole`);
      assert.ok(res instanceof Response);
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      assert.equal(res.body, res.body, 'the same stream each time, as fetch');
      const copy = res.clone();
      assert.equal(await copy.text(), 'data: {"a":1}\n\ndata: {"a":2}\n\ndata: [DONE]\n\n');
      const chunks: Uint8Array[] = [];
      for await (const chunk of res.body!) chunks.push(chunk);
      assert.match(Buffer.concat(chunks).toString(), /data: \[DONE\]/);
      assert.equal(res.bodyUsed, true);
      assert.equal(t.record.sawSseDone, true);
    } finally {
      t.dispose();
    }
  });

  it('trips the idle timeout when a stream goes silent after some chunks, but never blames a slow reader', async () => {
    const t = new GuardedTransport({ ...limits, idleTimeoutMs: 200 });
    try {
      const res = await t.fetch(`${origin}/sse-then-silence`);
      const reader = res.body!.getReader();
      assert.equal((await reader.read()).done, false);
      // The reader takes longer than the idle timeout between reads: the data waited for it, not it for data.
      await new Promise((r) => setTimeout(r, 400));
      assert.equal((await reader.read()).done, false);
      assert.equal(t.record.tripped, undefined);
      await assert.rejects(reader.read());
      const tripped = t.record.tripped as { failure: string; message: string } | undefined;
      assert.equal(tripped?.failure, 'timeout');
      assert.match(tripped!.message, /no data for 200 ms/);
    } finally {
      t.dispose();
    }
  });

  it('reads a body as fetch does: UTF-8, a leading byte order mark dropped', async () => {
    const t = new GuardedTransport(limits);
    try {
      const [viaTransport, viaFetch] = await Promise.all([t.fetch(`${origin}/bom`), fetch(`${origin}/bom`)]);
      const expected = await viaFetch.json();
      assert.deepEqual(expected, { ok: 'é' });
      assert.deepEqual(await viaTransport.clone().json(), expected);
      assert.equal(await viaTransport.text(), await (await fetch(`${origin}/bom`)).text());
    } finally {
      t.dispose();
    }
  });

  it('refuses a declared length over the cap before reading it', async () => {
    const t = new GuardedTransport(limits);
    try {
      await assert.rejects(t.fetch(`${origin}/declared-big`));
      assert.equal(t.record.tripped?.failure, 'malformed');
    } finally {
      t.dispose();
    }
  });

  it('sees an SSE end marker split across two chunks', async () => {
    const t = new GuardedTransport(limits);
    try {
      await (await t.fetch(`${origin}/sse-split`)).text();
      assert.equal(t.record.sawSseDone, true);
    } finally {
      t.dispose();
    }
  });

  it('sees an SSE end marker that arrives a byte at a time, and no marker where there is none', async () => {
    for (const [route, seen] of [['/sse-bytewise', true], ['/sse-no-done', false]] as const) {
      const t = new GuardedTransport(limits);
      try {
        const chunks: Uint8Array[] = [];
        for await (const chunk of (await t.fetch(`${origin}${route}`)).body!) chunks.push(chunk);
        if (seen) assert.ok(chunks.length > 10, `the marker came in ${chunks.length} chunks`);
        assert.equal(t.record.sawSseDone, seen, route);
      } finally {
        t.dispose();
      }
    }
  });

  it('attaches rate-limit info to a successful attempt and fails an attempt whose limit tripped even if the SDK returned', async () => {
    const ok = await runAttempt('p', limits, async (t) => {
      await (await t.fetch(`${origin}/ok`)).text();
      return { text: 'x', model: 'm', usage: { inputTokens: 1, outputTokens: 1 }, usageEstimated: false, finishReason: 'stop', complete: true };
    });
    assert.deepEqual(ok.rateLimit, { remainingRequests: 4 });
    const err = await runAttempt('p', limits, async (t) => {
      t.trip('malformed', 'response is over the cap');
      return { text: 'x', model: 'm', usage: { inputTokens: 1, outputTokens: 1 }, usageEstimated: false, finishReason: 'stop', complete: true };
    }).catch((e: unknown) => e);
    assert.ok(err instanceof ProviderError);
    assert.equal(err.failure, 'malformed');
  });
});
