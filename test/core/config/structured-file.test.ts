/** Hostile configuration text: every failure of the parser or the validator is the file's diagnostic, never a throw. */
import assert from 'node:assert/strict';
import { MAX_NESTING_DEPTH, parseStructuredText } from '../../../src/core/config/structured-file';

function aliasBomb(levels: number): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < levels; i++) lines.push(`l${i}: &l${i} [${Array(9).fill(i === 1 ? '*a' : `*l${i - 1}`).join(',')}]`);
  return lines.join('\n');
}

describe('structured-file: config bombs become diagnostics', () => {
  it('a billion-laughs alias bomb is refused as such', () => {
    const r = parseStructuredText('router.yaml', aliasBomb(10));
    assert.equal(r.value, undefined);
    assert.equal(r.diagnostics.length, 1);
    assert.match(r.diagnostics[0]!.message, /more than 100 YAML alias expansions \(an alias bomb\?\)/);
  });

  it('a few aliases (ordinary YAML reuse) still load', () => {
    const r = parseStructuredText<{ b: unknown }>('x.yaml', 'base: &base {a: 1}\nb: *base\nc: *base\n');
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(r.value!.b, { a: 1 });
  });

  it('nesting deeper than the limit is refused, in YAML block style and in JSON, however deep', () => {
    for (const depth of [MAX_NESTING_DEPTH + 1, 500, 100_000]) {
      const json = '{"x":'.repeat(depth) + '1' + '}'.repeat(depth);
      const r = parseStructuredText('deep.json', json);
      assert.equal(r.value, undefined, `depth ${depth}`);
      assert.match(r.diagnostics[0]!.message, /nested|call stack/i);
    }
    for (const levels of [200, 1400]) {
      const yaml = Array.from({ length: levels }, (_, i) => ' '.repeat(i) + `k${i}:`).join('\n') + ' 1\n';
      const r = parseStructuredText('deep.yaml', yaml);
      assert.equal(r.value, undefined);
      assert.match(r.diagnostics[0]!.message, /^nested more than 64 levels deep/, `${levels} levels`);
    }
    assert.ok(parseStructuredText('ok.json', '{"x":'.repeat(10) + '1' + '}'.repeat(10)).value, 'ordinary nesting loads');
  });

  it('an exception anywhere in parsing or validation becomes the diagnostic', () => {
    // A schema whose validation throws (ajv runs user-supplied regexes): stands in for any validator bug.
    const r = parseStructuredText('x.yaml', 'a: 1\n', { schema: { type: 'object', properties: { a: { type: 'number' } }, get required(): string[] { throw new Error('validator exploded'); } } });
    assert.equal(r.value, undefined);
    assert.match(r.diagnostics[0]!.message, /could not be parsed: validator exploded/);
  });
});
