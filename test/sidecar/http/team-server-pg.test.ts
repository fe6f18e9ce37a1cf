/**
 * Two team-server replicas (real processes, separate SWITCHBOARD_HOMEs) on ONE real PostgreSQL ledger: a team
 * budget is held by reservation in the shared database, so calls through both replicas together never spend
 * more than it, and either replica reports the same team spend.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startFakeProviderServer, type FakeProviderServer } from '../../fakes/provider-server';
import { pgDescribe, usePostgres } from '../../support/postgres';
import { buildOnce, makeScratch, textOf, type Scratch } from '../helpers';
import { serverEnv, startTeamServer, waitFor, writeTokensFile, type TeamServer } from './helpers';

const TOKENS = {
  probe: 'sbt_probe_' + 'p'.repeat(32),
  ann: 'sbt_ann_' + 'a'.repeat(32),
  ben: 'sbt_ben_' + 'b'.repeat(32),
};
// The router estimates ~chars/4 input tokens plus max_tokens output: 495 chars and 30 tokens hold a little more
// than the fake's real 120+30 tokens, so 4 calls fit a budget of 4.5 calls' real cost and a fifth never does.
const SYSTEM = 'Document it.';
const PROMPT = 'document this module '.repeat(23);
const MAX_TOKENS = 30;
const CALL = { task: 'docs', system: SYSTEM, prompt: PROMPT, max_tokens: MAX_TOKENS };

interface Budgets { budgets: Array<{ scope: string; id: string; used_usd: number; limit_usd: number; left_usd: number }> }

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'replica-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

async function teamBudget(client: Client): Promise<Budgets['budgets'][number] | undefined> {
  const q = await client.callTool({ name: 'quota_status', arguments: {} });
  assert.notEqual(q.isError, true, textOf(q));
  return (q.structuredContent as Budgets).budgets.find((b) => b.scope === 'team');
}

pgDescribe('team server: two replicas on one PostgreSQL ledger', function () {
  this.timeout(300_000);
  const pg = usePostgres().server;
  const scratches: Scratch[] = [];
  const servers: TeamServer[] = [];
  const clients: Client[] = [];
  let fake: FakeProviderServer;

  before(() => buildOnce());
  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    for (const s of servers) await s.stop();
    await fake?.close();
    for (const s of scratches) s.cleanup();
  });

  it('shares a team budget: calls through both replicas never exceed it, and both report the same team spend', async () => {
    fake = await startFakeProviderServer({ reply: { text: 'SHARED', usage: { inputTokens: 120, outputTokens: 30 } } });
    const ledgerUrl = await pg().createDatabase('team');
    for (let i = 0; i < 2; i++) scratches.push(makeScratch({ sample: false }));
    const tokensFile = path.join(scratches[0]!.root, 'secrets', 'tokens.json');
    const writeTokens = (teamBudgetUsd: number) => writeTokensFile(tokensFile, [
      { id: 'probe', token: TOKENS.probe, team: 'probe' },
      { id: 'ann', token: TOKENS.ann, team: 'shared' },
      { id: 'ben', token: TOKENS.ben, team: 'shared' },
    ], { teams: [{ id: 'shared', budget_usd_month: teamBudgetUsd }], defaults: { rpm: 10_000 } });
    writeTokens(1000);
    for (const scratch of scratches) {
      servers.push(await startTeamServer(serverEnv(scratch, fake, { SWITCHBOARD_TOKENS_FILE: tokensFile, SWITCHBOARD_LEDGER_URL: ledgerUrl })));
    }
    const [a, b] = servers as [TeamServer, TeamServer];

    // One call's real cost, paid by a team without a budget.
    const probe = await connect(a.mcpUrl, TOKENS.probe);
    clients.push(probe);
    const first = await probe.callTool({ name: 'delegate', arguments: CALL });
    assert.notEqual(first.isError, true, textOf(first));
    const callCost = (first.structuredContent as { cost_usd: number }).cost_usd;
    assert.ok(callCost > 0);

    // Room for a few calls, not for all of them.
    const budget = Number((callCost * 4.5).toPrecision(6));
    writeTokens(budget);
    const ann = await connect(a.mcpUrl, TOKENS.ann);
    const ben = await connect(b.mcpUrl, TOKENS.ben);
    clients.push(ann, ben);
    for (const client of [ann, ben]) {
      await waitFor(async () => ((await teamBudget(client))?.limit_usd === budget ? true : undefined), 'both replicas to load the new team budget');
    }

    const calls = Array.from({ length: 16 }, (_, i) => (i % 2 ? ben : ann).callTool({ name: 'delegate', arguments: CALL }));
    const results = await Promise.all(calls);
    const ok = results.filter((r) => r.isError !== true);
    const refused = results.filter((r) => r.isError === true);
    const spent = ok.reduce((sum, r) => sum + (r.structuredContent as { cost_usd: number }).cost_usd, 0);
    assert.equal(ok.length, 4, `four calls fit the budget: ${results.map(textOf).join(' | ')}`);
    assert.ok(spent <= budget + 1e-9, `spent $${spent} of a $${budget} team budget`);
    for (const r of refused) assert.match(textOf(r), /openai: over the team budget of "shared"/);

    const seenByA = await teamBudget(ann);
    const seenByB = await teamBudget(ben);
    assert.deepEqual(seenByA, seenByB, 'both replicas read the same shared counters');
    assert.equal(seenByA!.id, 'shared');
    assert.ok(Math.abs(seenByA!.used_usd - spent) < 1e-9, `team spend ${seenByA!.used_usd} = the calls' cost ${spent}`);

    // The spent budget now refuses on either replica.
    const after = await ben.callTool({ name: 'delegate', arguments: CALL });
    assert.equal(after.isError, true);
    assert.match(textOf(after), /over the team budget of "shared"/);
    assert.equal(fake.requests.filter((r) => r.route === 'openai').length, 1 + ok.length, 'refused calls never reached the provider');
  });
});
