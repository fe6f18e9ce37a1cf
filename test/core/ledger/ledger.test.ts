import assert from 'node:assert/strict';
import fs from 'node:fs';
import initSqlJs from 'sql.js';
import { SCHEMA_V1 } from '../../../src/core/ledger/schema';
import type { Budget, Ledger, Principal, QuotaRule } from '../../../src/core/ledger/types';
import { UserError } from '../../../src/core/errors';
import { LEDGER_BACKENDS, type CommonLedgerOptions } from './backends';
import { ManualClock, call, ledgerDirNames, openAt, queryOnDisk, tempHome } from './helpers';

const at = (s: string) => Date.parse(s);

/** availability(), where a ledger has it, says in one read what cooldown() and circuit() say. */
async function assertAvailability(ledger: Ledger, key: string, providerId: string): Promise<void> {
  if (!ledger.availability) return;
  const cooldown = await ledger.cooldown(key);
  const circuit = await ledger.circuit(providerId);
  assert.deepEqual(await ledger.availability(key, providerId), { ...(cooldown ? { cooldown } : {}), circuit });
}
const perDay: QuotaRule = { metric: 'requests', window: 'day', limit: 3 };

/** The behaviour every ledger must have, run against each backend (sql.js file, PostgreSQL). */
for (const backend of LEDGER_BACKENDS) {
  backend.describe(`Ledger behaviour (${backend.name})`, () => {
    const store = backend.use();
    async function ledgerAt(clock: ManualClock, options: CommonLedgerOptions = {}) {
      return { ledger: await store.open(clock, options) };
    }

    it('reserves, settles real usage and releases, with the state after each step', async () => {
      const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
      const { ledger } = await ledgerAt(clock);
      const rules: QuotaRule[] = [perDay, { metric: 'tokens', window: 'day', limit: 1000 }];
      const r1 = await ledger.reserve({ providerId: 'gemini', rules, amounts: { requests: 1, tokens: 300 } });
      assert.ok(r1.ok);
      assert.deepEqual(r1.states.map((s) => [s.used, s.reserved, s.left]), [[0, 1, 2], [0, 300, 700]]);
      const settled = await ledger.settle(r1.reservationId, rules, call('gemini', { amounts: { requests: 1, tokens: 120 } }));
      assert.deepEqual(settled.states.map((s) => [s.used, s.reserved, s.left]), [[1, 0, 2], [120, 0, 880]]);
      assert.equal(settled.states[0]!.fraction, 1 / 3);
      const r2 = await ledger.reserve({ providerId: 'gemini', rules, amounts: { tokens: 50 } }); // requests defaults to 1
      assert.ok(r2.ok);
      assert.equal(r2.states[0]!.reserved, 1);
      await ledger.release(r2.reservationId);
      assert.deepEqual((await ledger.quota('gemini', rules)).map((s) => [s.used, s.reserved]), [[1, 0], [120, 0]]);
      // Another provider's counters are separate.
      assert.deepEqual((await ledger.quota('openai', rules)).map((s) => s.used), [0, 0]);
    });

    it('refuses a reservation that would exceed any rule, names the blocking one and writes nothing', async () => {
      const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
      const { ledger } = await ledgerAt(clock);
      const rules: QuotaRule[] = [{ metric: 'requests', window: 'minute', limit: 100 }, perDay];
      for (let i = 0; i < 3; i++) {
        const r = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
        assert.ok(r.ok);
        await ledger.settle(r.reservationId, rules, call('p'));
      }
      const denied = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
      assert.equal(denied.ok, false);
      assert.ok(!denied.ok);
      assert.equal(denied.blocking.rule, perDay);
      assert.equal(denied.blocking.used, 3);
      assert.equal(denied.blocking.left, 0);
      assert.equal(new Date(denied.blocking.resetAtMs).toISOString(), '2026-04-03T00:00:00.000Z');
      // A reservation larger than what is left is refused too, a smaller one goes ahead.
      const usd: QuotaRule = { metric: 'usd', window: 'month', limit: 1 };
      assert.equal((await ledger.reserve({ providerId: 'q', rules: [usd], amounts: { usd: 1.5 } })).ok, false);
      assert.equal((await ledger.reserve({ providerId: 'q', rules: [usd], amounts: { usd: 0.5 } })).ok, true);
    });

    it('charges a reservation its holder never settled once it expires (the provider likely served the call)', async () => {
      const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
      const { ledger } = await ledgerAt(clock);
      const twoADay: QuotaRule = { metric: 'requests', window: 'day', limit: 2 };
      const tokensADay: QuotaRule = { metric: 'tokens', window: 'day', limit: 1000 };
      const perMonth: QuotaRule = { metric: 'requests', window: 'month', limit: 100 };
      const rules = [twoADay, tokensADay, perMonth];
      const quota = async () => (await ledger.quota('p', rules)).map((s) => [s.used, s.reserved]);
      const dead = await ledger.reserve({ providerId: 'p', rules, amounts: { tokens: 300 }, ttlMs: 5_000 });
      assert.ok(dead.ok);
      clock.advance(4_999);
      assert.deepEqual(await quota(), [[0, 1], [0, 300], [0, 1]], 'held while unexpired');
      clock.advance(1);
      assert.deepEqual(await quota(), [[1, 0], [300, 0], [1, 0]], 'expired: used, not given back');
      // Admission sees the charge: one request left today.
      const second = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
      assert.ok(second.ok);
      assert.deepEqual(second.states.map((s) => [s.used, s.reserved]), [[1, 1], [300, 0], [1, 1]]);
      const refused = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
      assert.ok(!refused.ok);
      assert.equal(refused.blocking.rule, twoADay);
      assert.deepEqual([refused.blocking.used, refused.blocking.reserved], [1, 1]);
      await ledger.release(second.reservationId);
      // Settled late, it counts the real usage instead of the charge: the call once, not twice.
      clock.advance(10 * 60_000);
      const settled = await ledger.settle(dead.reservationId, rules, call('p', { amounts: { requests: 1, tokens: 120 } }));
      assert.deepEqual(settled.states.map((s) => [s.used, s.reserved]), [[1, 0], [120, 0], [1, 0]]);
      // Released late (the call used nothing), its charge goes.
      const abandoned = await ledger.reserve({ providerId: 'p', rules, amounts: { tokens: 50 }, ttlMs: 1_000 });
      assert.ok(abandoned.ok);
      clock.advance(1_000);
      assert.deepEqual(await quota(), [[2, 0], [170, 0], [2, 0]]);
      await ledger.release(abandoned.reservationId);
      assert.deepEqual(await quota(), [[1, 0], [120, 0], [1, 0]]);
      // Charged in the windows that contain its creation only: not in the next day, still in the month.
      const lost = await ledger.reserve({ providerId: 'p', rules, amounts: { tokens: 10 }, ttlMs: 1_000 });
      assert.ok(lost.ok);
      clock.advance(1_000);
      assert.deepEqual(await quota(), [[2, 0], [130, 0], [2, 0]]);
      assert.equal((await ledger.reserve({ providerId: 'p', rules, amounts: {} })).ok, false);
      clock.nowMs = at('2026-04-03T00:00:00Z');
      assert.deepEqual(await quota(), [[0, 0], [0, 0], [2, 0]]);
      const tomorrow = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
      assert.ok(tomorrow.ok);
      assert.deepEqual(tomorrow.states.map((s) => [s.used, s.reserved]), [[0, 1], [0, 0], [2, 1]]);
    });

    it('charges the budgets an expired reservation held, in the month it was made', async () => {
      const clock = new ManualClock(at('2026-04-30T23:00:00Z'));
      const { ledger } = await ledgerAt(clock);
      const budgets: Budget[] = [{ scope: 'principal', limitUsd: 1, window: 'month' }, { scope: 'global', limitUsd: 5, window: 'month' }];
      const alice = { id: 'alice', team: 'red' };
      const ask = (usd: number, ttlMs?: number) => ledger.reserve({ providerId: 'openai', principal: alice, rules: [], amounts: { usd }, budgets, ttlMs });
      const round = (x: number) => Math.round(x * 1e9) / 1e9;
      const usedAndHeld = (states: Array<{ used: number; reserved: number }>) => states.map((s) => [round(s.used), round(s.reserved)]);
      // A real call first: the global budget counts the month's spend plus the charges.
      const paid = await ask(0.1);
      assert.ok(paid.ok);
      await ledger.settle(paid.reservationId, [], call('openai', { tier: 'paid', costUsd: 0.1, principal: alice }));
      const deadA = await ask(0.6, 60_000);
      const deadB = await ask(0.2, 60_000);
      assert.ok(deadA.ok && deadB.ok);
      assert.deepEqual(usedAndHeld(deadB.states), [[0.1, 0.8], [0.1, 0.8]]);
      clock.advance(60_000);
      const refused = await ask(0.2);
      assert.ok(!refused.ok, 'alice has 0.1 spent and 0.8 charged of $1');
      assert.deepEqual(refused.blocking.budget, { scope: 'principal', key: 'alice' });
      assert.deepEqual(usedAndHeld(refused.states), [[0.9, 0], [0.9, 0]]);
      await ledger.release(deadA.reservationId);
      const fits = await ask(0.7);
      assert.ok(fits.ok);
      assert.deepEqual(usedAndHeld(fits.states), [[0.3, 0.7], [0.3, 0.7]]);
      await ledger.release(fits.reservationId);
      // May: April's charges stay in April.
      clock.nowMs = at('2026-05-01T00:00:00Z');
      const may = await ask(0.9);
      assert.ok(may.ok);
      assert.deepEqual(usedAndHeld(may.states), [[0, 0.9], [0, 0.9]]);
    });

    it('resets a Gemini-style day at midnight Los Angeles time, DST included', async () => {
      const clock = new ManualClock(at('2026-03-08T07:30:00Z')); // 23:30 PST on 7 March
      const { ledger } = await ledgerAt(clock);
      const la: QuotaRule = { metric: 'requests', window: 'day', limit: 2, reset_tz: 'America/Los_Angeles' };
      for (let i = 0; i < 2; i++) {
        const r = await ledger.reserve({ providerId: 'gemini', rules: [la], amounts: {} });
        assert.ok(r.ok);
        await ledger.settle(r.reservationId, [la], call('gemini'));
      }
      const blocked = await ledger.reserve({ providerId: 'gemini', rules: [la], amounts: {} });
      assert.ok(!blocked.ok);
      assert.equal(new Date(blocked.blocking.resetAtMs).toISOString(), '2026-03-08T08:00:00.000Z');
      clock.nowMs = at('2026-03-08T07:59:59.999Z');
      assert.equal((await ledger.reserve({ providerId: 'gemini', rules: [la], amounts: {} })).ok, false);
      clock.nowMs = at('2026-03-08T08:00:00Z'); // midnight PST: the 23-hour spring day starts
      const fresh = await ledger.reserve({ providerId: 'gemini', rules: [la], amounts: {} });
      assert.ok(fresh.ok);
      assert.equal(fresh.states[0]!.used, 0);
      assert.equal(new Date(fresh.states[0]!.resetAtMs).toISOString(), '2026-03-09T07:00:00.000Z'); // midnight PDT
      await ledger.settle(fresh.reservationId, [la], call('gemini'));
      clock.nowMs = at('2026-03-09T06:59:59Z');
      assert.equal((await ledger.quota('gemini', [la]))[0]!.used, 1);
      clock.nowMs = at('2026-03-09T07:00:00Z');
      assert.equal((await ledger.quota('gemini', [la]))[0]!.used, 0);
    });

    it('raises each threshold event once per window, again in the next window, and respects a custom list', async () => {
      const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
      const { ledger } = await ledgerAt(clock);
      const ten: QuotaRule = { metric: 'requests', window: 'day', limit: 10 };
      const fired: number[][] = [];
      const settleOne = async (l: Ledger) => {
        const r = await l.reserve({ providerId: 'p', rules: [ten], amounts: {} });
        assert.ok(r.ok);
        fired.push((await l.settle(r.reservationId, [ten], call('p'))).events.map((e) => e.threshold));
      };
      for (let i = 0; i < 7; i++) await settleOne(ledger);
      assert.deepEqual(fired.flat(), []);
      await settleOne(ledger); // 8/10
      assert.deepEqual(fired.at(-1), [0.8]);
      // A second process (another instance on the same file) does not repeat 80 %.
      const { ledger: other } = await ledgerAt(clock);
      await settleOne(other); // 9/10
      assert.deepEqual(fired.at(-1), []);
      await settleOne(other); // 10/10: 95 % and 100 % crossed by the same call
      assert.deepEqual(fired.at(-1), [0.95, 1]);
      clock.nowMs = at('2026-04-03T00:00:00Z');
      fired.length = 0;
      for (let i = 0; i < 8; i++) await settleOne(ledger);
      assert.deepEqual(fired.flat(), [0.8]);

      const { ledger: custom } = await ledgerAt(clock, { thresholds: [0.5] });
      const five: QuotaRule = { metric: 'tokens', window: 'month', limit: 1000 };
      const r = await custom.reserve({ providerId: 'c', rules: [five], amounts: { tokens: 600 } });
      assert.ok(r.ok);
      const out = await custom.settle(r.reservationId, [five], call('c', { amounts: { tokens: 600 } }));
      assert.deepEqual(out.events.map((e) => [e.providerId, e.threshold, e.fraction, e.rule.metric]), [['c', 0.5, 0.6, 'tokens']]);
    });

    it('shares cooldowns between processes; the longest wait wins and they lapse with time', async () => {
      const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
      const { ledger: a } = await ledgerAt(clock);
      const { ledger: b } = await ledgerAt(clock);
      await a.setCooldown('gemini/key1', clock.nowMs + 60_000, 'rate limited');
      assert.deepEqual(await b.cooldown('gemini/key1'), { key: 'gemini/key1', untilMs: clock.nowMs + 60_000, reason: 'rate limited' });
      assert.equal(await b.cooldown('gemini/key2'), undefined);
      await assertAvailability(b, 'gemini/key1', 'p');
      await assertAvailability(b, 'gemini/key2', 'p');
      await b.setCooldown('gemini/key1', clock.nowMs + 10_000, 'shorter');
      assert.equal((await a.cooldown('gemini/key1'))!.reason, 'rate limited');
      await b.setCooldown('gemini/key1', clock.nowMs + 120_000, 'key rejected');
      assert.equal((await a.cooldown('gemini/key1'))!.untilMs, clock.nowMs + 120_000);
      clock.advance(120_000);
      assert.equal(await a.cooldown('gemini/key1'), undefined);
      await assertAvailability(a, 'gemini/key1', 'p');
      await a.setCooldown('x', clock.nowMs + 1_000, 'r');
      await a.setCooldown('x', clock.nowMs, 'cleared'); // a time already past clears it
      assert.equal(await b.cooldown('x'), undefined);
    });

    it('opens a circuit after N consecutive failures for every process, half-opens after the timeout, closes on success', async () => {
      const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
      const opts = { circuitFailures: 3, circuitOpenMs: 30_000 };
      const { ledger: a } = await ledgerAt(clock, opts);
      const { ledger: b } = await ledgerAt(clock, opts);
      assert.deepEqual(await a.recordOutcome('p', false), { state: 'closed' });
      assert.deepEqual(await b.recordOutcome('p', false), { state: 'closed' });
      assert.deepEqual(await a.recordOutcome('p', true), { state: 'closed' }); // a success resets the count
      for (let i = 0; i < 2; i++) await a.recordOutcome('p', false);
      assert.deepEqual(await b.circuit('p'), { state: 'closed' });
      const opened = await b.recordOutcome('p', false);
      assert.deepEqual(opened, { state: 'open', untilMs: clock.nowMs + 30_000 });
      assert.deepEqual(await a.circuit('p'), opened);
      assert.deepEqual(await a.circuit('other'), { state: 'closed' });
      await a.setCooldown('k', clock.nowMs + 5_000, 'rate limited');
      await assertAvailability(a, 'k', 'p');
      await assertAvailability(a, 'k', 'other');
      await assertAvailability(a, 'none', 'p');
      clock.advance(30_000);
      assert.deepEqual(await a.circuit('p'), { state: 'half-open' });
      await assertAvailability(a, 'k', 'p');
      // The half-open trial fails: open again at once, for another full period.
      assert.deepEqual(await b.recordOutcome('p', false), { state: 'open', untilMs: clock.nowMs + 30_000 });
      clock.advance(30_000);
      assert.deepEqual(await b.circuit('p'), { state: 'half-open' });
      assert.deepEqual(await a.recordOutcome('p', true), { state: 'closed' });
      assert.deepEqual(await b.circuit('p'), { state: 'closed' });
    });

    it('reconciles with rate-limit headers only when the provider says fewer remain', async () => {
      const clock = new ManualClock(at('2026-04-02T10:00:20Z'));
      const { ledger } = await ledgerAt(clock);
      const rpm: QuotaRule = { metric: 'requests', window: 'minute', limit: 15 };
      const rpd: QuotaRule = { metric: 'requests', window: 'day', limit: 1500 };
      const tpm: QuotaRule = { metric: 'tokens', window: 'minute', limit: 10_000 };
      const tpd: QuotaRule = { metric: 'tokens', window: 'day', limit: 1_000_000 };
      const rules = [rpm, rpd, tpm, tpd];
      const r = await ledger.reserve({ providerId: 'g', rules, amounts: { tokens: 100 } });
      assert.ok(r.ok);
      await ledger.settle(r.reservationId, rules, call('g', { amounts: { requests: 1, tokens: 100 } }));
      // The provider has seen 12 requests this minute (other clients on the same key): trust it.
      await ledger.reconcile('g', rules, { limitRequests: 15, remainingRequests: 3 });
      let states = await ledger.quota('g', rules);
      assert.deepEqual(states.map((s) => s.used), [12, 1, 100, 100]);
      // More left than we think: our stricter count stands.
      await ledger.reconcile('g', rules, { limitRequests: 15, remainingRequests: 14 });
      assert.equal((await ledger.quota('g', [rpm]))[0]!.used, 12);
      // No limit given: the reset time picks the window (30 s → the minute rule, 5 h → the day rule).
      await ledger.reconcile('g', rules, { remainingTokens: 4_000, resetTokensMs: 30_000 });
      await ledger.reconcile('g', rules, { remainingTokens: 900_000, resetTokensMs: 5 * 3_600_000 });
      states = await ledger.quota('g', rules);
      assert.deepEqual(states.map((s) => s.used), [12, 1, 6_000, 100_000]);
      // The adjustment belongs to the window: the next minute starts from zero.
      clock.advance(60_000);
      assert.deepEqual((await ledger.quota('g', rules)).map((s) => s.used), [0, 1, 0, 100_000]);
      // A report for a metric we have no rule for changes nothing (and does not throw).
      await ledger.reconcile('g', [rpd], { remainingTokens: 0 });
    });

    it('records spend and the premium baseline per UTC month for savings reporting', async () => {
      const clock = new ManualClock(at('2026-04-30T23:00:00Z'));
      const { ledger } = await ledgerAt(clock);
      for (const [cost, baseline] of [[0, 0.02], [0.001, 0.03], [0.004, 0.05]] as const) {
        const r = await ledger.reserve({ providerId: 'p', rules: [], amounts: {} });
        assert.ok(r.ok);
        await ledger.settle(r.reservationId, [], call('p', { costUsd: cost, baselineUsd: baseline }));
      }
      const april = await ledger.monthSpend();
      assert.equal(april.month, '2026-04');
      assert.equal(april.calls, 3);
      assert.ok(Math.abs(april.usd - 0.005) < 1e-12);
      assert.ok(Math.abs(april.baselineUsd - 0.1) < 1e-12);
      clock.advance(3_600_000);
      assert.deepEqual(await ledger.monthSpend(), { month: '2026-05', calls: 0, usd: 0, baselineUsd: 0 });
    });

    it('counts a call once when it is settled twice with the same callId', async () => {
      const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
      const { ledger } = await ledgerAt(clock);
      const rules: QuotaRule[] = [{ metric: 'requests', window: 'day', limit: 10 }];
      const r1 = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
      const r2 = await ledger.reserve({ providerId: 'p', rules, amounts: {} });
      assert.ok(r1.ok && r2.ok);
      await ledger.settle(r1.reservationId, rules, call('p', { callId: 'op-1' }));
      const again = await ledger.settle(r2.reservationId, rules, call('p', { callId: 'op-1' }));
      assert.deepEqual(again.events, []);
      assert.deepEqual(again.states.map((s) => [s.used, s.reserved]), [[1, 0]]);
      assert.equal((await ledger.monthSpend()).calls, 1);
    });

    it('runs concurrent changes from one process one at a time, losing none', async () => {
      const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
      const { ledger } = await ledgerAt(clock);
      const { ledger: sibling } = await ledgerAt(clock);
      const rules: QuotaRule[] = [{ metric: 'requests', window: 'day', limit: 30 }];
      const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? ledger : sibling).reserve({ providerId: 'p', rules, amounts: {} })));
      assert.equal(outcomes.filter((o) => o.ok).length, 30);
      const ids = outcomes.flatMap((o) => (o.ok ? [o.reservationId] : []));
      await Promise.all(ids.map((id, i) => (i % 3 ? ledger.settle(id, rules, call('p')) : ledger.release(id))));
      assert.deepEqual((await sibling.quota('p', rules)).map((s) => [s.used, s.reserved]), [[20, 0]]);
    });

    it('rejects a malformed rule with a UserError', async () => {
      const clock = new ManualClock(0);
      const { ledger } = await ledgerAt(clock);
      await assert.rejects(ledger.quota('p', [{ metric: 'requests', window: 'day', limit: 1, reset_tz: 'Nowhere/Land' }]), UserError);
      await assert.rejects(ledger.reserve({ providerId: 'p', rules: [{ metric: 'requests', window: 'week' as 'day', limit: 1 }], amounts: {} }), /window "week"/);
      await assert.rejects(ledger.reserve({ providerId: 'p', rules: [{ metric: 'requests', window: 'day', limit: -1 }], amounts: {} }), /limit/);
    });

    it('holds budgets per principal and team by reservation, names the one that refuses, and counts real cost', async () => {
      const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
      const { ledger } = await ledgerAt(clock);
      const budgets: Budget[] = [{ scope: 'principal', limitUsd: 1, window: 'month' }, { scope: 'team', limitUsd: 1.5, window: 'month' }];
      const alice = { id: 'alice', team: 'red' };
      const bob = { id: 'bob', team: 'red' };
      const ask = (principal: Principal, usd: number) => ledger.reserve({ providerId: 'openai', principal, rules: [], amounts: { usd }, budgets });
      const r1 = await ask(alice, 0.6);
      assert.ok(r1.ok);
      assert.deepEqual(r1.states.map((s) => [s.budget?.scope, s.budget?.key, s.used, s.reserved]), [['principal', 'alice', 0, 0.6], ['team', 'red', 0, 0.6]]);
      // While the first call is in flight its estimate is held: a second one would take alice past $1.
      const r2 = await ask(alice, 0.6);
      assert.ok(!r2.ok);
      assert.deepEqual(r2.blocking.budget, { scope: 'principal', key: 'alice' });
      assert.equal(r2.blocking.rule.limit, 1);
      const r3 = await ask(bob, 0.6);
      assert.ok(r3.ok, 'bob has his own principal budget; the team has 0.3 left');
      const r4 = await ask(bob, 0.35);
      assert.ok(!r4.ok);
      assert.deepEqual(r4.blocking.budget, { scope: 'team', key: 'red' });
      // The call cost less than estimated: the budget counts what it really cost.
      await ledger.settle(r1.reservationId, [], call('openai', { tier: 'paid', costUsd: 0.2, principal: alice }));
      await ledger.release(r3.reservationId);
      const r5 = await ask(alice, 0.8);
      assert.ok(r5.ok);
      assert.deepEqual(r5.states.map((s) => [s.used, s.reserved]), [[0.2, 0.8], [0.2, 0.8]]);
      // A provider budget sees every call to that provider, whoever made it.
      const provider = await ledger.reserve({ providerId: 'openai', rules: [], amounts: { usd: 0.05 }, budgets: [{ scope: 'provider', limitUsd: 0.2, window: 'month' }] });
      assert.ok(!provider.ok);
      assert.deepEqual([provider.blocking.budget, provider.blocking.used], [{ scope: 'provider', key: 'openai' }, 0.2]);
      // A new UTC month starts from zero (r5 expired long ago).
      clock.nowMs = at('2026-05-01T00:00:00Z');
      const may = await ask(alice, 0.9);
      assert.ok(may.ok);
      assert.deepEqual(may.states.map((s) => [s.used, s.reserved]), [[0, 0.9], [0, 0.9]]);
      assert.equal(new Date(may.states[0]!.resetAtMs).toISOString(), '2026-06-01T00:00:00.000Z');
    });

    it('holds the global budget (budget_usd_month) against the whole month\'s spend, calls in flight included', async () => {
      const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
      const { ledger } = await ledgerAt(clock);
      for (let i = 0; i < 3; i++) {
        const r = await ledger.reserve({ providerId: 'openai', rules: [], amounts: {} });
        assert.ok(r.ok);
        await ledger.settle(r.reservationId, [], call('openai', { tier: 'paid', costUsd: 0.3 }));
      }
      const global: Budget[] = [{ scope: 'global', limitUsd: 1, window: 'month' }];
      const tooMuch = await ledger.reserve({ providerId: 'openai', rules: [], amounts: { usd: 0.2 }, budgets: global });
      assert.ok(!tooMuch.ok);
      assert.deepEqual(tooMuch.blocking.budget, { scope: 'global', key: '*' });
      assert.ok(Math.abs(tooMuch.blocking.used - 0.9) < 1e-9);
      const fits = await ledger.reserve({ providerId: 'gemini', rules: [], amounts: { usd: 0.1 }, budgets: global });
      assert.ok(fits.ok);
      assert.equal((await ledger.reserve({ providerId: 'openai', rules: [], amounts: { usd: 0.05 }, budgets: global })).ok, false);
      await ledger.release(fits.reservationId);
      assert.equal((await ledger.reserve({ providerId: 'openai', rules: [], amounts: { usd: 0.05 }, budgets: global })).ok, true);
    });

    it('rejects a malformed budget with a UserError, and skips a principal budget when there is no principal', async () => {
      const { ledger } = await ledgerAt(new ManualClock(at('2026-04-02T10:00:00Z')));
      await assert.rejects(ledger.reserve({ providerId: 'p', rules: [], amounts: {}, budgets: [{ scope: 'planet' as 'team', limitUsd: 1, window: 'month' }] }), UserError);
      await assert.rejects(ledger.reserve({ providerId: 'p', rules: [], amounts: {}, budgets: [{ scope: 'team', limitUsd: -1, window: 'month' }] }), /limitUsd/);
      await assert.rejects(ledger.reserve({ providerId: 'p', rules: [], amounts: {}, budgets: [{ scope: 'team', limitUsd: 1, window: 'week' as 'month' }] }), /window/);
      const anonymous = await ledger.reserve({ providerId: 'p', rules: [], amounts: { usd: 5 }, budgets: [{ scope: 'principal', limitUsd: 1, window: 'month' }] });
      assert.ok(anonymous.ok);
      assert.equal(anonymous.states.length, 0);
    });

  });
}

