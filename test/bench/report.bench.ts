/**
 * The usage report on a year of history: 50,000 delegations in the audit log (with reads and writes between
 * them, as a real log has). `cold`: a fresh reader parses the whole log and builds the report (first report in
 * a process); `warm`: one delegation appended, only it is parsed, then the report (every later report).
 * Reference, same run: reading the same file into memory (`readFileSync`) — the floor for any cold parse.
 * Goal: ≤ 100 ms both ways.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatAuditLine } from '../../src/core/files/audit';
import { buildReport, DelegationLog } from '../../src/core/report';
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

    const readOnly = await time(8, () => fs.readFileSync(file), 2);
    const cold = await time(8, () => buildReport(new DelegationLog(file).refresh(), { limit: 50 }), 2);
    const log = new DelegationLog(file);
    log.refresh();
    let n = DELEGATIONS;
    const warm = await time(200, () => {
      fs.appendFileSync(file, delegationLine(n++, start));
      return buildReport(log.refresh(), { limit: 50 });
    });
    const check = buildReport(log.refresh(), { limit: 50 });
    if (check.totals.calls !== n) throw new Error(`report counted ${check.totals.calls} delegations, expected ${n}`);
    const c = summary(cold);
    const w = summary(warm);
    const r = summary(readOnly);
    return {
      delegations: DELEGATIONS,
      log_mb: Math.round((bytes / 1e6) * 10) / 10,
      report_cold: c,
      report_warm: w,
      reference_read_file: r,
      cold_vs_read_file_p50: ratio(c.p50_ms, r.p50_ms),
      goal_ms: 100,
      cold_within_goal: c.p50_ms <= 100,
      warm_within_goal: w.p99_ms <= 100,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
