import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DelegationLog, INDEX_FILE, KEY_FILE, type UsageReport } from '../../../src/core/report';

const REPO = path.resolve(__dirname, '../../..');
const PROVIDERS = ['groq', 'gemini', 'cerebras', undefined];
// Costs whose float sums depend on the order they are added in: index + tail must still equal a full parse.
const COSTS = [0.1, 0.2, 0.3, 1e-7, 0.0003, 0.07, 1 / 3];

function delegation(i: number, over: Record<string, unknown> = {}): string {
  const provider = PROVIDERS[i % PROVIDERS.length];
  return JSON.stringify({
    time: new Date(Date.parse('2026-01-01T00:00:00Z') + i * 3_700_000).toISOString(), actor: 'mcp', op: 'delegate', task: i % 2 ? 'tests' : 'docs',
    provider, model: provider ? 'm' : undefined, input_tokens: 100 + i, output_tokens: 50, cost_usd: COSTS[i % COSTS.length], baseline_usd: COSTS[(i + 3) % COSTS.length]! * 2,
    outcome: provider ? 'ok' : 'error', path: `src/f${i}.ts`, backup_id: `b${i}`, ...(i % 5 === 0 ? { verified: 'failed', verification: { passed: false, summary: `exit 1: case ${i}` } } : {}), ...over,
  }) + '\n';
}

function lines(from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i++) out += delegation(i) + (i % 3 === 0 ? JSON.stringify({ time: '2026-01-01T00:00:00.000Z', op: 'read', path: 'x' }) + '\n' : '');
  return out;
}

