/**
 * Robustness of the built sidecar's stdio transport: raw bytes written to the child's stdin, one bad frame at a
 * time, each followed by a `ping` that must still be answered. Where a request id can be recovered from the bad
 * frame, the error reply must carry it.
 */
import assert from 'node:assert/strict';
import { buildOnce, makeScratch, type Scratch } from './helpers';
import { RawSidecar } from './raw-sidecar';

const CAP = 64 * 1024;

interface Case {
  name: string;
  frame: string | Buffer;
  /** Expected error reply: its id and code; undefined = no reply expected (a notification). */
  expect?: { id: string | number | null; code: number } | { id: string | number; isErrorResult: true } | { id: string | number; result: true };
}

function describeExpectation(c: Case): string {
  if (!c.expect) return 'no reply';
  if ('code' in c.expect) return `error ${c.expect.code}, id ${JSON.stringify(c.expect.id)}`;
  return 'result' in c.expect ? `a result, id ${c.expect.id}` : `isError result, id ${c.expect.id}`;
}

const big = 'A'.repeat(CAP + 10);
const CASES: Case[] = [
  { name: 'invalid JSON', frame: '{bad json\n', expect: { id: null, code: -32700 } },
  { name: 'truncated JSON with a recoverable id', frame: '{"jsonrpc":"2.0","id":5,"method":"ping"\n', expect: { id: 5, code: -32700 } },
  { name: 'truncated JSON with a string id', frame: '{"jsonrpc":"2.0","id":"abc","method":"tools/call","params":{"name":\n', expect: { id: 'abc', code: -32700 } },
  { name: 'invalid UTF-8 bytes', frame: Buffer.from([0xff, 0xfe, 0x7b, 0x0a]), expect: { id: null, code: -32700 } },
  { name: 'a JSON string instead of an object', frame: '"hello"\n', expect: { id: null, code: -32600 } },
  { name: 'a number', frame: '42\n', expect: { id: null, code: -32600 } },
  { name: 'null', frame: 'null\n', expect: { id: null, code: -32600 } },
  { name: 'an empty batch', frame: '[]\n', expect: { id: null, code: -32600 } },
  { name: 'a batch (answered per request id)', frame: '[{"jsonrpc":"2.0","id":11,"method":"ping"}]\n', expect: { id: 11, code: -32600 } },
  { name: 'wrong jsonrpc version', frame: '{"jsonrpc":"1.0","id":12,"method":"ping"}\n', expect: { id: 12, code: -32600 } },
  { name: 'no jsonrpc member', frame: '{"id":13,"method":"ping"}\n', expect: { id: 13, code: -32600 } },
  { name: 'neither method nor result', frame: '{"jsonrpc":"2.0","id":14}\n', expect: { id: 14, code: -32600 } },
  { name: 'method of the wrong type', frame: '{"jsonrpc":"2.0","id":15,"method":7}\n', expect: { id: 15, code: -32600 } },
  { name: 'id of the wrong type', frame: '{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}\n', expect: { id: null, code: -32600 } },
  { name: 'params that are not an object', frame: '{"jsonrpc":"2.0","id":16,"method":"tools/call","params":"nope"}\n', expect: { id: 16, code: -32600 } },
  { name: 'unknown method', frame: '{"jsonrpc":"2.0","id":17,"method":"no/such/method"}\n', expect: { id: 17, code: -32601 } },
  { name: 'unknown tool', frame: '{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":"nope","arguments":{}}}\n', expect: { id: 18, isErrorResult: true } },
  { name: 'wrong argument type', frame: '{"jsonrpc":"2.0","id":19,"method":"tools/call","params":{"name":"read_file","arguments":{"path":7}}}\n', expect: { id: 19, isErrorResult: true } },
  { name: 'missing required argument', frame: '{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"a.md"}}}\n', expect: { id: 20, isErrorResult: true } },
  { name: 'arguments of the wrong type', frame: '{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"read_file","arguments":[1,2]}}\n', expect: { id: 21, code: -32602 } },
  { name: 'resources/read with a number uri', frame: '{"jsonrpc":"2.0","id":22,"method":"resources/read","params":{"uri":5}}\n', expect: { id: 22, code: -32602 } },
  { name: 'a notification of an unknown method (never answered)', frame: '{"jsonrpc":"2.0","method":"notifications/whatever"}\n' },
  { name: 'a malformed notification (never answered)', frame: '{"jsonrpc":"2.0","method":"notifications/x","params":5}\n' },
  { name: 'a blank line', frame: '\n' },
  { name: 'a response to nothing', frame: '{"jsonrpc":"2.0","id":999,"result":{}}\n' },
  { name: 'deep nesting (valid, answered)', frame: `{"jsonrpc":"2.0","id":23,"method":"ping","params":{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}}\n`, expect: { id: 23, result: true } },
  { name: 'oversized frame, id first', frame: `{"jsonrpc":"2.0","id":24,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"x.md","content":"${big}"}}}\n`, expect: { id: 24, code: -32600 } },
  { name: 'oversized frame, id after the payload', frame: `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"write_file","arguments":{"path":"x.md","content":"${big}"}},"id":25}\n`, expect: { id: null, code: -32600 } },
  { name: 'oversized frame without any newline for a while (many chunks)', frame: `{"jsonrpc":"2.0","id":26,"method":"ping","params":{"pad":"${'B'.repeat(CAP * 4)}"}}\n`, expect: { id: 26, code: -32600 } },
  { name: 'oversized garbage', frame: Buffer.concat([Buffer.alloc(CAP * 2, 0x00), Buffer.from('\n')]), expect: { id: null, code: -32600 } },
];

