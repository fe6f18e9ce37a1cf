/**
 * The stdio transport's direct lane (src/sidecar/direct-tool-calls.ts): plain tool calls answered without the
 * SDK must get exactly what the SDK path gives, everything else must still reach the SDK, and cancellation,
 * output checking and the shared-text serialisation must hold.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { SidecarContext } from '../../src/sidecar/context';
import { DirectToolCalls, serializeToolResponse } from '../../src/sidecar/direct-tool-calls';
import { defineTool } from '../../src/sidecar/tools/tool';
import { buildOnce, makeScratch, type Scratch } from './helpers';
import { RawSidecar } from './raw-sidecar';

const TRICKY = 'line "one"\n\ttab \\ back\u2028sep \u00e9 \ud83d\ude00 <script>\u001b end\n'.repeat(200);

describe('sidecar stdio: the direct lane for plain tool calls', function () {
  this.timeout(60_000);
  let scratch: Scratch;
  let raw: RawSidecar;

  before(() => buildOnce());
  beforeEach(async () => {
    scratch = makeScratch();
    raw = new RawSidecar(scratch);
    await raw.initialize();
  });
  afterEach(async () => {
    await raw.stop();
    scratch.cleanup();
  });

  const call = (id: string, params: Record<string, unknown>) => raw.write(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params }) + '\n');
  const lineOf = async (id: string) => {
    await raw.waitFor((r) => r.id === id);
    return raw.lines.find((l) => JSON.parse(l).id === id)!;
  };

  it('answers a plain read_file itself, with exactly the result the SDK path gives', async () => {
    fs.writeFileSync(path.join(scratch.workspace, 'tricky.md'), TRICKY);
    await call('lane', { name: 'read_file', arguments: { path: 'tricky.md' } });
    // A field the lane does not know (the SDK drops it): the SDK answers this one.
    await call('sdk', { name: 'read_file', arguments: { path: 'tricky.md' }, unknownField: true });
    const lane = await lineOf('lane');
    const sdk = await lineOf('sdk');
    // Who answered shows in the key order: the lane writes jsonrpc first, the SDK result first.
    assert.match(lane, /^\{"jsonrpc":"2\.0","id":"lane","result":/);
    assert.match(sdk, /^\{"result":/);
    const laneResult = JSON.parse(lane).result as CallToolResult;
    assert.deepEqual(laneResult, JSON.parse(sdk).result);
    assert.equal((laneResult.content[0] as { text: string }).text, TRICKY);
    assert.equal((laneResult.structuredContent as { content: string }).content, TRICKY);
  });

  it('takes calls shaped like Claude Code\'s (its own _meta keys beside a progress token), not a task\'s', async () => {
    fs.writeFileSync(path.join(scratch.workspace, 'cc.md'), 'from claude code\n');
    await call('cc', { name: 'read_file', arguments: { path: 'cc.md' }, _meta: { 'claudecode/toolUseId': 'toolu_01', progressToken: 7 } });
    await call('task', { name: 'read_file', arguments: { path: 'cc.md' }, _meta: { 'io.modelcontextprotocol/related-task': { taskId: 't1' } } });
    assert.match(await lineOf('cc'), /^\{"jsonrpc":"2\.0","id":"cc","result":.*from claude code/);
    assert.doesNotMatch(await lineOf('task'), /^\{"jsonrpc"/, 'a task-related call is the SDK\'s');
  });

  it('masks a key-shaped file name in the result, in the lane as on the SDK path', async () => {
    const token = 'ghp_' + 'R4nd0mT0k3n'.repeat(4);
    fs.writeFileSync(path.join(scratch.workspace, `notes-${token}.md`), 'plain text\n');
    await call('lane', { name: 'read_file', arguments: { path: `notes-${token}.md` } });
    await call('sdk', { name: 'read_file', arguments: { path: `notes-${token}.md` }, unknownField: 1 });
    const lane = await lineOf('lane');
    assert.ok(!lane.includes(token), 'the token never leaves');
    const result = JSON.parse(lane).result as CallToolResult;
    assert.match((result.structuredContent as { path: string }).path, /^notes-.*REDACTED.*\.md$/);
    assert.deepEqual(result, JSON.parse(await lineOf('sdk')).result);
  });

  it('gives a denied read the same isError result both ways', async () => {
    await call('lane', { name: 'read_file', arguments: { path: '.env' } });
    await call('sdk', { name: 'read_file', arguments: { path: '.env' }, unknownField: 1 });
    const lane = JSON.parse(await lineOf('lane')).result as CallToolResult;
    assert.equal(lane.isError, true);
    assert.match((lane.content[0] as { text: string }).text, /forbidden/);
    assert.deepEqual(lane, JSON.parse(await lineOf('sdk')).result);
  });

  it('leaves bad arguments, unknown tools and odd requests to the SDK, which answers them as before', async () => {
    await call('bad-args', { name: 'read_file', arguments: { path: 5 } });
    await call('unknown', { name: 'no_such_tool', arguments: {} });
    await call('proto', { name: '__proto__', arguments: {} });
    await raw.write(JSON.stringify({ jsonrpc: '2.0', id: 'array-args', method: 'tools/call', params: { name: 'read_file', arguments: ['x'] } }) + '\n');
    for (const id of ['bad-args', 'unknown', 'proto']) {
      const line = await lineOf(id);
      assert.match(line, /^\{"result":/, `${id} went to the SDK`);
      assert.equal((JSON.parse(line).result as CallToolResult).isError, true, id);
    }
    assert.match(JSON.stringify(JSON.parse(await lineOf('bad-args')).result), /Input validation error/);
    assert.match(JSON.stringify(JSON.parse(await lineOf('unknown')).result), /no_such_tool not found/);
    const arrayArgs = JSON.parse(await lineOf('array-args'));
    assert.ok(arrayArgs.error || arrayArgs.result?.isError, 'array arguments are refused');
    // And the session still serves plain calls through the lane.
    fs.writeFileSync(path.join(scratch.workspace, 'after.md'), 'still here\n');
    await call('after', { name: 'read_file', arguments: { path: 'after.md' } });
    assert.match(await lineOf('after'), /^\{"jsonrpc":"2\.0","id":"after","result":.*still here/);
  });
});

describe('sidecar: DirectToolCalls in process', function () {
  this.timeout(30_000);
  let scratch: Scratch;
  let sidecar: SidecarContext;
  const lines: string[] = [];
  const reply = { sendLine: async (line: string) => void lines.push(line) };

  beforeEach(() => {
    scratch = makeScratch({ sample: false });
    sidecar = new SidecarContext({ workspace: scratch.workspace, workspaceExplicit: true, env: { SWITCHBOARD_HOME: scratch.switchboardHome, HOME: scratch.home }, log: () => {} });
    sidecar.setClientRoots(undefined);
    lines.length = 0;
  });
  afterEach(async () => {
    await sidecar.close();
    scratch.cleanup();
  });

  const echo = defineTool({
    name: 'echo',
    description: 'test tool',
    input: { n: z.number(), wrong: z.boolean().default(false) },
    output: { n: z.number() },
    async run(args) {
      return { text: String(args.n), structured: (args.wrong ? { n: 'not a number' } : { n: args.n }) as { n: number } };
    },
  });
  let release: (() => void) | undefined;
  const waiting = defineTool({
    name: 'waiting',
    description: 'waits until released or aborted',
    input: {},
    output: { done: z.boolean() },
    async run(_args, { signal }) {
      await new Promise<void>((resolve) => {
        release = resolve;
        signal.addEventListener('abort', () => resolve());
      });
      return { text: 'done', structured: { done: !signal.aborted } };
    },
  });
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(cond());
  };

  it('checks the structured result against the output schema, as the SDK does', async () => {
    const lane = new DirectToolCalls(sidecar, [echo]);
    assert.equal(lane.take({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { n: 3 } } }, reply), true);
    assert.equal(lane.take({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { n: 4, wrong: true } } }, reply), true);
    await until(() => lines.length === 2);
    const byId = new Map(lines.map((l) => [JSON.parse(l).id, JSON.parse(l).result]));
    assert.deepEqual(byId.get(1), { content: [{ type: 'text', text: '3' }], structuredContent: { n: 3 } });
    assert.equal(byId.get(2).isError, true);
    assert.match(byId.get(2).content[0].text, /Output validation error/);
    assert.equal(byId.get(2).structuredContent, undefined, 'a result that does not fit is never sent');
  });

  it('declines what it cannot vouch for (nothing is run)', () => {
    const lane = new DirectToolCalls(sidecar, [echo]);
    const declined = [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { n: 'x' } } },
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { n: 1 }, task: {} } },
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { n: 1 }, _meta: { progressToken: {} } } },
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { n: 1 }, _meta: [] } },
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { n: 1 }, requestState: 'x' } },
      { jsonrpc: '2.0', id: null, method: 'tools/call', params: { name: 'echo', arguments: { n: 1 } } },
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { n: 1 } }, extra: 1 },
      { jsonrpc: '1.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { n: 1 } } },
      { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'toString', arguments: {} } },
      JSON.parse('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"__proto__":{"n":1}}}}'),
    ];
    for (const message of declined) assert.equal(lane.take(message, reply), false, JSON.stringify(message));
    assert.deepEqual(lines, []);
  });

  it('a cancelled call answers nobody and its tool sees the abort; a reused id while running goes to the SDK', async () => {
    const lane = new DirectToolCalls(sidecar, [waiting]);
    const request = { jsonrpc: '2.0', id: 'w', method: 'tools/call', params: { name: 'waiting', arguments: {} } };
    release = undefined;
    assert.equal(lane.take(request, reply), true);
    await until(() => release !== undefined);
    assert.equal(lane.take(request, reply), false, 'the same id while the first runs');
    lane.cancel('w');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(lines, []);
    // The id is free again, and a call left to finish is answered.
    release = undefined;
    assert.equal(lane.take(request, reply), true);
    await until(() => release !== undefined);
    release!();
    await until(() => lines.length === 1);
    assert.deepEqual(JSON.parse(lines[0]!).result.structuredContent, { done: true });
  });

  it('close() aborts what is still running', async () => {
    const lane = new DirectToolCalls(sidecar, [waiting]);
    lane.take({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'waiting', arguments: {} } }, reply);
    lane.close();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(lines, []);
  });
});

describe('sidecar: serializeToolResponse', () => {
  const cases: Array<[string, CallToolResult]> = [
    ['a long text repeated in the structured result', { content: [{ type: 'text', text: TRICKY }], structuredContent: { path: 'a', content: TRICKY, n: 1, nested: { content: TRICKY }, gone: undefined } }],
    ['a long text with a note block', { content: [{ type: 'text', text: TRICKY }, { type: 'text', text: '[partial]' }], structuredContent: { content: TRICKY, partial: true } }],
    ['a short text', { content: [{ type: 'text', text: 'hi' }], structuredContent: { content: 'hi' } }],
    ['no structured result', { content: [{ type: 'text', text: TRICKY }], isError: true }],
    ['a text block with annotations', { content: [{ type: 'text', text: TRICKY, annotations: { priority: 1 } }], structuredContent: { content: TRICKY } }],
    ['a lone surrogate', { content: [{ type: 'text', text: 'a\ud800b'.repeat(600) }], structuredContent: { content: 'a\ud800b'.repeat(600) } }],
  ];
  for (const [name, result] of cases) {
    it(`is JSON.stringify's message for ${name}`, () => {
      const line = serializeToolResponse('id-1', result);
      assert.deepEqual(JSON.parse(line), JSON.parse(JSON.stringify({ jsonrpc: '2.0', id: 'id-1', result })));
      assert.ok(!line.includes('\n'), 'one line');
    });
  }
});
