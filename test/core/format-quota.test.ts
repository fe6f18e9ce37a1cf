import assert from 'node:assert/strict';
import { formatAmount, formatDuration } from '../../src/core/format-quota';

describe('quota wording shared by the Quota view and the dashboard', () => {
  it('says how long until a reset: now, minutes rounded up, hours and minutes under two days, then days', () => {
    assert.equal(formatDuration(0), 'now');
    assert.equal(formatDuration(-5), 'now');
    assert.equal(formatDuration(1), '1 min');
    assert.equal(formatDuration(59 * 60_000), '59 min');
    assert.equal(formatDuration(59 * 60_000 + 1), '1 h 0 min');
    assert.equal(formatDuration((47 * 60 + 59) * 60_000), '47 h 59 min');
    assert.equal(formatDuration(48 * 3_600_000), '2 d');
    assert.equal(formatDuration(10 * 86_400_000 - 3_600_000), '9 d'); // 239 h: whole days, rounded down
  });

  it('writes whole amounts with separators and fractions to two places', () => {
    assert.equal(formatAmount(1500), '1,500');
    assert.equal(formatAmount(0), '0');
    assert.equal(formatAmount(2.345), '2.35');
  });
});
