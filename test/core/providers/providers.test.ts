/**
 * Each provider through its real SDK against the fake server: what goes on the wire (path, auth header, body),
 * what comes back (text, usage, model, completeness), cancellation, key hygiene, and the fake server in a child
 * process.
 */
import assert from 'node:assert/strict';
import { createProvider } from '../../../src/core/providers/registry';
import { ProviderError, type CallLimits, type ProviderKind } from '../../../src/core/providers/types';
import { UserError } from '../../../src/core/errors';
import { startFakeProviderServer, startFakeProviderServerInChild, type FakeProviderServer } from '../../fakes/provider-server';
/** The kinds the fake provider server speaks (a team server, kind switchboard, has its own suite). */
type SdkProviderKind = Exclude<ProviderKind, 'switchboard'>;

const LIMITS: CallLimits = { headersTimeoutMs: 2000, idleTimeoutMs: 2000, totalDeadlineMs: 5000, maxResponseBytes: 1024 * 1024 };
const KEY = 'sk-proj-FAKEKEYFORTESTSabcdefghijklmnop';
const KINDS: SdkProviderKind[] = ['openai', 'together', 'huggingface', 'gemini', 'openai-compatible'];

const REQUEST = {
  model: 'test-model',
  messages: [
    { role: 'system' as const, content: 'You write tests.' },
    { role: 'user' as const, content: 'Test add().' },
  ],
  maxTokens: 256,
  temperature: 0.2,
};

