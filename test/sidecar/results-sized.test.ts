/**
 * Results sized for the client (Claude Code caps an MCP result at about 25k tokens): read_file reads a line range
 * and says when it returned part of a file; a delegate answer too long for one result is saved under
 * .switchboard/answers/ and only its head comes back, with the path. The built sidecar over real stdio, the fake
 * provider behind the real router; SWITCHBOARD_MAX_RESULT_CHARS makes the limit small enough to test.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { delegateDescriptor, readFileDescriptor, readToolResult, ToolCallError } from '../../src/sidecar/protocol';
import { lineRange } from '../../src/sidecar/tools/read-file';
import { startFakeProviderServer, type FakeProviderServer } from '../fakes/provider-server';
import { buildOnce, connectSidecar, makeScratch, type Connected, type Scratch } from './helpers';

const LIMIT = 2_000;
const FAKE_KEY = 'tgp_v1_' + 'r'.repeat(40);

describe('results sized for the client', function () {
  this.timeout(60_000);
  let scratch: Scratch;
  let fake: FakeProviderServer;
  let s: Connected;
  const lines = Array.from({ length: 500 }, (_, i) => `line ${i + 1} ${'x'.repeat(20)}`);

  before(async () => {
    buildOnce();
    fake = await startFakeProviderServer({ reply: { text: 'short', usage: { inputTokens: 10, outputTokens: 5 } } });
    scratch = makeScratch();
    fs.writeFileSync(path.join(scratch.workspace, 'long.txt'), lines.join('\n') + '\n');
    s = await connectSidecar(scratch, {
      env: { SWITCHBOARD_TOGETHER_BASE_URL: fake.baseUrl('together'), TOGETHER_API_KEY: FAKE_KEY, SWITCHBOARD_MAX_RESULT_CHARS: String(LIMIT) },
    });
  });
  after(async () => {
    await s?.close();
    await fake?.close();
    scratch?.cleanup();
  });

  const read = async (args: Record<string, unknown>) => readToolResult(readFileDescriptor, await s.client.callTool({ name: 'read_file', arguments: args }));

  it('read_file returns a whole small file, not marked partial', async () => {
    const r = await read({ path: 'src/slugify.ts' });
    const whole = fs.readFileSync(path.join(scratch.workspace, 'src', 'slugify.ts'), 'utf8');
    assert.equal(r.structured.content, whole);
    assert.equal(r.structured.partial, false);
    assert.equal(r.structured.start_line, 1);
    assert.equal(r.structured.end_line, r.structured.total_lines);
    assert.equal(r.notes, '');
  });

  it('read_file with start_line/end_line returns exactly those lines and says it is part of the file', async () => {
    const r = await read({ path: 'long.txt', start_line: 10, end_line: 12 });
    assert.equal(r.text, lines.slice(9, 12).join('\n') + '\n');
    assert.deepEqual([r.structured.start_line, r.structured.end_line, r.structured.total_lines, r.structured.partial], [10, 12, 500, true]);
    assert.match(r.notes, /partial: lines 10-12 of 500 .*continue with start_line 13/);
    // bytes and sha256 describe the whole file, so a client can tell whether it changed between reads.
    assert.equal(r.structured.bytes, fs.statSync(path.join(scratch.workspace, 'long.txt')).size);
  });

  it('read_file of a file too long for one result stops at a whole line within the limit and says where to go on', async () => {
    const r = await read({ path: 'long.txt' });
    assert.ok(r.structured.partial);
    assert.ok(r.text.length <= LIMIT && r.text.length > LIMIT / 2, String(r.text.length));
    assert.ok(r.text.endsWith('\n'), 'cut at a line end');
    const end = r.structured.end_line;
    assert.equal(r.text, lines.slice(0, end).join('\n') + '\n');
    const next = await read({ path: 'long.txt', start_line: end + 1 });
    assert.equal(next.structured.start_line, end + 1);
    assert.ok(next.text.startsWith(`line ${end + 1} `));
  });

  it('read_file refuses a range past the end or backwards, as a plain tool error', async () => {
    await assert.rejects(read({ path: 'long.txt', start_line: 501 }), (e: unknown) => e instanceof ToolCallError && /past the end: the file has 500 line/.test(e.message));
    await assert.rejects(read({ path: 'long.txt', start_line: 5, end_line: 4 }), (e: unknown) => e instanceof ToolCallError && /before start_line/.test(e.message));
  });

  it('a delegate answer too long for the client is saved in .switchboard/answers and its head returned with the path', async () => {
    const answer = Array.from({ length: 400 }, (_, i) => `answer line ${i + 1}`).join('\n') + '\n';
    fake.setReply({ text: answer, usage: { inputTokens: 10, outputTokens: 3000 } });
    const r = readToolResult(delegateDescriptor, await s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'Document everything.' } }));
    const answerPath = r.structured.answer_path;
    assert.ok(answerPath, 'answer_path is set');
    assert.match(answerPath, /^\.switchboard\/answers\/[^/]+\.md$/);
    assert.equal(fs.readFileSync(path.join(scratch.workspace, answerPath), 'utf8'), answer, 'the whole answer, unchanged');
    assert.ok(r.text.length < LIMIT, `the result text is short (${r.text.length})`);
    assert.ok(r.text.startsWith('answer line 1\n'), 'it starts with the head of the answer');
    assert.ok(r.text.includes(answerPath));
    assert.equal(fs.readFileSync(path.join(scratch.workspace, '.switchboard', '.gitignore'), 'utf8'), '*\n', '.switchboard stays out of git');
  });

  it('a short delegate answer comes back whole, with no answer_path', async () => {
    fake.setReply({ text: 'SHORT ANSWER', usage: { inputTokens: 10, outputTokens: 5 } });
    const r = readToolResult(delegateDescriptor, await s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'Document briefly.' } }));
    assert.equal(r.text, 'SHORT ANSWER');
    assert.equal(r.structured.answer_path, undefined);
  });

  it('refuses to spill through a .switchboard/answers that is a link out of the workspace', async () => {
    const outside = path.join(scratch.root, 'outside');
    fs.mkdirSync(outside);
    const answers = path.join(scratch.workspace, '.switchboard', 'answers');
    fs.rmSync(answers, { recursive: true, force: true });
    fs.symlinkSync(outside, answers);
    try {
      fake.setReply({ text: 'y'.repeat(LIMIT * 2), usage: { inputTokens: 10, outputTokens: 3000 } });
      await assert.rejects(
        s.client.callTool({ name: 'delegate', arguments: { task: 'docs', prompt: 'Long.' } }).then((w) => readToolResult(delegateDescriptor, w)),
        (e: unknown) => e instanceof ToolCallError && /not a plain folder inside the workspace/.test(e.message),
      );
      assert.deepEqual(fs.readdirSync(outside), [], 'nothing written outside');
    } finally {
      fs.rmSync(answers, { force: true });
    }
  });
});

describe('lineRange', () => {
  it('counts lines with and without a final newline; an empty file has none', () => {
    assert.deepEqual(lineRange('a\nb\n', undefined, undefined), { content: 'a\nb\n', start: 1, end: 2, total: 2, partial: false });
    assert.deepEqual(lineRange('a\nb', 2, undefined), { content: 'b', start: 2, end: 2, total: 2, partial: true });
    assert.deepEqual(lineRange('', undefined, undefined), { content: '', start: 0, end: 0, total: 0, partial: false });
    assert.deepEqual(lineRange('a\nb\nc\n', 2, 99), { content: 'b\nc\n', start: 2, end: 3, total: 3, partial: true });
  });

  it('a single line longer than the limit is cut to the limit and marked partial', () => {
    const r = lineRange('x'.repeat(50) + '\nnext\n', undefined, undefined, 10);
    assert.deepEqual(r, { content: 'x'.repeat(10), start: 1, end: 1, total: 2, partial: true });
  });
});
