import assert from 'node:assert/strict';
import { UserError } from '../../../src/core/errors';
import { builtInRouterConfig, type ProviderSpec, type RouterConfig } from '../../../src/core/router/config';
import { selectCandidates, type CandidateQuery } from '../../../src/core/router/candidates';
import { estimateCall, estimateTokens, priceUsd, quotaAmounts } from '../../../src/core/router/cost';

function provider(id: string, tier: ProviderSpec['tier'], price: number, extra: Partial<ProviderSpec> = {}): ProviderSpec {
  return {
    id, kind: 'openai-compatible', tier, apiKeyEnv: [], disabled: false, source: 'test', quotas: [],
    models: [{ id: `${id}-m`, input_per_mtok: price, output_per_mtok: price * 4, context: 100_000 }],
    ...extra,
  };
}

function config(providers: ProviderSpec[], routing: Partial<RouterConfig['routing']> = {}): RouterConfig {
  return { ...builtInRouterConfig(), providers, routing: { chain: ['local', 'free', 'paid'], allow_paid: true, tasks: {}, ...routing } };
}

const query = (over: Partial<CandidateQuery> = {}): CandidateQuery => ({
  task: 'tests',
  estimate: estimateCall([{ role: 'user', content: 'x'.repeat(4000) }], 500),
  ...over,
});
const ids = (c: { candidates: Array<{ provider: ProviderSpec; model: { id: string } }> }) => c.candidates.map((x) => `${x.provider.id}/${x.model.id}`);
const anyKey = () => true;

describe('router costs', () => {
  it('estimates tokens as characters / 4, rounded up, and prices per million tokens', () => {
    assert.equal(estimateTokens(0), 0);
    assert.equal(estimateTokens(1), 1);
    assert.equal(estimateTokens(4001), 1001);
    assert.equal(priceUsd({ input_per_mtok: 3, output_per_mtok: 15 }, 1_000_000, 100_000), 4.5);
    const e = estimateCall([{ role: 'system', content: 'abcd' }, { role: 'user', content: 'efghij' }], undefined);
    assert.deepEqual(e, { inputChars: 10, inputTokens: 3, outputTokens: 1024 });
    assert.deepEqual(quotaAmounts(10, 3, 7, 0.5), { requests: 1, input_chars: 10, tokens: 10, usd: 0.5 });
  });
});