/** What any other process would see on disk: the snapshot and its log, read with sql.js directly. */
const onDisk = queryOnDisk;

describe('SqlJsLedger files', () => {
  let home: ReturnType<typeof tempHome>;
  const open: Ledger[] = [];
  beforeEach(() => {
    home = tempHome();
  });
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close();
    home.cleanup();
  });
  async function ledgerAt(clock: ManualClock, options = {}) {
    const { ledger, warnings } = await openAt(home.file, clock, options);
    open.push(ledger);
    return { ledger, warnings };
  }

  it('migrates a schema-1 file on load: its calls stay, new calls record principal and team', async () => {
    const SQL = await initSqlJs();
    const v1 = new SQL.Database();
    v1.exec(SCHEMA_V1);
    v1.run("INSERT INTO calls VALUES ('old', ?, 'p', 'm', 'free', NULL, NULL, 1, 1, 1, 0, 0)", [at('2026-04-02T09:00:00Z')]);
    fs.writeFileSync(home.file, v1.export());
    v1.close();
    const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
    const { ledger } = await ledgerAt(clock);
    const r = await ledger.reserve({ providerId: 'p', rules: [], amounts: {} });
    assert.ok(r.ok);
    await ledger.settle(r.reservationId, [], call('p', { callId: 'new', principal: { id: 'alice', team: 'red' } }));
    await ledger.close();
    assert.deepEqual(await onDisk(home.file, 'SELECT id, principal, team FROM calls ORDER BY id'), [['new', 'alice', 'red'], ['old', null, null]]);
    assert.deepEqual(await onDisk(home.file, 'PRAGMA user_version'), [[2]]);
  });

  it('does not rewrite the file for a refused reservation', async () => {
    const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
    const { ledger } = await ledgerAt(clock);
    const one: QuotaRule = { metric: 'requests', window: 'day', limit: 1 };
    assert.ok((await ledger.reserve({ providerId: 'p', rules: [one], amounts: {} })).ok);
    const before = fs.statSync(home.file);
    assert.equal((await ledger.reserve({ providerId: 'p', rules: [one], amounts: {} })).ok, false);
    const after = fs.statSync(home.file);
    assert.deepEqual([after.ino, after.size, after.mtimeMs], [before.ino, before.size, before.mtimeMs], 'a refused reservation must not rewrite the file');
  });

  it('does not rewrite the file for a success on a healthy provider', async () => {
    const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
    const { ledger } = await ledgerAt(clock);
    await ledger.setCooldown('k', clock.nowMs + 1, 'make the file exist');
    const before = fs.statSync(home.file).ino;
    await ledger.recordOutcome('p', true);
    assert.equal(fs.statSync(home.file).ino, before);
  });

  it('is durable and readable by a new process: settled usage is on disk before settle resolves', async () => {
    const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
    const { ledger } = await ledgerAt(clock);
    const rules: QuotaRule[] = [{ metric: 'usd', window: 'month', limit: 5 }];
    const r = await ledger.reserve({ providerId: 'openai', rules, amounts: { usd: 0.5 } });
    assert.ok(r.ok);
    await ledger.settle(r.reservationId, rules, call('openai', { tier: 'paid', costUsd: 0.25, baselineUsd: 0.75, task: 'tests', actor: 'cli', callId: 'c1' }));
    // Straight from the file, without the ledger: the call row, the usage aggregate and the schema version.
    assert.deepEqual(await onDisk(home.file, 'SELECT id, provider, tier, task, actor, cost_usd, baseline_usd FROM calls'), [['c1', 'openai', 'paid', 'tests', 'cli', 0.25, 0.75]]);
    assert.deepEqual(await onDisk(home.file, "SELECT provider, used FROM usage ORDER BY provider"), [['budget:provider:openai', 0.25], ['openai', 0.25]]);
    assert.deepEqual(await onDisk(home.file, 'PRAGMA user_version'), [[2]]);
    const { ledger: later } = await ledgerAt(clock);
    assert.equal((await later.quota('openai', rules))[0]!.used, 0.25);
    // No temp files are left behind.
    assert.deepEqual(ledgerDirNames(home.dir), ['ledger.sqlite']);
  });

  it('keeps the file bounded: old windows and call rows are pruned, totals stay', async function () {
    this.timeout(90_000); // 240 durable reserve+settle pairs: fsync-bound, slow on a busy disk
    const clock = new ManualClock(at('2026-01-01T00:00:00Z'));
    const { ledger } = await ledgerAt(clock, { maxCallRows: 50, callRetentionMs: 20 * 86_400_000 });
    const rules: QuotaRule[] = [
      { metric: 'requests', window: 'minute', limit: 1e9 }, { metric: 'requests', window: 'day', limit: 1e9 },
      { metric: 'tokens', window: 'day', limit: 1e12, reset_tz: 'America/Los_Angeles' }, { metric: 'usd', window: 'month', limit: 1e9 },
    ];
    const sizes: number[] = [];
    for (let day = 0; day < 60; day++) {
      for (let i = 0; i < 4; i++) {
        const r = await ledger.reserve({ providerId: `p${i % 3}`, rules, amounts: {} });
        assert.ok(r.ok);
        await ledger.settle(r.reservationId, rules, call(`p${i % 3}`, { costUsd: 0.01, task: 'x'.repeat(200) }));
        clock.advance(90_000);
      }
      clock.nowMs = at('2026-01-01T00:00:00Z') + (day + 1) * 86_400_000;
      if (day === 29 || day === 59) sizes.push(fs.statSync(home.file).size);
    }
    const calls = Number((await onDisk(home.file, 'SELECT count(*) FROM calls'))[0]![0]);
    // Rows are trimmed in batches of at least 10 over the cap.
    assert.ok(calls >= 50 && calls <= 50 + 10, `call rows ${calls}`);
    const minuteRows = Number((await onDisk(home.file, "SELECT count(*) FROM usage WHERE win = 'minute'"))[0]![0]);
    assert.ok(minuteRows < 100, `minute rows ${minuteRows}`);
    const dayRows = Number((await onDisk(home.file, "SELECT count(*) FROM usage WHERE win = 'day'"))[0]![0]);
    assert.ok(dayRows <= 6 * 42, `day rows ${dayRows}`);
    // Growth between day 30 and day 60 stays small (free pages are reused).
    assert.ok(sizes[1]! <= sizes[0]! * 1.25, `sizes ${sizes}`);
    // Month totals are aggregates, not call rows: April still has all its calls.
    assert.equal((await ledger.monthSpend()).month, '2026-03');
    assert.equal(Number((await onDisk(home.file, "SELECT calls FROM spend WHERE month = '2026-01'"))[0]![0]), 31 * 4);
  });

  it('reads without the lock, and a change waiting on a live holder gives up with a message naming it', async () => {
    const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
    const { ledger } = await ledgerAt(clock, { lock: { acquireTimeoutMs: 300 } });
    await ledger.setCooldown('k', clock.nowMs + 1_000, 'r');
    // A live process (this one, under another token) holds the lock.
    fs.writeFileSync(`${home.file}.lock`, JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), token: 'someone-else', at: Date.now() }));
    assert.equal((await ledger.cooldown('k'))!.reason, 'r');
    assert.equal((await ledger.quota('p', [perDay]))[0]!.used, 0);
    await assert.rejects(ledger.setCooldown('k2', clock.nowMs + 1_000, 'r'), (err: unknown) => err instanceof UserError && err.message.includes(`process ${process.pid}`));
    assert.equal(JSON.parse(fs.readFileSync(`${home.file}.lock`, 'utf8')).token, 'someone-else', 'never removes a live holder\'s lock');
  });

  it('reserveIfAvailable: checks another process\'s cooldown and circuit in the reservation\'s own step, reserving nothing when unavailable', async () => {
    const clock = new ManualClock(at('2026-04-02T10:00:00Z'));
    const options = { circuitFailures: 2, circuitOpenMs: 30_000 };
    const { ledger: a } = await ledgerAt(clock, options);
    const { ledger: b } = await ledgerAt(clock, options);
    const fourADay: QuotaRule = { metric: 'requests', window: 'day', limit: 4 };
    const request = { providerId: 'p', rules: [fourADay], amounts: {} };
    await a.setCooldown('p/key1', clock.nowMs + 60_000, 'rate limited');
    const cooling = await b.reserveIfAvailable(request, 'p/key1');
    assert.deepEqual(cooling, { ok: false, unavailable: { cooldown: { key: 'p/key1', untilMs: clock.nowMs + 60_000, reason: 'rate limited' }, circuit: { state: 'closed' } } });
    assert.equal((await a.quota('p', [fourADay]))[0]!.reserved, 0, 'nothing reserved');
    const otherKey = await b.reserveIfAvailable(request, 'p/key2');
    assert.ok(otherKey.ok && 'reservationId' in otherKey, 'another key is not cooling down');
    assert.equal((await a.quota('p', [fourADay]))[0]!.reserved, 1);
    // A failure counted but the circuit still closed: available. Two failures open it: refused for every process.
    await a.recordOutcome('p', false);
    const settled = await b.settle(otherKey.reservationId, [fourADay], call('p'));
    assert.equal(settled.circuitClean, false, 'a failure is counted: the router must record the success');
    assert.deepEqual(await b.recordOutcome('p', true), { state: 'closed' });
    const clean = await b.reserveIfAvailable(request, 'p/key2');
    assert.ok(clean.ok && 'reservationId' in clean, 'available again');
    assert.equal((await b.settle(clean.reservationId, [fourADay], call('p'))).circuitClean, true, 'nothing to reset');
    assert.equal((await b.settle('no-such-reservation', [fourADay], call('p', { ok: false, callId: 'failed' }))).circuitClean, undefined);
    await a.recordOutcome('p', false);
    await a.recordOutcome('p', false);
    const open = await b.reserveIfAvailable(request, 'p/key2');
    assert.deepEqual(open, { ok: false, unavailable: { circuit: { state: 'open', untilMs: clock.nowMs + 30_000 } } });
    assert.equal((await a.quota('p', [fourADay]))[0]!.reserved, 0);
    // Half-open lets one call try; past the quota, the quota refuses as reserve() does.
    clock.advance(30_001);
    const trial = await b.reserveIfAvailable(request, 'p/key2');
    assert.ok(trial.ok, 'half-open: one call may try');
    const full = await b.reserveIfAvailable(request, 'p/key2');
    assert.ok(!full.ok && 'blocking' in full, 'the quota refuses (3 used, 1 held)');
    assert.equal(full.blocking.rule, fourADay);
  });
});
