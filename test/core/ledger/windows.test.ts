import assert from 'node:assert/strict';
import { startOfLocalDay, windowBounds } from '../../../src/core/ledger/windows';
import { UserError } from '../../../src/core/errors';

const iso = (ms: number) => new Date(ms).toISOString();
const at = (s: string) => Date.parse(s);

describe('ledger windows', () => {
  it('aligns minute windows to the UTC minute whatever the zone', () => {
    const b = windowBounds('minute', 'Asia/Kolkata', at('2026-03-01T10:15:42.500Z'));
    assert.equal(iso(b.startMs), '2026-03-01T10:15:00.000Z');
    assert.equal(iso(b.resetAtMs), '2026-03-01T10:16:00.000Z');
  });

  it('starts a UTC day at 00:00Z and a month on the 1st', () => {
    const day = windowBounds('day', 'UTC', at('2026-03-01T23:59:59.999Z'));
    assert.equal(iso(day.startMs), '2026-03-01T00:00:00.000Z');
    assert.equal(iso(day.resetAtMs), '2026-03-02T00:00:00.000Z');
    const month = windowBounds('month', 'UTC', at('2026-12-31T12:00:00Z'));
    assert.equal(iso(month.startMs), '2026-12-01T00:00:00.000Z');
    assert.equal(iso(month.resetAtMs), '2027-01-01T00:00:00.000Z');
  });

  it('resets a Los Angeles day at local midnight: 08:00Z in winter, 07:00Z in summer', () => {
    const winter = windowBounds('day', 'America/Los_Angeles', at('2026-01-15T07:59:00Z')); // still Jan 14 in LA
    assert.equal(iso(winter.startMs), '2026-01-14T08:00:00.000Z');
    assert.equal(iso(winter.resetAtMs), '2026-01-15T08:00:00.000Z');
    const summer = windowBounds('day', 'America/Los_Angeles', at('2026-07-15T07:00:00Z'));
    assert.equal(iso(summer.startMs), '2026-07-15T07:00:00.000Z');
    assert.equal(iso(summer.resetAtMs), '2026-07-16T07:00:00.000Z');
  });

  it('gives the spring-forward day 23 hours and the fall-back day 25 (America/Los_Angeles, 2026)', () => {
    const spring = windowBounds('day', 'America/Los_Angeles', at('2026-03-08T12:00:00Z')); // DST starts 2026-03-08 02:00 local
    assert.equal(iso(spring.startMs), '2026-03-08T08:00:00.000Z');
    assert.equal(iso(spring.resetAtMs), '2026-03-09T07:00:00.000Z');
    assert.equal(spring.resetAtMs - spring.startMs, 23 * 3_600_000);
    const fall = windowBounds('day', 'America/Los_Angeles', at('2026-11-01T20:00:00Z')); // DST ends 2026-11-01 02:00 local
    assert.equal(iso(fall.startMs), '2026-11-01T07:00:00.000Z');
    assert.equal(iso(fall.resetAtMs), '2026-11-02T08:00:00.000Z');
    assert.equal(fall.resetAtMs - fall.startMs, 25 * 3_600_000);
    // Either side of the repeated 01:00-02:00 hour is still the same day.
    assert.equal(windowBounds('day', 'America/Los_Angeles', at('2026-11-01T08:30:00Z')).startMs, fall.startMs);
    assert.equal(windowBounds('day', 'America/Los_Angeles', at('2026-11-01T09:30:00Z')).startMs, fall.startMs);
  });

  it('computes a Los Angeles month across a DST change (March 2026: PST start, PDT end)', () => {
    const b = windowBounds('month', 'America/Los_Angeles', at('2026-03-20T00:00:00Z'));
    assert.equal(iso(b.startMs), '2026-03-01T08:00:00.000Z');
    assert.equal(iso(b.resetAtMs), '2026-04-01T07:00:00.000Z');
  });

  it('starts a day whose midnight does not exist at the first instant of that date (America/Santiago, 2024-09-08)', () => {
    // Chile moved clocks from 00:00 to 01:00 (-04 to -03), so 2024-09-08 begins at 01:00 local = 04:00Z.
    assert.equal(iso(startOfLocalDay('America/Santiago', 2024, 9, 8)), '2024-09-08T04:00:00.000Z');
    const b = windowBounds('day', 'America/Santiago', at('2024-09-08T12:00:00Z'));
    assert.equal(iso(b.startMs), '2024-09-08T04:00:00.000Z');
    assert.equal(iso(b.resetAtMs), '2024-09-09T03:00:00.000Z');
  });

  it('handles half-hour offsets (Asia/Kolkata midnight is 18:30Z the day before)', () => {
    const b = windowBounds('day', 'Asia/Kolkata', at('2026-05-10T18:29:59Z'));
    assert.equal(iso(b.startMs), '2026-05-09T18:30:00.000Z');
    assert.equal(iso(b.resetAtMs), '2026-05-10T18:30:00.000Z');
  });

  it('rejects an unknown zone with a UserError naming it', () => {
    assert.throws(() => windowBounds('day', 'Mars/Olympus_Mons', 0), (err: unknown) => err instanceof UserError && /Mars\/Olympus_Mons/.test(err.message));
  });
});