describe('router candidate selection', () => {
  it('orders by the chain first, then estimated cost', () => {
    const c = config([provider('paid-cheap', 'paid', 0.1), provider('free-b', 'free', 0), provider('paid-dear', 'paid', 5), provider('loc', 'local', 0)]);
    assert.deepEqual(ids(selectCandidates(c, query(), anyKey)), ['loc/loc-m', 'free-b/free-b-m', 'paid-cheap/paid-cheap-m', 'paid-dear/paid-dear-m']);
  });

  it('follows a reordered chain and leaves out tiers not in it', () => {
    const c = config([provider('loc', 'local', 0), provider('fr', 'free', 0), provider('pd', 'paid', 1)], { chain: ['free', 'local'] });
    const s = selectCandidates(c, query(), anyKey);
    assert.deepEqual(ids(s), ['fr/fr-m', 'loc/loc-m']);
    assert.deepEqual(s.skipped, [{ provider: 'pd', reason: 'tier "paid" is not in routing.chain' }]);
  });

  it('breaks cost ties toward the shortest quota window (a daily quota is use-it-or-lose-it), then config order', () => {
    const monthly = provider('monthly', 'free', 0, { quotas: [{ metric: 'requests', window: 'month', limit: 10 }] });
    const daily = provider('daily', 'free', 0, { quotas: [{ metric: 'requests', window: 'day', limit: 10 }] });
    const none = provider('none', 'free', 0);
    const also = provider('also-monthly', 'free', 0, { quotas: [{ metric: 'requests', window: 'month', limit: 10 }] });
    assert.deepEqual(ids(selectCandidates(config([none, monthly, also, daily]), query(), anyKey)), ['daily/daily-m', 'monthly/monthly-m', 'also-monthly/also-monthly-m', 'none/none-m']);
  });

  it('skips, with a reason each, providers without a key, paid ones when paid is off, disabled ones', () => {
    const keyed = provider('keyed', 'free', 0, { apiKeyEnv: ['KEYED_KEY'] });
    const off = provider('off', 'free', 0, { disabled: true });
    const s = selectCandidates(config([keyed, off, provider('pd', 'paid', 1)], { allow_paid: false }), query(), (p) => p.id !== 'keyed');
    assert.deepEqual(s.candidates, []);
    assert.deepEqual(s.skipped, [
      { provider: 'keyed', reason: 'no API key (set KEYED_KEY)' },
      { provider: 'off', reason: 'disabled in router.yaml' },
      { provider: 'pd', reason: 'paid and routing.allow_paid is false' },
    ]);
  });

  it('an explicit request for a paid provider without allow_paid is a UserError, never a silent charge', () => {
    const c = config([provider('fr', 'free', 0), provider('pd', 'paid', 1)], { allow_paid: false });
    assert.throws(() => selectCandidates(c, query({ provider: 'pd' }), anyKey), (e: unknown) => e instanceof UserError && e.code === 'paid_not_allowed' && /allow_paid: true/.test(e.message));
    assert.throws(() => selectCandidates(c, query({ provider: 'nope' }), anyKey), (e: unknown) => e instanceof UserError && /unknown provider "nope".*fr, pd/.test(e.message));
  });

  it('an explicit provider limits the candidates to it; "auto" does not', () => {
    const c = config([provider('a', 'free', 0), provider('b', 'free', 0)]);
    assert.deepEqual(ids(selectCandidates(c, query({ provider: 'b' }), anyKey)), ['b/b-m']);
    assert.equal(selectCandidates(c, query({ provider: 'b' }), anyKey).candidates[0]!.via, 'explicit');
    assert.deepEqual(ids(selectCandidates(c, query({ provider: 'auto' }), anyKey)), ['a/a-m', 'b/b-m']);
  });

  it('skips models whose context is too small for prompt + expected output, and those missing a capability', () => {
    const small = provider('small', 'free', 0, { models: [{ id: 'tiny', input_per_mtok: 0, output_per_mtok: 0, context: 1200 }, { id: 'big', input_per_mtok: 0, output_per_mtok: 0, context: 2000, capabilities: ['chat'] }] });
    const s = selectCandidates(config([small]), query({ capabilities: ['code'] }), anyKey);
    assert.deepEqual(s.candidates, []);
    assert.deepEqual(s.skipped, [
      { provider: 'small', model: 'tiny', reason: 'context too small: needs ~1500 tokens, tiny takes 1200' },
      { provider: 'small', model: 'big', reason: 'missing capability: code' },
    ]);
    // A model that lists no capabilities is unrestricted.
    assert.deepEqual(ids(selectCandidates(config([provider('free', 'free', 0)]), query({ capabilities: ['code'] }), anyKey)), ['free/free-m']);
  });

  it("uses an agent's pinned model, then its fallbacks, in the agent's order", () => {
    const a = provider('a', 'free', 0, { models: [{ id: 'alpha', input_per_mtok: 0, output_per_mtok: 0, context: 100_000 }] });
    const b = provider('b', 'paid', 1, { models: [{ id: 'beta', input_per_mtok: 1, output_per_mtok: 1, context: 100_000 }, { id: 'shared/model', input_per_mtok: 1, output_per_mtok: 1, context: 100_000 }] });
    const c = provider('c', 'free', 0, { models: [{ id: 'shared/model', input_per_mtok: 0, output_per_mtok: 0, context: 100_000 }] });
    const cfg = config([a, b, c]);
    const s = selectCandidates(cfg, query({ model: 'beta', fallbackModels: ['ghost', 'shared/model', 'a/alpha'] }), anyKey);
    assert.deepEqual(ids(s), ['b/beta', 'c/shared/model', 'b/shared/model', 'a/alpha']);
    assert.ok(s.candidates.every((x) => x.via === 'pinned'));
    assert.deepEqual(s.skipped, [{ provider: '-', model: 'ghost', reason: 'model "ghost" is not served by any configured provider' }]);
  });

  it('routes as auto when none of the pinned models exists here (a Claude subagent pinned to "sonnet")', () => {
    const cfg = config([provider('a', 'free', 0), provider('b', 'local', 0)]);
    const s = selectCandidates(cfg, query({ model: 'sonnet', fallbackModels: ['opus'] }), anyKey);
    assert.deepEqual(ids(s), ['b/b-m', 'a/a-m']);
    assert.equal(s.skipped.length, 2);
    assert.deepEqual(ids(selectCandidates(cfg, query({ model: 'inherit' }), anyKey)), ['b/b-m', 'a/a-m']);
  });

  it("puts the task's preferred provider (routing.tasks) first, the rest after", () => {
    const cfg = config([provider('loc', 'local', 0), provider('fr', 'free', 0), provider('pd', 'paid', 1)], { tasks: { tests: 'pd', docs: 'auto' } });
    const s = selectCandidates(cfg, query({ task: 'tests' }), anyKey);
    assert.deepEqual(ids(s), ['pd/pd-m', 'loc/loc-m', 'fr/fr-m']);
    assert.equal(s.candidates[0]!.via, 'task');
    assert.deepEqual(ids(selectCandidates(cfg, query({ task: 'docs' }), anyKey)), ['loc/loc-m', 'fr/fr-m', 'pd/pd-m']);
  });

  it('estimates each candidate’s cost from its prices', () => {
    const s = selectCandidates(config([provider('pd', 'paid', 2)]), query(), anyKey);
    // 1000 input tokens at $2/M + 500 output at $8/M
    assert.equal(s.candidates[0]!.estimatedUsd, (1000 * 2 + 500 * 8) / 1e6);
  });
});