describe('providers: real SDKs against the fake server', function () {
  this.timeout(15_000);
  let server: FakeProviderServer;
  before(async () => {
    server = await startFakeProviderServer({ reply: { text: 'describe("add", ...)', usage: { inputTokens: 21, outputTokens: 9 } } });
  });
  after(async () => {
    await server.close();
  });
  afterEach(() => {
    server.reset();
    server.setReply({ text: 'describe("add", ...)', usage: { inputTokens: 21, outputTokens: 9 } });
  });

  for (const kind of KINDS) {
    for (const stream of [false, true]) {
      it(`${kind} ${stream ? 'streams' : 'answers'} and reports usage, model and completeness`, async () => {
        const provider = createProvider({ id: kind, kind, tier: 'free', baseUrl: server.baseUrl(kind), apiKey: KEY });
        const result = await provider.generate({ ...REQUEST, stream }, LIMITS);
        assert.equal(result.text, 'describe("add", ...)');
        assert.deepEqual(result.usage, { inputTokens: 21, outputTokens: 9 });
        assert.equal(result.usageEstimated, false);
        assert.equal(result.finishReason, 'stop');
        assert.equal(result.complete, true);
        assert.equal(result.model, 'test-model');

        const [req] = server.completions(kind);
        assert.ok(req, 'the request reached the fake server');
        assert.equal(req.stream, stream);
        if (kind === 'gemini') {
          assert.equal(req.path, `/gemini/v1beta/models/test-model:${stream ? 'streamGenerateContent' : 'generateContent'}`);
          assert.equal(req.headers['x-goog-api-key'], KEY, 'the key travels in the x-goog-api-key header');
          assert.equal(req.query.key, undefined, 'never as a key= query parameter');
          assert.ok(!req.path.includes(KEY) && !JSON.stringify(req.query).includes(KEY));
          const body = req.json as { contents: unknown; systemInstruction?: unknown; generationConfig?: { maxOutputTokens?: number; temperature?: number } };
          assert.deepEqual(body.contents, [{ role: 'user', parts: [{ text: 'Test add().' }] }]);
          assert.ok(JSON.stringify(body.systemInstruction).includes('You write tests.'));
          assert.equal(body.generationConfig?.maxOutputTokens, 256);
          assert.equal(body.generationConfig?.temperature, 0.2);
        } else {
          assert.equal(req.path, `/${kind}/v1/chat/completions`);
          assert.equal(req.headers.authorization, `Bearer ${KEY}`);
          const body = req.json as Record<string, unknown>;
          assert.equal(body.model, 'test-model');
          assert.deepEqual(body.messages, REQUEST.messages);
          assert.equal(body.max_tokens, 256);
          assert.equal(body.temperature, 0.2);
          if (stream) assert.deepEqual(body.stream_options, { include_usage: true });
        }
      });
    }
  }

  it('estimates usage from characters when the provider reports none', async () => {
    server.setReply({ usage: null, text: 'x'.repeat(40) });
    for (const kind of ['openai', 'gemini'] as const) {
      const result = await createProvider({ id: kind, kind, tier: 'free', baseUrl: server.baseUrl(kind), apiKey: KEY }).generate(REQUEST, LIMITS);
      assert.equal(result.usageEstimated, true, kind);
      assert.deepEqual(result.usage, { inputTokens: Math.ceil('You write tests.Test add().'.length / 4), outputTokens: 10 }, kind);
    }
  });

  it('redacts a key the provider echoes back in its error body', async () => {
    for (const kind of KINDS) {
      server.enqueue(kind, { kind: 'status', status: 401, message: `Incorrect API key provided: ${KEY}. You can find your key at ...` });
      const provider = createProvider({ id: kind, kind, tier: 'paid', baseUrl: server.baseUrl(kind), apiKey: KEY });
      const err = await provider.generate(REQUEST, LIMITS).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ProviderError);
      assert.equal(err.failure, 'auth');
      assert.ok(!err.message.includes(KEY), err.message);
      assert.match(err.message, /Incorrect API key provided: \[REDACTED\]/);
    }
  });

  it('a caller abort ends a hung call as cancelled, at once', async () => {
    server.enqueue('openai', { kind: 'hang_before_headers' });
    const provider = createProvider({ id: 'openai', kind: 'openai', tier: 'paid', baseUrl: server.baseUrl('openai'), apiKey: KEY });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const err = await provider.generate(REQUEST, { ...LIMITS, signal: controller.signal }).catch((e: unknown) => e);
    assert.ok(err instanceof ProviderError);
    // 'cancelled', not 'timeout': the abort ended it, not the headers timeout (no clock needed to tell).
    assert.equal(err.failure, 'cancelled');
  });

  // The SDK client is built once per provider; each attempt's guarded transport travels with its request.
  for (const kind of ['openai', 'together', 'openai-compatible'] as const) {
    it(`${kind}: one provider instance keeps concurrent attempts' limits apart (one hangs and times out, one answers)`, async () => {
      const provider = createProvider({ id: kind, kind, tier: 'free', baseUrl: server.baseUrl(kind), apiKey: KEY });
      server.enqueue(kind, { kind: 'hang_before_headers' });
      const hung = provider.generate(REQUEST, { ...LIMITS, headersTimeoutMs: 300 }).catch((e: unknown) => e);
      // The hang goes to whichever request arrives first: let the short-limit one arrive first.
      for (let waited = 0; server.completions(kind).length === 0 && waited < 2000; waited += 5) await new Promise((r) => setTimeout(r, 5));
      const answered = await provider.generate(REQUEST, LIMITS);
      assert.equal(answered.text, 'describe("add", ...)');
      const err = await hung;
      assert.ok(err instanceof ProviderError, String(err));
      assert.equal(err.failure, 'timeout');
      assert.match(err.message, /no response headers within 300 ms/);
      assert.equal(server.completions(kind).length, 2);
    });
  }

  it('an already aborted signal sends nothing', async () => {
    const provider = createProvider({ id: 'gemini', kind: 'gemini', tier: 'free', baseUrl: server.baseUrl('gemini'), apiKey: KEY });
    const err = await provider.generate(REQUEST, { ...LIMITS, signal: AbortSignal.abort() }).catch((e: unknown) => e);
    assert.ok(err instanceof ProviderError);
    assert.equal(err.failure, 'cancelled');
    assert.equal(server.count(), 0);
  });

  it('never lets SDK environment variables redirect a call or leak a key to a local server', async () => {
    const saved = { ...process.env };
    try {
      process.env.OPENAI_API_KEY = 'sk-proj-REALKEYMUSTNOTLEAKabcdefghijkl';
      process.env.OPENAI_BASE_URL = 'http://127.0.0.1:1/v1';
      process.env.TOGETHER_BASE_URL = 'http://127.0.0.1:1/v1';
      process.env.GOOGLE_GENAI_USE_VERTEXAI = 'true';
      const local = createProvider({ id: 'local', kind: 'openai-compatible', tier: 'local', baseUrl: server.baseUrl('openai-compatible', 'local') });
      assert.equal((await local.generate(REQUEST, LIMITS)).complete, true);
      assert.ok(!JSON.stringify(server.completions('local')[0]!.headers).includes('REALKEY'), 'the OpenAI key is not sent to a local server');
      const together = createProvider({ id: 'together', kind: 'together', tier: 'free', baseUrl: server.baseUrl('together'), apiKey: KEY });
      assert.equal((await together.generate(REQUEST, LIMITS)).complete, true);
      const gemini = createProvider({ id: 'gemini', kind: 'gemini', tier: 'free', baseUrl: server.baseUrl('gemini'), apiKey: KEY });
      assert.equal((await gemini.generate(REQUEST, LIMITS)).complete, true);
      assert.equal(server.completions('gemini')[0]!.path, '/gemini/v1beta/models/test-model:generateContent');
    } finally {
      for (const name of ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'TOGETHER_BASE_URL', 'GOOGLE_GENAI_USE_VERTEXAI']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });

  it('a connection refused is a network failure', async () => {
    const closed = await startFakeProviderServer();
    const url = closed.baseUrl('openai');
    await closed.close();
    const err = await createProvider({ id: 'openai', kind: 'openai', tier: 'paid', baseUrl: url, apiKey: KEY })
      .generate(REQUEST, LIMITS)
      .catch((e: unknown) => e);
    assert.ok(err instanceof ProviderError);
    assert.equal(err.failure, 'network');
  });

  it('the registry rejects an unknown kind with a plain error', () => {
    assert.throws(() => createProvider({ id: 'x', kind: 'anthropic' as ProviderKind, tier: 'paid' }), (e: unknown) => e instanceof UserError && /unknown provider kind "anthropic"/.test(e.message));
  });
});

describe('fake provider server in a child process', function () {
  this.timeout(20_000);
  it('serves, takes scripted faults and reports its request log', async () => {
    const child = await startFakeProviderServerInChild();
    try {
      await child.enqueue('gemini', { kind: 'status', status: 503 });
      const provider = createProvider({ id: 'gemini', kind: 'gemini', tier: 'free', baseUrl: child.baseUrl('gemini'), apiKey: KEY });
      const err = await provider.generate(REQUEST, LIMITS).catch((e: unknown) => e);
      assert.ok(err instanceof ProviderError);
      assert.equal(err.failure, 'server_error');
      assert.equal((await provider.generate(REQUEST, LIMITS)).complete, true);
      const log = await child.requests();
      assert.equal(log.length, 2);
      assert.equal(log[0]!.headers['x-goog-api-key'], KEY);
    } finally {
      await child.close();
    }
    assert.throws(() => process.kill(child.pid, 0), 'the child is gone');
  });
});
