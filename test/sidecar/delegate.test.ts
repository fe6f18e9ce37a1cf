/**
 * `delegate` end to end: the built sidecar over real stdio, the real router, ledger and SDKs, pointed at the fake
 * provider server (test/fakes) through SWITCHBOARD_TOGETHER_BASE_URL, with a temp SWITCHBOARD_HOME.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startFakeProviderServer, type FakeProviderServer } from '../fakes/provider-server';
import { queryOnDisk } from '../core/ledger/helpers';
import { isAlive } from '../support/process';
import { buildOnce, connectSidecar, makeScratch, textOf, type Connected, type Scratch } from './helpers';

const FAKE_KEY = 'tgp_v1_' + 'k'.repeat(40);

function providerEnv(fake: FakeProviderServer, extra: Record<string, string> = {}): Record<string, string> {
  return { SWITCHBOARD_TOGETHER_BASE_URL: fake.baseUrl('together'), TOGETHER_API_KEY: FAKE_KEY, ...extra };
}

function lastRequestMessages(fake: FakeProviderServer): Array<{ role: string; content: string }> {
  const last = fake.requests[fake.requests.length - 1]!;
  return (last.json as { messages: Array<{ role: string; content: string }> }).messages;
}

describe('sidecar delegate: routed through the real router to the fake provider', function () {
  this.timeout(60_000);
  let scratch: Scratch;
  let fake: FakeProviderServer;
  let s: Connected;

  before(async () => {
    buildOnce();
    fake = await startFakeProviderServer({ reply: { text: 'GENERATED TEXT', usage: { inputTokens: 120, outputTokens: 30 } } });
    scratch = makeScratch();
    fs.writeFileSync(path.join(scratch.workspace, 'PROJECT_CONTEXT.md'), '# Project context\nPROJECT-CONTEXT-MARKER\n');
    s = await connectSidecar(scratch, { env: providerEnv(fake, { SWITCHBOARD_PROGRESS_INTERVAL_MS: '150' }) });
  });
  after(async () => {
    await s?.close();
    await fake?.close();
    scratch?.cleanup();
  });
  beforeEach(() => fake.reset());

  it('returns the generated text beside the routing decision', async () => {
    fake.setReply({ text: 'GENERATED TEXT', usage: { inputTokens: 120, outputTokens: 30 } });
    const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'Document slugify.', files: ['src/slugify.ts'] } });
    assert.equal(r.isError, undefined, textOf(r));
    const blocks = (r.content as Array<{ type: string; text: string }>);
    assert.equal(blocks[0]!.text, 'GENERATED TEXT', 'the first block is the generated text alone');
    assert.match(blocks[1]!.text, /^— routed to together\//, 'the routing note is a separate block');
    const sc = r.structuredContent as Record<string, unknown>;
    assert.equal(sc.provider, 'together');
    assert.equal(sc.tier, 'free');
    assert.equal(sc.input_tokens, 120);
    assert.equal(sc.output_tokens, 30);
    assert.equal(sc.cost_usd, 0);
    assert.equal(sc.complete, true);
    assert.equal(sc.backup_id, undefined);
    const quota = sc.quota_left as Array<{ metric: string; window: string; left: number; limit: number }>;
    assert.deepEqual(quota.map((q) => [q.metric, q.window, q.limit]), [['requests', 'month', 3000]]);
    assert.ok(quota[0]!.left < 3000);
    assert.ok((sc.skipped as string[]).some((x) => x.startsWith('gemini') && /no API key/.test(x)), String(sc.skipped));

    assert.equal(fake.count('together'), 1);
    const [system, user] = lastRequestMessages(fake);
    assert.equal(system!.role, 'system');
    assert.match(system!.content, /documentation/);
    assert.match(system!.content, /PROJECT-CONTEXT-MARKER/, 'PROJECT_CONTEXT.md is part of the request');
    assert.match(user!.content, /Document slugify\./);
    assert.match(user!.content, /File src\/slugify\.ts:\n```\n/);
    assert.match(user!.content, new RegExp(escape(fs.readFileSync(path.join(scratch.workspace, 'src', 'slugify.ts'), 'utf8').slice(0, 40))));
  });

  it('uses the agent definition: its prompt as system prompt and its context files', async () => {
    const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'code', prompt: 'Add a helper.', agent: 'ai-engineer' } });
    assert.equal(r.isError, undefined, textOf(r));
    const [system] = lastRequestMessages(fake);
    const contextFile = fs.readFileSync(path.join(scratch.workspace, '.agents', 'context', 'shared-architecture.md'), 'utf8');
    assert.ok(system!.content.includes(contextFile.trim().split('\n')[0]!), 'context file loaded with the agent');
    assert.match(system!.content, /PROJECT-CONTEXT-MARKER/);
  });

  it('with output_path writes the answer through the file policy with a backup, restorable', async () => {
    fake.setReply({ text: '```ts\nexport const x = 1;\n```', usage: { inputTokens: 50, outputTokens: 10 } });
    const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'tests', prompt: 'Write tests.', files: ['src/slugify.ts'], output_path: 'test/slugify.test.ts' } });
    assert.equal(r.isError, undefined, textOf(r));
    const sc = r.structuredContent as { backup_id: string; provider: string };
    assert.ok(sc.backup_id, 'backup id returned');
    const target = path.join(scratch.workspace, 'test', 'slugify.test.ts');
    assert.equal(fs.readFileSync(target, 'utf8'), 'export const x = 1;\n', 'the code fence is not part of the file');
    assert.match(textOf(r), /created test\/slugify\.test\.ts .* backup /);
    const [system] = lastRequestMessages(fake);
    assert.match(system!.content, /content of the file test\/slugify\.test\.ts/);

    const audit = fs.readFileSync(path.join(scratch.workspace, '.switchboard', 'audit.jsonl'), 'utf8');
    assert.match(audit, /"op":"delegate"[^\n]*"provider":"together"/);

    const restored = await s.client.callTool({ name: 'restore_backup', arguments: { backup_id: sc.backup_id } });
    assert.equal(restored.isError, undefined, textOf(restored));
    assert.equal(fs.existsSync(target), false, 'restoring "did not exist" removes the generated file');
  });

  it('a forbidden output_path is refused before any provider is called', async () => {
    const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'code', prompt: 'x', output_path: '.env' } });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /not allowed/i);
    assert.equal(fake.count(), 0);
  });

  it('an unreadable context file fails the delegation plainly, before any provider call', async () => {
    const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'code', prompt: 'x', files: ['missing.ts'] } });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /missing\.ts/);
    assert.equal(fake.count(), 0);
  });

  it('an incomplete answer (length limit) is never written to output_path', async () => {
    fs.mkdirSync(path.join(scratch.workspace, 'docs'), { recursive: true });
    fs.writeFileSync(path.join(scratch.workspace, 'docs', 'keep.md'), 'original\n');
    fake.setDefault('*', { kind: 'finish_length' });
    const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'x', output_path: 'docs/keep.md' } });
    assert.equal(r.isError, undefined, textOf(r));
    assert.match(textOf(r), /^NOT WRITTEN/);
    assert.equal((r.structuredContent as { complete: boolean }).complete, false);
    assert.equal(fs.readFileSync(path.join(scratch.workspace, 'docs', 'keep.md'), 'utf8'), 'original\n');
  });

  it('sends progress notifications while a slow generation runs', async () => {
    fake.setDefault('*', { kind: 'slow_drip', intervalMs: 100, chunks: 15 });
    const progress: Array<{ progress: number; message?: string }> = [];
    const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'slow please' } }, undefined, {
      onprogress: (p) => progress.push(p),
      timeout: 30_000,
    });
    assert.equal(r.isError, undefined, textOf(r));
    assert.ok(progress.length >= 4, `got ${progress.length} progress notifications`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.progress > progress[i - 1]!.progress, 'progress increases');
    assert.match(progress[0]!.message ?? '', /delegating docs/);
  });

  it('no key ever reaches a result, even when the provider echoes it in an error', async () => {
    fake.setDefault('*', { kind: 'status', status: 401, message: `invalid key ${FAKE_KEY}` });
    const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'x' } });
    assert.equal(r.isError, true);
    assert.ok(!JSON.stringify(r).includes(FAKE_KEY), JSON.stringify(r));
    assert.ok(!s.stderr().includes(FAKE_KEY), 'nor the log');
  });
});

describe('sidecar delegate: concurrency limits from .agents/discovery-config.yaml', function () {
  this.timeout(60_000);
  let scratch: Scratch;
  let fake: FakeProviderServer;
  let s: Connected;

  before(async () => {
    buildOnce();
    fake = await startFakeProviderServer();
    scratch = makeScratch();
    fs.writeFileSync(path.join(scratch.workspace, '.agents', 'discovery-config.yaml'), 'limits:\n  max_concurrent: 1\n');
    s = await connectSidecar(scratch, { env: providerEnv(fake, { SWITCHBOARD_MAX_QUEUE: '1', SWITCHBOARD_QUEUE_TIMEOUT_MS: '3000' }) });
  });
  after(async () => {
    await s?.close();
    await fake?.close();
    scratch?.cleanup();
  });

  it('one runs, one waits in the bounded queue and then times out, one is refused at once', async () => {
    // Sized for a loaded machine: the queue wait (3 s) far exceeds the gap between the second and third calls, and
    // the first call holds its slot (6 s) past the second's timeout. The first is running once the provider has it.
    fake.setDefault('*', { kind: 'ok', delayMs: 6_000 });
    const call = (prompt: string) => s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt } }, undefined, { timeout: 30_000 });
    const running = call('first');
    await waitFor(() => fake.count() === 1, 20_000);
    const queued = call('second');
    await new Promise((r) => setTimeout(r, 300));
    const refused = await call('third');
    assert.equal(refused.isError, true);
    assert.match(textOf(refused), /too many delegations: 1 running and 1 waiting \(max_concurrent 1\)/);
    const timedOut = await queued;
    assert.equal(timedOut.isError, true);
    assert.match(textOf(timedOut), /no free delegation slot after 3 s/);
    const first = await running;
    assert.equal(first.isError, undefined, textOf(first));
    assert.equal(fake.count(), 1, 'only the call that ran reached the provider');
  });
});

describe('sidecar delegate: a burst of delegations on one quota lease', function () {
  this.timeout(60_000);

  it('reports quota_left as call by call while the lease holds more, and leaves nothing held once stdin closes', async () => {
    buildOnce();
    const fake = await startFakeProviderServer({ reply: { text: 'GENERATED TEXT', usage: { inputTokens: 120, outputTokens: 30 } } });
    const scratch = makeScratch();
    try {
      const s = await connectSidecar(scratch, { env: providerEnv(fake) });
      const lefts: number[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: `Document slugify, take ${i}.` } });
        assert.equal(r.isError, undefined, textOf(r));
        lefts.push((r.structuredContent as { quota_left: Array<{ left: number }> }).quota_left[0]!.left);
      }
      // Together's 3,000 requests a month: calls 2–4 went on one lease of 8 (1% of what was left covers 8).
      assert.deepEqual(lefts, [2999, 2998, 2997, 2996], 'what the lease holds unused is this sidecar\'s to use, not gone');
      await s.close(); // stdin closes: the sidecar closes its ledger, giving the lease back
      await waitFor(() => s.transport.pid === null || !isAlive(s.transport.pid), 20_000);
      const ledger = path.join(scratch.switchboardHome, 'ledger.sqlite');
      assert.deepEqual(await queryOnDisk(ledger, "SELECT used FROM usage WHERE provider = 'together' AND metric = 'requests'"), [[4]]);
      assert.deepEqual(await queryOnDisk(ledger, "SELECT count(*) FROM reservations WHERE provider = 'together'"), [[0]], 'no hold outlives the sidecar');
    } finally {
      await fake.close();
      scratch.cleanup();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
