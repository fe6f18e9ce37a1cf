import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildReport, DelegationLog, parseSince } from '../../../src/core/report';

function line(over: Record<string, unknown>): string {
  return JSON.stringify({ time: '2026-11-01T10:00:00.000Z', actor: 'mcp', op: 'delegate', task: 'tests', provider: 'groq', model: 'llama', input_tokens: 100, output_tokens: 50, cost_usd: 0.001, baseline_usd: 0.01, outcome: 'ok', ...over }) + '\n';
}

describe('core/report: the audit log read incrementally, and the usage report', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-report-'));
    file = path.join(dir, 'audit.jsonl');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps delegations only, parses appended lines on refresh, and waits for a line to be finished', () => {
    fs.writeFileSync(file, line({}) + JSON.stringify({ time: '2026-11-01T10:00:01.000Z', op: 'write', path: 'a.ts' }) + '\n');
    const log = new DelegationLog(file);
    assert.equal(log.allRows().length, 1);
    const half = line({ time: '2026-11-02T10:00:00.000Z', cost_usd: 0.002 });
    fs.appendFileSync(file, half.slice(0, 30));
    assert.equal(log.allRows().length, 1, 'a partial line is not parsed');
    fs.appendFileSync(file, half.slice(30));
    const rows = log.allRows();
    assert.equal(rows.length, 2);
    assert.equal(rows[1]!.costUsd, 0.002);
    assert.deepEqual(rows.map((r) => r.seq), [0, 1]);
  });

  it('starts over when the file is replaced by a shorter one', () => {
    fs.writeFileSync(file, line({}) + line({}) + line({}));
    const log = new DelegationLog(file);
    assert.equal(log.allRows().length, 3);
    fs.writeFileSync(file, line({ task: 'docs' }));
    const rows = log.allRows();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.task, 'docs');
  });

  it('treats hostile lines as noise: bad JSON, wrong types, negative or huge amounts, endless lines', () => {
    const hostile = [
      '{"op":"delegate", not json',
      JSON.stringify({ op: 'delegate', time: 'yesterday', cost_usd: 1 }),
      line({ cost_usd: -5, baseline_usd: 'lots', input_tokens: 1e300, task: { evil: true }, provider: 'x'.repeat(5000) }).trimEnd(),
      '{"op":"delegate","time":"2026-11-01T00:00:00Z","task":"' + 'A'.repeat(40_000) + '"}',
      '[1,2,3]',
      'null',
    ].join('\n') + '\n';
    fs.writeFileSync(file, hostile);
    const rows = new DelegationLog(file).allRows();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.costUsd, 0);
    assert.equal(rows[0]!.baselineUsd, 0, 'a missing baseline counts as the cost: no invented savings');
    assert.equal(rows[0]!.inputTokens, 0);
    assert.equal(rows[0]!.task, '');
    assert.equal(rows[0]!.provider!.length, 512);
  });

  it('a missing file is an empty history', () => {
    assert.deepEqual(new DelegationLog(path.join(dir, 'none.jsonl')).allRows(), []);
  });

  it('totals spend, baseline and savings overall, per provider and per day; history newest first, paged by cursor', () => {
    fs.writeFileSync(file, [
      line({ time: '2026-11-01T10:00:00.000Z', provider: 'groq', cost_usd: 0.001, baseline_usd: 0.01 }),
      line({ time: '2026-11-01T11:00:00.000Z', provider: 'gemini', cost_usd: 0, baseline_usd: 0.02 }),
      line({ time: '2026-11-02T09:00:00.000Z', provider: 'groq', cost_usd: 0.003, baseline_usd: 0.002 }),
      line({ time: '2026-11-02T09:30:00.000Z', provider: undefined, model: undefined, cost_usd: undefined, outcome: 'error' }),
      line({ time: '2026-11-03T09:00:00.000Z', provider: 'groq', cost_usd: 0.002, baseline_usd: 0.03, path: 'a.test.ts', backup_id: 'b1' }),
    ].join(''));
    const rows = new DelegationLog(file).allRows();
    const first = buildReport(rows, { limit: 2 });
    assert.deepEqual(first.history.map((r) => r.time.slice(0, 13)), ['2026-11-03T09', '2026-11-02T09']);
    assert.equal(first.history[1]!.outcome, 'error');
    assert.deepEqual(first.totals, { calls: 4, spendUsd: 0.006, baselineUsd: 0.062, savedUsd: 0.056 });
    assert.deepEqual(first.providers.map((p) => [p.id, p.calls, p.spendUsd]), [['groq', 3, 0.006], ['gemini', 1, 0]]);
    assert.deepEqual(first.days.map((d) => [d.day, d.calls, d.spendUsd, d.baselineUsd, d.savedUsd]), [
      ['2026-11-01', 2, 0.001, 0.03, 0.029],
      ['2026-11-02', 1, 0.003, 0.002, 0],
      ['2026-11-03', 1, 0.002, 0.03, 0.028],
    ]);
    assert.ok(first.nextCursor);
    const second = buildReport(rows, { limit: 2, cursor: first.nextCursor });
    assert.deepEqual(second.history.map((r) => r.time.slice(0, 13)), ['2026-11-02T09', '2026-11-01T11']);
    const third = buildReport(rows, { limit: 2, cursor: second.nextCursor });
    assert.equal(third.history.length, 1);
    assert.equal(third.nextCursor, undefined);
    // A cursor stays valid after new delegations are appended.
    fs.appendFileSync(file, line({ time: '2026-11-04T00:00:00.000Z' }));
    const grown = new DelegationLog(file).allRows();
    assert.deepEqual(buildReport(grown, { limit: 2, cursor: first.nextCursor }).history.map((r) => r.seq), [2, 1]);
  });

  it('--since keeps later delegations only; bad dates and cursors are a clear error', () => {
    fs.writeFileSync(file, line({ time: '2026-10-31T23:59:59.000Z' }) + line({ time: '2026-11-01T00:00:00.000Z' }));
    const report = buildReport(new DelegationLog(file).allRows(), { since: '2026-11-01' });
    assert.equal(report.totals.calls, 1);
    assert.equal(report.history.length, 1);
    assert.equal(parseSince('2026-11-01T12:00:00+01:00'), '2026-11-01T11:00:00.000Z');
    assert.throws(() => parseSince('last tuesday'), /not a date/);
    assert.throws(() => parseSince('2026-11-01' + ' '.repeat(100)), /not a date/);
    assert.throws(() => buildReport([], { cursor: '../../etc' }), /cursor/);
  });
});
