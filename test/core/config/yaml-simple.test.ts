/**
 * The simple-YAML fast path must give exactly what the yaml library gives, or decline. Checked on hand-picked
 * edge cases and on thousands of generated documents built from the pieces most likely to differ.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { LineCounter, isMap, isScalar, parse as parseYaml, parseDocument, type Node as YamlNode } from 'yaml';
import { parseSimpleYaml } from '../../../src/core/config/yaml-simple';
import { parseStructuredText } from '../../../src/core/config/structured-file';

/** What yaml says, or 'error'. */
function reference(text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) return 'error';
  return doc.toJS();
}

/** Every key's position by path, as yaml's document has it. */
function referenceKeyPositions(text: string): Map<string, { line: number; col: number }> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const out = new Map<string, { line: number; col: number }>();
  const walk = (node: unknown, at: string[]) => {
    if (!isMap(node)) return;
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const p = [...at, key];
      out.set(JSON.stringify(p), lc.linePos((pair.key as YamlNode).range![0]));
      walk(pair.value, p);
    }
  };
  walk(doc.contents, []);
  return out;
}

/** The fast path agrees with yaml, or declines; returns whether it answered. */
function agrees(text: string): boolean {
  const fast = parseSimpleYaml(text);
  if (!fast) return false;
  const ref = reference(text);
  assert.notEqual(ref, 'error', `fast path accepted what yaml rejects: ${JSON.stringify(text)}`);
  assert.deepStrictEqual(fast.value, ref, `values differ for ${JSON.stringify(text)}`);
  assert.deepStrictEqual(fast.keyPositions, referenceKeyPositions(text), `key positions differ for ${JSON.stringify(text)}`);
  return true;
}

