import { UserError } from '../errors';
import type { QuotaWindow } from './types';

/**
 * Quota windows in an IANA time zone, computed with Intl.DateTimeFormat so daylight-saving changes move the
 * reset with the wall clock (Gemini's free day resets at midnight America/Los_Angeles: 08:00Z in winter,
 * 07:00Z in summer, and the spring day is 23 hours long).
 */

export interface WindowBounds {
  startMs: number;
  /** First instant of the next window. */
  resetAtMs: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

interface WallClock {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
      });
    } catch {
      throw new UserError(`Unknown reset_tz "${timeZone}": use an IANA time zone such as "UTC" or "America/Los_Angeles".`, 'bad_time_zone');
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws a UserError naming the zone when it is not a known IANA zone. */
export function assertTimeZone(timeZone: string): void {
  formatter(timeZone);
}

function wallClock(timeZone: string, ms: number): WallClock {
  const out: WallClock = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatter(timeZone).formatToParts(ms)) {
    if (part.type in out) out[part.type as keyof WallClock] = Number(part.value);
  }
  return out;
}

/** Wall-clock time minus UTC at that instant (e.g. -8 h for Los Angeles in winter). */
function offsetMs(timeZone: string, ms: number): number {
  const w = wallClock(timeZone, ms);
  const wholeSeconds = Math.floor(ms / 1000) * 1000;
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - wholeSeconds;
}

function dateKey(w: { year: number; month: number; day: number }): number {
  return w.year * 10_000 + w.month * 100 + w.day;
}

/** The first instant whose local date is year-month-day (midnight, or later when midnight falls in a DST gap). */
export function startOfLocalDay(timeZone: string, year: number, month: number, day: number): number {
  const asUtc = Date.UTC(year, month - 1, day);
  // Normalise overflowing dates (day 32, month 13) the way Date.UTC does.
  const n = new Date(asUtc);
  const target = dateKey({ year: n.getUTCFullYear(), month: n.getUTCMonth() + 1, day: n.getUTCDate() });
  let t = asUtc - offsetMs(timeZone, asUtc);
  t = asUtc - offsetMs(timeZone, t); // second pass: the offset at the guess may differ from the offset at midnight
  const w = wallClock(timeZone, t);
  if (dateKey(w) === target && w.hour === 0 && w.minute === 0 && w.second === 0) return t;
  // Midnight does not exist that day (a DST jump at 00:00): find the first minute whose local date is the target.
  let lo = t - 3 * HOUR_MS;
  let hi = t + 3 * HOUR_MS;
  while (hi - lo > MINUTE_MS) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE_MS) * MINUTE_MS;
    if (dateKey(wallClock(timeZone, mid)) >= target) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The window containing nowMs. Minutes are aligned to UTC minutes (every zone in use has whole-minute offsets). */
export function windowBounds(window: QuotaWindow, timeZone: string, nowMs: number): WindowBounds {
  if (window === 'minute') {
    const startMs = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
    return { startMs, resetAtMs: startMs + MINUTE_MS };
  }
  const w = wallClock(timeZone, nowMs);
  if (window === 'day') {
    let startMs = startOfLocalDay(timeZone, w.year, w.month, w.day);
    // In a zone whose clocks fall back across midnight the wall date can repeat; never start after now.
    if (startMs > nowMs) startMs = startOfLocalDay(timeZone, w.year, w.month, w.day - 1);
    return { startMs, resetAtMs: startOfLocalDay(timeZone, w.year, w.month, w.day + 1) };
  }
  return { startMs: startOfLocalDay(timeZone, w.year, w.month, 1), resetAtMs: startOfLocalDay(timeZone, w.year, w.month + 1, 1) };
}

/**
 * Caches the current window per (window, zone): Intl formatting costs microseconds and every reserve asks for
 * each rule's window, but a window changes at most once a minute.
 */
export class WindowCache {
  /** Per window, per zone (two lookups are cheaper than building a key string each time). */
  private readonly cache = new Map<QuotaWindow, Map<string, WindowBounds>>();

  bounds(window: QuotaWindow, timeZone: string, nowMs: number): WindowBounds {
    let zones = this.cache.get(window);
    if (!zones) this.cache.set(window, (zones = new Map()));
    const hit = zones.get(timeZone);
    if (hit && nowMs >= hit.startMs && nowMs < hit.resetAtMs) return hit;
    const fresh = windowBounds(window, timeZone, nowMs);
    zones.set(timeZone, fresh);
    return fresh;
  }
}
