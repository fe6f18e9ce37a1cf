/** The sidecar's small pure parts: id recovery, roots narrowing, error scrubbing, the delegation limiter. */
import assert from 'node:assert/strict';
import { DelegationLimiter } from '../../src/sidecar/limiter';
import { scrubPaths } from '../../src/sidecar/plain-error';
import { isWithin, narrowToRoots } from '../../src/sidecar/roots';
import { recoverRequestId } from '../../src/sidecar/stdio';
import { stripFence } from '../../src/core/generated-text';

describe('sidecar units', () => {
  it('recoverRequestId finds the top-level id of broken or cut JSON, never a nested one or a cut number', () => {
    assert.equal(recoverRequestId('{"jsonrpc":"2.0","id":5,"method":"x"'), 5);
    assert.equal(recoverRequestId('{"id":"a\\"b","method'), 'a"b');
    assert.equal(recoverRequestId('{"params":{"id":9},"id":3,'), 3);
    assert.equal(recoverRequestId('{"params":{"id":9}'), null);
    assert.equal(recoverRequestId('{"jsonrpc":"2.0","id":12'), null, 'a number at the very end may be cut short');
    assert.equal(recoverRequestId('{"method":"a","id":'), null);
    assert.equal(recoverRequestId('not json'), null);
  });

  it('roots narrow the allowed folders and never widen them; containment is by component, not prefix', () => {
    assert.equal(isWithin('/ws-evil/a', '/ws'), false);
    assert.equal(isWithin('/ws/a', '/ws'), true);
    assert.deepEqual(narrowToRoots(['/ws'], ['/ws/docs']), ['/ws/docs']);
    assert.deepEqual(narrowToRoots(['/ws'], ['/']), ['/ws']);
    assert.deepEqual(narrowToRoots(['/ws'], ['/elsewhere', '/ws-evil']), []);
  });

  it('scrubPaths keeps workspace paths relative, home as ~, and reduces other absolute paths', () => {
    const env = { HOME: '/home/u' };
    assert.equal(scrubPaths('cannot read /ws/src/a.ts', '/ws', env), 'cannot read src/a.ts');
    assert.equal(scrubPaths('at /home/u/.config/x.json', '/ws', env), 'at ~/.config/x.json');
    assert.equal(scrubPaths('open "/opt/secret/place/file.txt" failed', '/ws', env), 'open "…/file.txt" failed');
  });

  it('stripFence removes one wrapping code fence only', () => {
    assert.equal(stripFence('```ts\nconst a = 1;\n```'), 'const a = 1;\n');
    assert.equal(stripFence('plain'), 'plain\n');
    assert.equal(stripFence('a\n```\nb\n```\nc'), 'a\n```\nb\n```\nc\n');
    assert.equal(stripFence('```\na\n```\n```\nb\n```'), '```\na\n```\n```\nb\n```\n', 'two fenced blocks are content, not a wrapper');
  });

  it('the limiter honours per-model limits without holding up other models, in order', async () => {
    const limiter = new DelegationLimiter({ maxConcurrent: 2, modelLimits: { opus: 1 }, maxQueue: 10, queueTimeoutMs: 5_000 });
    const releaseOpus = await limiter.acquire('opus');
    const order: string[] = [];
    const opus2 = limiter.acquire('opus').then((r) => (order.push('opus2'), r));
    const haiku = limiter.acquire('haiku').then((r) => (order.push('haiku'), r));
    const releaseHaiku = await haiku;
    assert.deepEqual(order, ['haiku'], 'haiku passed the waiting opus call');
    releaseOpus();
    const releaseOpus2 = await opus2;
    assert.deepEqual(order, ['haiku', 'opus2']);
    releaseHaiku();
    releaseOpus2();
    assert.deepEqual(limiter.stats, { running: 0, waiting: 0 });
  });

  it('the limiter refuses when the queue is full and gives up after its timeout', async () => {
    const limiter = new DelegationLimiter({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 50 });
    const release = await limiter.acquire(undefined);
    const waiting = limiter.acquire(undefined);
    await assert.rejects(limiter.acquire(undefined), /too many delegations: 1 running and 1 waiting/);
    await assert.rejects(waiting, /no free delegation slot/);
    release();
    assert.deepEqual(limiter.stats, { running: 0, waiting: 0 });
  });
});
