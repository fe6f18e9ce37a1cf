/**
 * Every scripted fault, through every provider's REAL SDK against the fake server on 127.0.0.1: the attempt ends
 * classified correctly (or as a result marked incomplete), within its deadline, after exactly one request
 * (the SDKs' own retries are off), and its message carries no key.
 */
import assert from 'node:assert/strict';
import { createProvider } from '../../../src/core/providers/registry';
import { ProviderError, type CallLimits, type FailureClass, type GenerationResult, type ProviderKind } from '../../../src/core/providers/types';
import { startFakeProviderServer, type FakeProviderServer, type Fault } from '../../fakes/provider-server';
/** The kinds the fake provider server speaks (a team server, kind switchboard, has its own suite). */
type SdkProviderKind = Exclude<ProviderKind, 'switchboard'>;

const LIMITS: CallLimits = { headersTimeoutMs: 400, idleTimeoutMs: 300, totalDeadlineMs: 1200, maxResponseBytes: 256 * 1024 };
// Generous slack over the deadline for a loaded CI machine; this only catches a limit that is not enforced.

const KEYS: Record<SdkProviderKind, string> = {
  openai: 'sk-proj-FAKEKEYFORTESTSabcdefghijklmnop',
  together: 'tgp_v1_FAKEKEYFORTESTSabcdefghijklmnop',
  huggingface: 'hf_FAKEKEYFORTESTSabcdefghijklmnop',
  gemini: 'AIzaFAKEKEYFORTESTSabcdefghijklmnopqrstu',
  'openai-compatible': 'local-FAKEKEY-abcdefghijkl',
};
const KINDS: SdkProviderKind[] = ['openai', 'together', 'huggingface', 'gemini', 'openai-compatible'];

type Mode = 'json' | 'stream';
type Expectation = { failure: FailureClass; status?: number; retryAfterMs?: [number, number]; says?: RegExp } | { check: (r: GenerationResult) => void };

interface FaultCase {
  name: string;
  fault: Fault;
  modes: Mode[];
  expect: Expectation;
}

const BOTH: Mode[] = ['json', 'stream'];
const CASES: FaultCase[] = [
  { name: '429 Retry-After seconds', fault: { kind: 'rate_limit_seconds', seconds: 2 }, modes: BOTH, expect: { failure: 'rate_limited', status: 429, retryAfterMs: [2000, 2000] } },
  { name: '429 Retry-After HTTP date', fault: { kind: 'rate_limit_date', seconds: 30 }, modes: ['json'], expect: { failure: 'rate_limited', status: 429, retryAfterMs: [27_000, 31_000] } },
  { name: '429 retry-after-ms', fault: { kind: 'rate_limit_ms', ms: 1500 }, modes: ['json'], expect: { failure: 'rate_limited', status: 429, retryAfterMs: [1500, 1500] } },
  { name: '429 day-long Retry-After', fault: { kind: 'rate_limit_day' }, modes: ['json'], expect: { failure: 'rate_limited', status: 429, retryAfterMs: [86_400_000, 86_400_000] } },
  ...[500, 502, 503, 504].map((status): FaultCase => ({ name: `HTTP ${status}`, fault: { kind: 'status', status }, modes: BOTH, expect: { failure: 'server_error', status } })),
  { name: '401', fault: { kind: 'status', status: 401, message: 'Invalid API key.' }, modes: BOTH, expect: { failure: 'auth', status: 401 } },
  { name: '400 context length', fault: { kind: 'context_length' }, modes: BOTH, expect: { failure: 'context_length', status: 400, says: /context/ } },
  { name: '400 other', fault: { kind: 'status', status: 400, message: 'Invalid value for temperature.' }, modes: ['json'], expect: { failure: 'bad_request', status: 400 } },
  { name: 'connection reset before headers', fault: { kind: 'reset_before_headers' }, modes: BOTH, expect: { failure: 'network' } },
  { name: 'connection reset mid-body', fault: { kind: 'reset_mid_stream' }, modes: BOTH, expect: { failure: 'network' } },
  { name: 'hang before headers', fault: { kind: 'hang_before_headers' }, modes: BOTH, expect: { failure: 'timeout', says: /no response headers within 400 ms/ } },
  { name: 'headers then silence', fault: { kind: 'headers_then_silence' }, modes: BOTH, expect: { failure: 'timeout', says: /no data for 300 ms/ } },
  { name: 'slow drip past the deadline', fault: { kind: 'slow_drip', intervalMs: 100, chunks: 40 }, modes: BOTH, expect: { failure: 'timeout', says: /1200 ms deadline/ } },
  { name: 'truncated JSON', fault: { kind: 'truncated_json' }, modes: ['json'], expect: { failure: 'malformed' } },
  { name: '200 text/html', fault: { kind: 'html' }, modes: BOTH, expect: { failure: 'malformed' } },
  { name: 'empty body', fault: { kind: 'empty_body' }, modes: BOTH, expect: { failure: 'malformed' } },
  { name: 'no choices', fault: { kind: 'no_choices' }, modes: BOTH, expect: { failure: 'malformed' } },
  { name: 'body far over the byte cap', fault: { kind: 'oversized', bytes: 4 * 1024 * 1024 }, modes: BOTH, expect: { failure: 'malformed', says: /262144-byte cap/ } },
  { name: 'error event mid-stream', fault: { kind: 'sse_error_event' }, modes: ['stream'], expect: { failure: 'server_error' } },
  {
    name: 'finish_reason length',
    fault: { kind: 'finish_length' },
    modes: BOTH,
    expect: {
      check: (r) => {
        assert.equal(r.finishReason, 'length');
        assert.equal(r.complete, false);
        assert.equal(r.text, 'Hello from the fake provider.');
      },
    },
  },
  {
    name: 'SSE without its end marker',
    fault: { kind: 'sse_no_done' },
    modes: ['stream'],
    expect: {
      check: (r) => {
        assert.equal(r.complete, false);
        assert.equal(r.finishReason, 'incomplete');
        assert.ok(r.text.length > 0, 'the partial text is kept');
      },
    },
  },
  {
    name: 'rate-limit headers',
    fault: { kind: 'rate_limit_headers' },
    modes: BOTH,
    expect: {
      check: (r) => {
        assert.equal(r.complete, true);
        assert.deepEqual(r.rateLimit, { limitRequests: 60, remainingRequests: 59, limitTokens: 150000, remainingTokens: 149984, resetRequestsMs: 1000, resetTokensMs: 360000 });
      },
    },
  },
];

