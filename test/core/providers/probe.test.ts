/** The local-tier probe: one GET /models, short timeout, answers (down included) cached per URL for a TTL. */
import assert from 'node:assert/strict';
import { clearProbeCache, probeLocalServer } from '../../../src/core/providers/probe';
import { startFakeProviderServer, type FakeProviderServer } from '../../fakes/provider-server';

describe('local server probe', function () {
  this.timeout(10_000);
  let server: FakeProviderServer;
  let clock = 1_000_000;
  const now = (): number => clock;
  before(async () => {
    server = await startFakeProviderServer();
  });
  after(async () => {
    await server.close();
  });
  beforeEach(() => {
    clearProbeCache();
    server.reset();
    clock = 1_000_000;
  });

  it('finds a server and its models, then answers from the cache until the TTL ends', async () => {
    const url = server.baseUrl('openai-compatible', 'ollama');
    const first = await probeLocalServer(url, { now, ttlMs: 30_000 });
    assert.equal(first.up, true);
    assert.deepEqual(first.models, ['fake-local-model']);
    assert.equal(server.requests[0]!.path, '/ollama/v1/models');
    clock += 29_999;
    await probeLocalServer(url, { now, ttlMs: 30_000 });
    await probeLocalServer(`${url}/`, { now, ttlMs: 30_000 });
    assert.equal(server.count('ollama'), 1, 'cached, trailing slash or not');
    clock += 2;
    await probeLocalServer(url, { now, ttlMs: 30_000 });
    assert.equal(server.count('ollama'), 2, 're-probed after the TTL');
  });

  it('concurrent probes share one request', async () => {
    const url = server.baseUrl('openai-compatible', 'shared');
    const results = await Promise.all(Array.from({ length: 20 }, () => probeLocalServer(url, { now })));
    assert.ok(results.every((r) => r.up));
    assert.equal(server.count('shared'), 1);
  });

  it('caches a down answer too: nothing listening, an HTTP error, a hang', async () => {
    const gone = await startFakeProviderServer();
    const goneUrl = gone.baseUrl('openai-compatible');
    await gone.close();
    const refused = await probeLocalServer(goneUrl, { now });
    assert.equal(refused.up, false);
    assert.match(refused.reason!, /no local server answering/);

    server.enqueue('err', { kind: 'status', status: 500 });
    const errUrl = server.baseUrl('openai-compatible', 'err');
    assert.match((await probeLocalServer(errUrl, { now })).reason!, /HTTP 500/);
    assert.equal((await probeLocalServer(errUrl, { now })).up, false);
    assert.equal(server.count('err'), 1, 'the negative answer is cached');

    server.enqueue('hang', { kind: 'hang_before_headers' });
    const hung = await probeLocalServer(server.baseUrl('openai-compatible', 'hang'), { now, timeoutMs: 150 });
    assert.equal(hung.up, false);
    assert.match(hung.reason!, /did not answer within 150 ms/, 'ended by its own timeout (the server never answers)');
  });

  it('a non-JSON answer is down', async () => {
    server.enqueue('html', { kind: 'html' });
    const r = await probeLocalServer(server.baseUrl('openai-compatible', 'html'), { now });
    assert.equal(r.up, false);
    assert.match(r.reason!, /JSON/);
  });
});