describe('simple YAML fast path', () => {
  it('reads the usual agent file and front matter itself, with the same value and key positions as yaml', () => {
    const agent = fs.readFileSync(path.resolve(__dirname, '../../../media/sample-workspace/.agents/core/ai-engineer.yaml'), 'utf8');
    assert.ok(agrees(agent), 'ai-engineer.yaml takes the fast path');
    assert.ok(agrees('\nname: code-reviewer\ndescription: Reviews diffs: finds bugs\ntools: Read, Grep, Glob\nmodel: opus\n'.replace(': finds', ' - finds')));
    assert.ok(agrees('a: b # why\nc: "d"  # quoted\ne:   # nothing\n  f: 1 #\n'), 'comments after values');
    assert.ok(agrees('---\nname: x\ntools:\n  - Read\n  - Grep\n'.slice(4)), 'front matter with a tools list');
    assert.ok(agrees('metadata:\n  id: a\n  version: 1.2.0\nruntime:\n  memory_requirement: 128MB\n  fallback_models: [sonnet, haiku]\n  n: 42\n  f: 1.50\n  flag: true\n  nothing: ~\n  empty:\nimplementation:\n  source: |\n    line one\n\n    line three\n'));
  });

  it('types plain scalars as yaml does (core schema)', () => {
    for (const v of ['1', '-1', '+1', '0o17', '0x1F', '1.5', '1.', '.5', '1e3', '-1.5e-3', '.inf', '-.Inf', '.nan', 'true', 'False', 'TRUE', 'null', 'Null', '~', 'yes', 'no', 'on', '1.2.3', '128MB', '0777', '08', '1_000', 'C#', 'a, b', 'a]b', 'x:y', '12345678901234567890']) {
      assert.ok(agrees(`k: ${v}\n`), v);
      assert.ok(agrees(`k: [${v === 'a, b' ? 'a' : v}]\n`) || v.includes(':') || v.includes(']') || v.includes('#'), `[${v}]`);
    }
  });

  it('declines what it does not read exactly, and the full parser still answers', () => {
    const declined = [
      'a: &x 1\nb: *x\n', 'a: !!str 1\n', 'a:\n  - x: 1\n', 'a:\n  - - x\n', 'a:\n  -\n', 'a:\n  - x\n    more\n', '- x\n', 'a: [x] # comment\n', 'a: | # c\n  x\n', 'a:\tb\n', 'a: b\r\n', '"a": 1\n',
      'a: b\n  continued\n', 'a: 1\na: 2\n', 'a: >\n  folded\n', 'a: |2\n   x\n', 'a: |\n', 'a: |\n  x', '---\na: 1\n', '%YAML 1.2\n---\na: 1\n',
      'a: b: c\n', 'a: [x, [y]]\n', 'a: [x,]\n', 'a: {b: 1}\n', 'a: "es\\"c"\n', "a: 'it''s'\n", 'a: @x\n', 'a: `x`\n', 'a: - x\n',
      'a: [- x]\n', 'null: 1\n', 'True: 1\n', '__proto__: 1\n', ' a: 1\n', 'a:\n  b: 1\n c: 2\n', 'a: |\n      \n  x\n', '# only a comment\n', '',
      'a: |\n    x\n  y: 1\n', 'a: x:\n', 'a: ? x\n', 'k' + 'x'.repeat(200) + ': 1\n',
    ];
    for (const text of declined) {
      assert.equal(parseSimpleYaml(text), undefined, JSON.stringify(text));
      // The full path still gives yaml's answer or its diagnostic.
      const full = parseStructuredText('x.yaml', text);
      const ref = reference(text);
      if (ref === 'error') assert.ok(full.diagnostics.some((d) => d.severity === 'error'), JSON.stringify(text));
      else if (text.trim()) assert.deepStrictEqual(full.value, ref, JSON.stringify(text));
    }
  });

  it('agrees with yaml on thousands of generated documents', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
    const scalars = ['x # c', '"q" # c', "'s'  #c", 'x #', '# c', '"a #b"', 'x#y', 'hello world', '1', '-2', '1.0', '1.2.0', '.5', '1e5', 'true', 'false', 'null', '~', 'yes', '0o7', '0x1f', '128MB', 'C#', 'a#b', 'a # b',
      'a: b', 'a:b', 'x:', '"q"', "'s'", '"a b"', '""', "''", '"a\\"b"', '- x', '-1', '? x', '&a x', '*a', '!t x', '%x', '@x', '[a, b]', '[]', '[1, "2", \'3\']',
      '[a,b , c]', '[a,]', '[a, [b]]', '{a: 1}', 'a, b', 'x  ', 'é ü', '|', '|-', '|+', '>', '|2'];
    const keys = ['a', 'b', 'id', 'name', 'n_1', 'x-y', 'true', 'null', 'On', '_k'];
    let answered = 0;
    for (let doc = 0; doc < 3000; doc++) {
      const lines: string[] = [];
      const depth = [0];
      const count = 1 + rnd(8);
      for (let i = 0; i < count; i++) {
        const indent = depth[rnd(depth.length)]!;
        const pad = ' '.repeat(indent);
        const key = pick(keys) + (rnd(3) ? String(i) : '');
        const kind = rnd(10);
        if (kind < 2) {
          lines.push(`${pad}${key}:`);
          depth.push(indent + pick([1, 2, 4]));
        } else if (kind < 3) {
          lines.push(`${pad}${key}:`);
          const at = indent + pick([0, 0, 1, 2, 4]);
          for (let j = 0, n = 1 + rnd(3); j < n; j++) lines.push(rnd(6) ? `${' '.repeat(at)}- ${pick(scalars)}` : pick(['', '# note', `${' '.repeat(at + 2)}continued`, `${' '.repeat(at)}-`]));
        } else if (kind < 4) {
          lines.push(`${pad}${key}: ${pick(['|', '|-', '|+'])}`);
          const inner = indent + pick([1, 2, 3]);
          for (let j = 0, n = 1 + rnd(4); j < n; j++) lines.push(pick(['', ' '.repeat(inner) + pick(scalars), ' '.repeat(inner + 2) + 'more', ' '.repeat(inner)]));
        } else {
          lines.push(`${pad}${key}: ${pick(scalars)}`);
        }
        if (rnd(8) === 0) lines.push(pick(['', '# note', '  # indented note']));
      }
      const text = lines.join('\n') + (rnd(5) ? '\n' : '');
      if (agrees(text)) answered++;
    }
    assert.ok(answered > 1000, `the fast path answered ${answered} of 3000 generated documents`);
  });

  it('a simple file with a schema error gets the same diagnostic, at the same line, as through yaml', () => {
    const text = 'metadata:\n  id: a\nruntime:\n  model: 42\n';
    const fast = parseStructuredText('x.yaml', text, { schema: { type: 'object', properties: { metadata: { type: 'object' }, runtime: { type: 'object', properties: { model: { type: 'string' } } } } } });
    assert.deepEqual(fast.diagnostics.map((d) => [d.line, d.column, d.message]), [[4, 10, 'runtime.model: must be string']]);
    assert.equal(fast.lineOf(['metadata', 'id']), 2);
    assert.equal(parseYaml(text).runtime.model, 42);
  });
});
