import assert from 'node:assert/strict';
import { LineCounter, parseDocument } from 'yaml';
import { LinePositions, parseStructuredText } from '../../../src/core/config/structured-file';

describe('LinePositions (positions worked out only when asked)', () => {
  it('gives the line and column yaml’s LineCounter gives, for every offset', () => {
    const texts = ['', 'a', 'a\n', 'a\nb\n\nccc', '\n\n\n', 'x: 1\r\ny: [2,\n 3]\n', 'k: "é😀"\nl: 2\n'];
    for (const text of texts) {
      const counter = new LineCounter();
      parseDocument(text, { lineCounter: counter });
      const lazy = new LinePositions(text);
      for (let offset = 0; offset <= text.length + 1; offset++) assert.deepEqual(lazy.linePos(offset), counter.linePos(offset), `${JSON.stringify(text)} at ${offset}`);
    }
  });

  it('diagnostics and source lines still point at the right place', () => {
    const parsed = parseStructuredText('f.yaml', 'a: 1\nb:\n  c: [1, 2\n', {});
    assert.equal(parsed.diagnostics[0]!.line >= 3, true, JSON.stringify(parsed.diagnostics));
    const ok = parseStructuredText('g.yaml', 'a: 1\n\nmetadata:\n  id: x\n', {});
    assert.equal(ok.lineOf(['metadata', 'id']), 4);
  });
});