describe('core/report: the report index (reuse, invalidation, forged and concurrent indexes)', function () {
  this.timeout(120_000);
  let dir: string;
  let file: string;
  let index: string;
  let home: string;
  const withIndex = () => new DelegationLog(file, { home, indexAfterBytes: 0 });
  /** The reference: a reader that never looks at an index. */
  const fullParse = (options = {}): UsageReport => new DelegationLog(file).report(options);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-report-index-'));
    file = path.join(dir, 'audit.jsonl');
    index = path.join(dir, INDEX_FILE);
    home = path.join(dir, 'home');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Writes the log and a genuine index covering all of it. */
  function indexed(text = lines(0, 400)): void {
    fs.writeFileSync(file, text);
    withIndex().report();
    assert.ok(fs.existsSync(index), 'the first report writes the index');
  }

  it('a new reader takes the totals from the index and parses nothing: the report equals a full parse, to the last bit', () => {
    indexed();
    const cold = withIndex();
    const report = cold.report({ limit: 500 });
    assert.equal(cold.bytesFromIndex, fs.statSync(file).size);
    assert.deepEqual(report, fullParse({ limit: 500 }));
    assert.equal(report.totals.calls, 300);
    assert.equal(report.history.find((h) => h.seq === 395)!.verified, 'failed');
    assert.equal(report.history.find((h) => h.seq === 395)!.check, 'exit 1: case 395');
    // Same figures the naive way: the fixed summing order changes nothing a user sees.
    let spend = 0;
    for (let i = 0; i < 400; i++) if (PROVIDERS[i % 4]) spend += COSTS[i % COSTS.length]!;
    assert.equal(report.totals.spendUsd, Math.round(spend * 1e6) / 1e6);
    for (const since of ['2026-01-05', '2026-01-05T13:30:00Z', '2027-01-01']) assert.deepEqual(withIndex().report({ since, limit: 7 }), fullParse({ since, limit: 7 }), since);
  });

  it('counts lines appended after the index, a partial last line once it is finished, and pages past the indexed rows', () => {
    indexed(lines(0, 900));
    const tail = lines(900, 960);
    fs.appendFileSync(file, tail + delegation(960).slice(0, 40));
    const cold = withIndex();
    assert.deepEqual(cold.report({ limit: 20 }), fullParse({ limit: 20 }));
    assert.ok(cold.bytesFromIndex > 0);
    assert.equal(cold.report().totals.calls, fullParse().totals.calls);
    fs.appendFileSync(file, delegation(960).slice(40));
    assert.deepEqual(cold.report({ limit: 3 }), fullParse({ limit: 3 }));
    // Every page, older than the 501 rows the index holds too.
    let cursor: string | undefined;
    const fresh = withIndex();
    const seen: number[] = [];
    do {
      const page = fresh.report({ limit: 200, cursor });
      assert.deepEqual(page, fullParse({ limit: 200, cursor }));
      seen.push(...page.history.map((h) => h.seq));
      cursor = page.nextCursor;
    } while (cursor);
    assert.equal(seen.length, 961);
    assert.ok(fresh.bytesFromIndex > 0, 'older pages were read backwards, not by a full parse');
  });

  it('pages older than the indexed rows are read backwards: the same rows and seqs as a full parse, across long lines and reads', () => {
    const text = lines(0, 150) + '{"op":"delegate","time":"2026-01-03T00:00:00Z","task":"' + 'é'.repeat(20_000) + '"}\n' + lines(150, 300)
      + 'x'.repeat(60_000) + '\n' + delegation(300, { task: '√'.repeat(400) }) + lines(301, 800);
    // The log ends inside a line too long to be ours: the index covers it half-way, skipping.
    fs.writeFileSync(file, text + 'y'.repeat(60_000));
    withIndex().report();
    assert.deepEqual(new DelegationLog(file, { chunkBytes: 997 }).report({ limit: 500 }), fullParse({ limit: 500 }), 'small reads parse the same');
    for (const chunkBytes of [997, 64 * 1024]) {
      const reader = new DelegationLog(file, { home, chunkBytes });
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = reader.report({ limit: 37, cursor });
        assert.deepEqual(page, fullParse({ limit: 37, cursor }), `page ${pages}, reads of ${chunkBytes}`);
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      assert.equal(pages, Math.ceil(800 / 37));
      assert.ok(reader.bytesFromIndex > 0, 'no full parse');
      const since = new DelegationLog(file, { home, chunkBytes });
      const first = since.report({ since: '2026-01-02', limit: 400 });
      assert.deepEqual(first, fullParse({ since: '2026-01-02', limit: 400 }));
      const second = since.report({ since: '2026-01-02', limit: 400, cursor: first.nextCursor });
      assert.deepEqual(second, fullParse({ since: '2026-01-02', limit: 400, cursor: first.nextCursor }));
      assert.ok(second.history.length > 300 && second.history.at(-1)!.time >= '2026-01-02');
      assert.ok(since.bytesFromIndex > 0);
      assert.deepEqual(new DelegationLog(file, { home, chunkBytes }).report({ since: '2026-01-02T05:00:00Z', limit: 500 }), fullParse({ since: '2026-01-02T05:00:00Z', limit: 500 }));
    }
  });

  it('gives the same answer wherever reads stopped: long lines, multi-byte text, an index written mid-line', () => {
    const pieces = [lines(0, 10), '{"op":"delegate","task":"' + 'é'.repeat(20_000), '"}\n', delegation(10, { task: '√'.repeat(400) }), lines(11, 29), delegation(29, { time: '+010000-01-01T00:00:00Z' }), 'x'.repeat(60_000), '\n', lines(30, 40)];
    fs.writeFileSync(file, '');
    for (const piece of pieces) {
      // Appended in small writes, an index written after each: offsets land inside long lines and characters.
      for (let at = 0; at < piece.length; at += 7_001) {
        fs.appendFileSync(file, piece.slice(at, at + 7_001));
        withIndex().report();
      }
    }
    const cold = withIndex();
    assert.deepEqual(cold.report({ limit: 500 }), fullParse({ limit: 500 }));
    assert.equal(cold.bytesFromIndex, fs.statSync(file).size);
    assert.equal(fullParse().totals.calls + fullParse().history.filter((h) => !h.provider).length, 40);
  });

  it('a truncated, rewritten, rotated or trimmed log invalidates the index: the report is a full parse', () => {
    const original = lines(0, 300);
    const cases: Array<[string, () => void]> = [
      ['truncated', () => fs.truncateSync(file, Math.floor(original.length / 2))],
      ['rewritten in place, same length', () => fs.writeFileSync(file, original.replace('"cost_usd":0.2,', '"cost_usd":9.2,'))],
      ['rewritten in place and grown', () => fs.writeFileSync(file, original.replace('"task":"docs"', '"task":"DOCS"') + lines(300, 310))],
      ['rotated', () => {
        fs.renameSync(file, file + '.1');
        fs.writeFileSync(file, lines(500, 900));
      }],
      ['trimmed of its oldest lines, then grown', () => fs.writeFileSync(file, original.slice(original.indexOf('\n', 5_000) + 1) + lines(300, 400))],
    ];
    for (const [name, change] of cases) {
      indexed(original);
      const before = fullParse();
      change();
      const cold = withIndex();
      assert.deepEqual(cold.report({ limit: 500 }), fullParse({ limit: 500 }), name);
      assert.equal(cold.bytesFromIndex, 0, `${name}: the index is not used`);
      if (name !== 'rewritten in place and grown') assert.notDeepEqual(cold.report().totals, before.totals, `${name}: the figures changed with the log`);
    }
  });

  it('a forged or broken index is ignored without an error: wrong totals, another key, past EOF, garbage, huge, a link, a folder', () => {
    indexed();
    const genuine = fs.readFileSync(index, 'utf8');
    const truth = fullParse({ limit: 500 });
    const body = genuine.slice(genuine.indexOf('\n') + 1);
    const state = JSON.parse(body) as { offset: number; buckets: Array<[string, Array<[string, number, number, number, number]>]>; rows: unknown[] };
    const inflated = { ...state, buckets: state.buckets.map(([day, ps]) => [day, ps.map(([id, r, c, s, b]) => [id, r, c, s * 100, b])]) };
    const hmac = (key: Buffer, text: string) => crypto.createHmac('sha256', key).update(text).digest('hex');
    const realKey = Buffer.from(fs.readFileSync(path.join(home, KEY_FILE), 'utf8'), 'hex');
    const forgeries: Array<[string, () => void]> = [
      ['inflated totals, old MAC', () => fs.writeFileSync(index, genuine.slice(0, 65) + JSON.stringify(inflated))],
      ['inflated totals, MAC under the forger\'s key', () => fs.writeFileSync(index, hmac(crypto.randomBytes(32), JSON.stringify(inflated)) + '\n' + JSON.stringify(inflated))],
      ['inflated totals, a plain SHA-256 for a MAC', () => fs.writeFileSync(index, crypto.createHash('sha256').update(JSON.stringify(inflated)).digest('hex') + '\n' + JSON.stringify(inflated))],
      // Signed with the real key (only a bug could do that): the checks on the log and on the fields still hold.
      ['offset past the end, signed', () => fs.writeFileSync(index, hmac(realKey, JSON.stringify({ ...state, offset: state.offset + 10 })) + '\n' + JSON.stringify({ ...state, offset: state.offset + 10 }))],
      ['garbage JSON, signed', () => fs.writeFileSync(index, hmac(realKey, '{"v":1,') + '\n{"v":1,')],
      ['rows out of order, signed', () => {
        const text = JSON.stringify({ ...state, rows: [...state.rows].reverse() });
        fs.writeFileSync(index, hmac(realKey, text) + '\n' + text);
      }],
      ['random bytes', () => fs.writeFileSync(index, crypto.randomBytes(5000))],
      ['empty', () => fs.writeFileSync(index, '')],
      ['huge', () => fs.writeFileSync(index, genuine + ' '.repeat(5 * 1024 * 1024))],
      ['a symbolic link to a genuine index elsewhere', () => {
        const elsewhere = path.join(dir, 'elsewhere');
        fs.mkdirSync(elsewhere, { recursive: true });
        fs.writeFileSync(path.join(elsewhere, 'audit.jsonl'), fs.readFileSync(file));
        fs.writeFileSync(path.join(elsewhere, INDEX_FILE), genuine);
        fs.symlinkSync(path.join(elsewhere, INDEX_FILE), index);
      }],
      ['a folder', () => fs.mkdirSync(index)],
    ];
    for (const [name, forge] of forgeries) {
      fs.rmSync(index, { recursive: true, force: true });
      forge();
      const cold = new DelegationLog(file, { home });
      assert.deepEqual(cold.report({ limit: 500 }), truth, name);
      assert.equal(cold.bytesFromIndex, 0, `${name}: not used`);
    }
    // A planted link is replaced, never written through.
    fs.rmSync(index, { recursive: true, force: true });
    const target = path.join(dir, 'elsewhere', INDEX_FILE);
    fs.symlinkSync(target, index);
    const before = fs.readFileSync(target);
    withIndex().report();
    assert.deepEqual(fs.readFileSync(target), before);
    assert.equal(fs.lstatSync(index).isSymbolicLink(), false);
    const again = new DelegationLog(file, { home });
    assert.deepEqual(again.report({ limit: 500 }), truth);
    assert.ok(again.bytesFromIndex > 0, 'the index written in its place is used');
  });

  it('an index from another user (another home, another key) is not used', () => {
    indexed();
    const other = new DelegationLog(file, { home: path.join(dir, 'other-home') });
    assert.deepEqual(other.report(), fullParse());
    assert.equal(other.bytesFromIndex, 0);
  });

  it('two processes writing the index at once leave a valid index or none, and no temp files', async () => {
    fs.writeFileSync(file, lines(0, 200));
    const script = path.join(dir, 'writer.ts');
    fs.writeFileSync(script, [
      `import fs from 'node:fs';`,
      `import { DelegationLog } from ${JSON.stringify(path.join(REPO, 'src/core/report'))};`,
      `const [file, home, tag] = process.argv.slice(2);`,
      `for (let i = 0; i < 60; i++) {`,
      `  fs.appendFileSync(file, JSON.stringify({ time: new Date(Date.UTC(2026, 2, 1, 0, i)).toISOString(), op: 'delegate', task: tag, provider: tag, cost_usd: 0.1 * i, baseline_usd: 1 }) + '\\n');`,
      `  new DelegationLog(file, { home, indexAfterBytes: 0 }).report();`,
      `}`,
    ].join('\n'));
    const run = (tag: string) => new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, file, home, tag], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
      child.on('exit', resolve);
    });
    const writers = Promise.all([run('alpha'), run('beta')]);
    // Meanwhile, a reader never fails and never sees fewer delegations than were there to begin with.
    let checks = 0;
    let done = false;
    void writers.then(() => (done = true));
    while (!done) {
      const report = new DelegationLog(file, { home }).report({ limit: 500 });
      assert.ok(report.history.length + report.totals.calls >= 200 + 150);
      checks++;
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(await writers, [0, 0]);
    assert.ok(checks > 0);
    // Afterwards the index left is whole, signed and agrees with the log.
    const last = new DelegationLog(file, { home });
    assert.deepEqual(last.report({ limit: 500 }), fullParse({ limit: 500 }));
    assert.equal(last.report().totals.calls, 150 + 120);
    assert.ok(last.bytesFromIndex > 0, 'the surviving index is one of the writers\' and is used');
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('tmp')), []);
  });
});
