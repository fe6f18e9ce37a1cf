/** JSON configuration files go through JSON.parse; values, key lines and diagnostics stay what yaml gave. */
import assert from 'node:assert/strict';
import { LineCounter, parse as parseYaml, parseDocument } from 'yaml';
import { parseJsonFast } from '../../../src/core/config/json-fast';
import { parseStructuredText } from '../../../src/core/config/structured-file';

const servers = JSON.stringify({ mcpServers: { alpha: { command: 'a', args: ['x', 'y'] }, 'b"eta': { url: 'http://127.0.0.1:1/mcp' }, 'gam\u00e9': { command: 'g' } }, other: [{ k: 1 }] }, null, 2);

describe('JSON fast path', () => {
  it('gives the value yaml gives and each key at the line yaml has it', () => {
    const fast = parseJsonFast(servers)!;
    assert.ok(fast, 'plain JSON takes the fast path');
    assert.deepStrictEqual(fast.value, parseYaml(servers));
    const parsed = parseStructuredText('s.json', servers);
    const lc = new LineCounter();
    const doc = parseDocument(servers, { lineCounter: lc });
    for (const name of ['alpha', 'b"eta', 'gamé']) {
      const pair = (doc.getIn(['mcpServers'], true) as { items: Array<{ key: { value: string; range: number[] } }> }).items.find((p) => p.key.value === name)!;
      assert.equal(parsed.lineOf(['mcpServers', name]), lc.linePos(pair.key.range[0]!).line, name);
    }
    assert.equal(parsed.lineOf(['other', 0, 'k']), servers.split('\n').findIndex((l) => l.includes('"k"')) + 1, 'a key inside a list');
  });

  it('escaped keys are compared decoded: "\\u0061" and "a" are the same key', () => {
    assert.equal(parseJsonFast('{"a": 1, "\\u0061": 2}'), undefined);
    const r = parseStructuredText('dup.json', '{\n  "a": 1,\n  "\\u0061": 2\n}\n');
    assert.equal(r.value, undefined);
    assert.deepEqual(r.diagnostics.map((d) => [d.line, d.severity]), [[3, 'error']]);
    assert.match(r.diagnostics[0]!.message, /unique/i);
  });

  it('duplicate keys at any depth are an error at the duplicate, as they always were', () => {
    const text = '{\n  "mcpServers": {\n    "x": {"command": "a"},\n    "x": {"command": "b"}\n  }\n}\n';
    const r = parseStructuredText('.mcp.json', text);
    assert.equal(r.value, undefined);
    assert.deepEqual(r.diagnostics.map((d) => d.line), [4]);
  });

  it('a .json file written as YAML, or broken JSON, still goes to the YAML path', () => {
    assert.equal(parseJsonFast('mcpServers:\n  a:\n    command: x\n'), undefined);
    assert.deepEqual(parseStructuredText<{ mcpServers: unknown }>('.mcp.json', 'mcpServers:\n  a:\n    command: x\n').value, { mcpServers: { a: { command: 'x' } } });
    assert.equal(parseJsonFast('{"a": [1,}'), undefined);
  });

  it('strings holding quotes, backslashes and braces do not confuse the key scan', () => {
    const text = '{"a": "x\\\\", "b": "{\\"c\\": [1]}", "d": {"e": "]"}}';
    const fast = parseJsonFast(text)!;
    assert.deepEqual(fast.value, { a: 'x\\', b: '{"c": [1]}', d: { e: ']' } });
    assert.deepEqual([...fast.keyOffsets.keys()], ['["a"]', '["b"]', '["d"]', '["d","e"]']);
    assert.equal(fast.depth, 2);
  });
});