describe('sidecar stdio: malformed frames each get an answer and the session keeps serving', function () {
  this.timeout(60_000);
  let scratch: Scratch;
  let raw: RawSidecar;

  before(async () => {
    buildOnce();
    scratch = makeScratch({ sample: false });
    raw = new RawSidecar(scratch, { SWITCHBOARD_MAX_FRAME_BYTES: String(CAP) });
    await raw.initialize();
  });
  after(async () => {
    await raw?.stop();
    scratch?.cleanup();
  });

  for (const c of CASES) {
    it(`${c.name} → ${describeExpectation(c)}, then ping answers`, async () => {
      const since = raw.replies.length;
      await raw.write(c.frame);
      const got = await raw.ping(since, c.expect?.id);
      if (!c.expect) {
        assert.deepEqual(got, [], `no reply expected, got ${JSON.stringify(got)}`);
        return;
      }
      const expect = c.expect;
      assert.equal(got.length, 1, `exactly one reply, got ${JSON.stringify(got).slice(0, 500)}`);
      const reply = got[0]!;
      assert.equal(reply.jsonrpc, '2.0');
      assert.deepEqual(reply.id, expect.id);
      if ('code' in expect) {
        assert.equal(reply.error?.code, expect.code, JSON.stringify(reply));
        assert.ok(reply.error.message.length > 0 && reply.error.message.length < 500 && !reply.error.message.includes('\n'), 'a short plain message');
      } else if ('result' in expect) {
        assert.ok(reply.result !== undefined, JSON.stringify(reply));
      } else {
        assert.equal((reply.result as { isError?: boolean }).isError, true, JSON.stringify(reply));
      }
    });
  }

  it('a frame written one byte at a time, and CRLF line endings, are served', async () => {
    const frame = JSON.stringify({ jsonrpc: '2.0', id: 'slow', method: 'ping' }) + '\r\n';
    for (const ch of frame) await raw.write(ch);
    const r = await raw.waitFor((x) => x.id === 'slow');
    assert.deepEqual(r.result, {});
  });

  it('several frames in one write are all served in order', async () => {
    const frames = [1, 2, 3].map((n) => JSON.stringify({ jsonrpc: '2.0', id: `multi-${n}`, method: 'ping' })).join('\n') + '\n';
    await raw.write(frames);
    for (const n of [1, 2, 3]) await raw.waitFor((x) => x.id === `multi-${n}`);
  });

  it('stdout carried only JSON-RPC frames; the process is still alive; problems were logged on stderr', () => {
    assert.deepEqual(raw.junk, []);
    assert.equal(raw.child.exitCode, null);
    assert.match(raw.stderr, /rejected a \d+-byte frame/);
  });
});

describe('sidecar stdio: the default frame cap', function () {
  this.timeout(60_000);
  it('a 30 MB frame is refused with its id and the session keeps serving', async () => {
    buildOnce();
    const scratch = makeScratch({ sample: false });
    const raw = new RawSidecar(scratch);
    try {
      await raw.initialize();
      await raw.write(`{"jsonrpc":"2.0","id":"huge","method":"ping","params":{"pad":"${'C'.repeat(30 * 1024 * 1024)}"}}\n`);
      const reply = await raw.waitFor((r) => r.id === 'huge', 30_000);
      assert.equal(reply.error?.code, -32600);
      assert.match(reply.error.message, /too large/);
      await raw.ping();
    } finally {
      await raw.stop();
      scratch.cleanup();
    }
  });
});