describe('providers: every fault through the real SDKs', function () {
  this.timeout(15_000);
  let server: FakeProviderServer;

  before(async () => {
    server = await startFakeProviderServer();
  });
  after(async () => {
    await server.close();
  });
  afterEach(() => server.reset());

  for (const kind of KINDS) {
    describe(kind, () => {
      for (const c of CASES) {
        for (const mode of c.modes) {
          it(`${c.name} (${mode})`, async () => {
            const provider = createProvider({ id: `${kind}-under-test`, kind, tier: 'free', baseUrl: server.baseUrl(kind, kind), apiKey: KEYS[kind] });
            server.enqueue(kind, c.fault);
            const started = Date.now();
            let result: GenerationResult | undefined;
            let error: unknown;
            try {
              result = await provider.generate({ model: 'test-model', messages: [{ role: 'user', content: 'Write a test.' }], stream: mode === 'stream' }, LIMITS);
            } catch (err) {
              error = err;
            }
            const elapsed = Date.now() - started;
            // No upper bound on the clock (a loaded machine stalls): a limit not enforced leaves the call to the
            // SDK's own timeout (minutes), and this suite's mocha timeout fails it.
            assert.equal(server.completions(kind).length, 1, 'exactly one request: the SDK did not retry');

            if ('check' in c.expect) {
              assert.equal(error, undefined, `unexpected failure: ${String(error)}`);
              c.expect.check(result!);
              return;
            }
            assert.ok(error instanceof ProviderError, `expected a ProviderError, got ${String(error)} / result ${JSON.stringify(result)}`);
            assert.equal(error.failure, c.expect.failure, error.message);
            assert.equal(error.providerId, `${kind}-under-test`);
            if (c.expect.status !== undefined) assert.equal(error.status, c.expect.status);
            if (c.expect.retryAfterMs) {
              const [min, max] = c.expect.retryAfterMs;
              assert.ok(error.retryAfterMs !== undefined && error.retryAfterMs >= min && error.retryAfterMs <= max, `retryAfterMs ${error.retryAfterMs}`);
            }
            if (c.expect.says) assert.match(error.message, c.expect.says);
            assert.ok(!error.message.includes(KEYS[kind]), 'no key in the message');
            assert.ok(!error.message.includes('\n'), 'one line');
            assert.ok(error.message.startsWith(`${kind}-under-test: `), error.message);
            if (c.expect.failure === 'timeout') {
              // A timeout must end near its own limit, not at the SDK's much later one.
              assert.ok(elapsed >= Math.min(LIMITS.headersTimeoutMs, LIMITS.idleTimeoutMs) - 50, `timed out too early: ${elapsed} ms`);
            }
          });
        }
      }
    });
  }
});
