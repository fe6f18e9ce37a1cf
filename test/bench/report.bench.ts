/**
 * The usage report on a year of history: 50,000 delegations in the audit log (with reads and writes between
 * them, as a real log has). First report in a process (`cold`), two ways:
 *  - `cold_first_ever`: no report index yet — a fresh reader parses the whole log, builds the report and
 *    writes the index;
 *  - `cold_with_index`: the index covers all but the last 100 delegations — a fresh reader checks the index
 *    (HMAC, SHA-256 of the covered bytes), parses the tail, builds the report.
 * `cold_with_index_older_page`: the same, asking for a page older than the index's 501 rows (read backwards).
 * `warm`: one delegation appended, only it is parsed, then the report (every later report in a process).
 * References, same run: reading the same file into memory (`readFileSync`) — the floor for any cold parse — and
 * reading and hashing it (SHA-256) — the floor for checking an index against the log.
 * Goal: ≤ 100 ms for cold-with-index and warm.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatAuditLine } from '../../src/core/files/audit';
import assert from 'node:assert/strict';
import { DelegationLog, INDEX_FILE } from '../../src/core/report';
import { ratio, summary, time } from './stats';

const DELEGATIONS = 50_000;
const PROVIDERS = ['groq', 'gemini', 'cerebras', 'mistral', 'ollama'];

function delegationLine(i: number, start: number): string {
  return formatAuditLine({
    time: new Date(start + i * 630_000).toISOString(), actor: 'claude-code', op: 'delegate', task: i % 3 ? 'tests' : 'docs', agent: 'test-writer',
    provider: PROVIDERS[i % PROVIDERS.length], model: 'llama-3.3-70b', cost_usd: (i % 7) * 0.0001, input_tokens: 1200 + (i % 500), output_tokens: 800,
    baseline_usd: 0.0156, call_id: `c${i}`, path: `src/module${i % 300}.test.ts`, backup_id: `b${i.toString(16)}`, bytes: 2048, outcome: 'ok',
  });
}

export async function run(): Promise<object> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-report-'));
  const file = path.join(dir, 'audit.jsonl');
  try {
    const start = Date.parse('2025-12-01T00:00:00Z');
    const parts: string[] = [];
    for (let i = 0; i < DELEGATIONS; i++) {
      parts.push(delegationLine(i, start));
      if (i % 2 === 0) parts.push(formatAuditLine({ actor: 'claude-code', op: 'read', path: `src/module${i % 300}.ts`, bytes: 4096, outcome: 'ok' }));
    }
    fs.writeFileSync(file, parts.join(''));
    const bytes = fs.statSync(file).size;

    const home = path.join(dir, 'home');
    const index = path.join(dir, INDEX_FILE);
    const readOnly = await time(8, () => fs.readFileSync(file), 2);
    // The floor for checking an index: the covered bytes read and hashed.
    const readAndHash = await time(8, () => crypto.createHash('sha256').update(fs.readFileSync(file)).digest(), 2);
    const firstEver = await time(8, () => {
      fs.rmSync(index, { force: true });
      return new DelegationLog(file, { home }).report({ limit: 50 });
    }, 2);
    let n = DELEGATIONS;
    // The tail the index does not cover: fewer bytes than a reader waits for before rewriting the index.
    for (let i = 0; i < 100; i++) fs.appendFileSync(file, delegationLine(n++, start));
    const withIndex = await time(8, () => new DelegationLog(file, { home }).report({ limit: 50 }), 2);
    // A page older than the index's rows (the 13th of 50): read backwards from the oldest row held.
    const deepCursor = String(n - 600);
    const deepPage = await time(8, () => new DelegationLog(file, { home }).report({ limit: 50, cursor: deepCursor }), 2);
    assert.deepEqual(new DelegationLog(file, { home }).report({ limit: 50, cursor: deepCursor }), new DelegationLog(file).report({ limit: 50, cursor: deepCursor }));
    // Same figures as a full parse (a reader with no index), exactly.
    const fromIndex = new DelegationLog(file, { home });
    assert.deepEqual(fromIndex.report({ limit: 50 }), new DelegationLog(file).report({ limit: 50 }));
    assert.ok(fromIndex.bytesFromIndex > 0, 'the cold-with-index runs used the index');
    const log = new DelegationLog(file, { home });
    log.report();
    const warm = await time(200, () => {
      fs.appendFileSync(file, delegationLine(n++, start));
      return log.report({ limit: 50 });
    });
    const check = log.report({ limit: 50 });
    if (check.totals.calls !== n) throw new Error(`report counted ${check.totals.calls} delegations, expected ${n}`);
    const first = summary(firstEver);
    const c = summary(withIndex);
    const d = summary(deepPage);
    const w = summary(warm);
    const r = summary(readOnly);
    const h = summary(readAndHash);
    return {
      delegations: DELEGATIONS,
      log_mb: Math.round((bytes / 1e6) * 10) / 10,
      index_kb: Math.round(fs.statSync(index).size / 1024),
      report_cold_first_ever: first,
      report_cold_with_index: c,
      report_cold_with_index_older_page: d,
      report_warm: w,
      reference_read_file: r,
      reference_read_and_sha256: h,
      cold_first_ever_vs_read_file_p50: ratio(first.p50_ms, r.p50_ms),
      cold_with_index_vs_read_file_p50: ratio(c.p50_ms, r.p50_ms),
      cold_with_index_vs_read_and_sha256_p50: ratio(c.p50_ms, h.p50_ms),
      warm_vs_read_file_p50: ratio(w.p50_ms, r.p50_ms),
      goal_ms: 100,
      cold_with_index_within_goal: c.p50_ms <= 100,
      warm_within_goal: w.p99_ms <= 100,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
