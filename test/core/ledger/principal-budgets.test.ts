/** Budgets per principal and team held by reservation, over two real sql.js ledgers. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { BudgetedLedger } from '../../../src/core/ledger/principal-budgets';
import type { QuotaRule } from '../../../src/core/ledger/types';
import { call, ManualClock, openAt, tempHome } from './helpers';

const RULES: QuotaRule[] = [{ metric: 'usd', window: 'month', limit: 100 }];

describe('BudgetedLedger', () => {
  let home: ReturnType<typeof tempHome>;
  let ledger: BudgetedLedger;
  const clock = new ManualClock(Date.UTC(2026, 10, 10, 12));

  beforeEach(async () => {
    home = tempHome();
    const inner = (await openAt(home.file, clock)).ledger;
    const budgets = (await openAt(path.join(home.dir, 'budgets.sqlite'), clock)).ledger;
    ledger = new BudgetedLedger(inner, budgets, (p) => ({ principalUsdMonth: p.id === 'alice' ? 1 : undefined, teamUsdMonth: p.team === 'web' ? 1.5 : undefined }));
  });
  afterEach(async () => {
    await ledger.close();
    home.cleanup();
  });

  it('holds the estimate against the principal and the team while the call runs, then the real cost', async () => {
    const alice = { id: 'alice', team: 'web' };
    const r = await ledger.reserve({ providerId: 'openai', principal: alice, rules: RULES, amounts: { usd: 0.6 } });
    assert.ok(r.ok);
    const held = await ledger.budgetStates(alice);
    assert.deepEqual(held.map((b) => [b.scope, b.id, b.state.reserved]), [['principal', 'alice', 0.6], ['team', 'web', 0.6]]);
    // A second concurrent call that would overspend the principal is refused while the first is still held.
    const second = await ledger.reserve({ providerId: 'openai', principal: alice, rules: RULES, amounts: { usd: 0.6 } });
    assert.equal(second.ok, false);
    assert.equal((await ledger.inner.quota('openai', RULES))[0]!.reserved, 0.6, 'the refused call gave its provider reservation back');

    await ledger.settle(r.reservationId, RULES, call('openai', { costUsd: 0.2, principal: alice }));
    const after = await ledger.budgetStates(alice);
    assert.deepEqual(after.map((b) => [b.state.used, b.state.reserved]), [[0.2, 0], [0.2, 0]]);
    assert.equal((await ledger.monthSpend()).calls, 1, 'budget holds are not counted as calls');
  });

  it('a team budget binds every member; release gives everything back', async () => {
    const bob = { id: 'bob', team: 'web' };
    const a = await ledger.reserve({ providerId: 'openai', principal: bob, rules: RULES, amounts: { usd: 1 } });
    assert.ok(a.ok);
    const b = await ledger.reserve({ providerId: 'openai', principal: { id: 'carol', team: 'web' }, rules: RULES, amounts: { usd: 1 } });
    assert.equal(b.ok, false);
    if (!b.ok) assert.equal(b.blocking.rule.limit, 1.5);
    await ledger.release(a.reservationId);
    assert.equal((await ledger.budgetStates(bob))[0]!.state.reserved, 0);
    assert.equal((await ledger.inner.quota('openai', RULES))[0]!.reserved, 0);
  });

  it('free calls (no cost) go through until a budget is used up, then only free calls do', async () => {
    const alice = { id: 'alice' };
    const r = await ledger.reserve({ providerId: 'openai', principal: alice, rules: RULES, amounts: { usd: 1 } });
    assert.ok(r.ok);
    await ledger.settle(r.reservationId, RULES, call('openai', { costUsd: 1 }));
    assert.equal((await ledger.reserve({ providerId: 'openai', principal: alice, rules: RULES, amounts: { usd: 0.01 } })).ok, false);
    assert.equal((await ledger.reserve({ providerId: 'gemini', principal: alice, rules: [], amounts: { usd: 0 } })).ok, true);
  });

  it('calls without a principal (local sidecars) hold no budget', async () => {
    const r = await ledger.reserve({ providerId: 'openai', rules: RULES, amounts: { usd: 50 } });
    assert.ok(r.ok);
    await ledger.settle(r.reservationId, RULES, call('openai', { costUsd: 50 }));
    assert.deepEqual(await ledger.budgetStates({ id: 'alice' }).then((s) => s.map((b) => b.state.used)), [0]);
  });
});
