import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { SqlValue } from 'sql.js';
import { switchboardHome } from '../paths';
import type { RateLimitInfo } from '../providers/types';
import { SharedSqlJsFile, type LedgerStats, type SharedSqlJsFileOptions } from './sqljs-store';
import { QuotaMirror, type HeldRow, type UsageKey } from './sqljs-mirror';
import { LEASE_CALLS, LeaseBook, leaseCalls, scaled, type Lease, type LeasedCall } from './leases';
import { systemClock } from './types';
import type {
  Amounts, Availability, AvailableReserveOutcome, CallRecord, CircuitState, Clock, Cooldown, Ledger, QuotaMetric, QuotaRule, QuotaState, QuotaWindow,
  ReserveOutcome, ReserveRequest, Settlement, SpendSummary, ThresholdEvent,
} from './types';
import { WindowCache, windowBounds } from './windows';
import { CALL_FIELDS, HISTORY_FORMAT, aggregateDeltas, callFromRow } from './history-merge';
import type { ImportSummary, ImportedKind, LedgerHistory, LedgerTransfer } from './transfer';
import {
  blockingState, budgetState, chargedCounters, checkRule, circuitOf, crossedThresholds, quotaState, reconcileTargets, resolveBudgets,
  DAY_MS, WINDOW_RETENTION_MS, ruleZone, settledAmounts, staleWindowCutoffs, usedFraction, utcMonth, withRequest, type ResolvedBudget,
} from './rules';

export type { LedgerStats, LedgerWarning } from './sqljs-store';

/** The quota ledger on the sql.js file every process on this machine shares (sqljs-store.ts says how). */

export interface SqlJsLedgerOptions extends Partial<Omit<SharedSqlJsFileOptions, 'file' | 'clock'>> {
  /** Default: $SWITCHBOARD_HOME/ledger.sqlite. */
  file?: string;
  clock?: Clock;
  /** Usage fractions that raise a threshold event, once per window each. Default [0.8, 0.95, 1]. */
  thresholds?: number[];
  /** Consecutive failures that open a provider's circuit. Default 5. */
  circuitFailures?: number;
  /** How long an open circuit stays open before it turns half-open. Default 60 s. */
  circuitOpenMs?: number;
  /** Reservation lifetime when the request names none. Default 10 min (twice the default call deadline). */
  reservationTtlMs?: number;
  /**
   * A burst of calls is admitted against a lease holding up to this many calls' estimates, with one disk wait
   * for all of them (leases.ts). Default 8; 1 reserves every call on its own.
   */
  leaseCalls?: number;
  /** Call rows older than this are pruned (usage and spend aggregates stay). Default 90 days. */
  callRetentionMs?: number;
  /**
   * At most this many call rows are kept (newest first). Default 200: every process loads the whole snapshot
   * after each compaction, so its size matters; totals live in aggregates, rows only serve idempotency
   * (a retried settle) and recent history.
   */
  maxCallRows?: number;
}

export function defaultLedgerPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(switchboardHome(env), 'ledger.sqlite');
}

const CALL_COLUMNS = 'id, ts_ms, provider, model, tier, task, actor, ok, input_tokens, output_tokens, cost_usd, baseline_usd, principal, team';
const PRUNE_EVERY_MS = 3_600_000;
/** Reservations whose background sync is remembered for their settle, at most. */
const MAX_REMEMBERED_SYNCS = 10_000;

const addUsageSqlByCount: string[] = [];

/** Adds to `rows` usage counters (provider, metric, win, tz, start_ms, amount), creating those not there yet. */
function addUsageSql(rows: number): string {
  return (addUsageSqlByCount[rows] ??= `INSERT INTO usage VALUES ${Array.from({ length: rows }, () => '(?,?,?,?,?,?)').join(',')} ` +
    'ON CONFLICT (provider, metric, win, tz, start_ms) DO UPDATE SET used = used + excluded.used');
}

export class SqlJsLedger implements Ledger, LedgerTransfer {
  readonly file: string;
  private readonly windows = new WindowCache();
  private readonly thresholds: number[];
  private readonly circuitFailures: number;
  private readonly circuitOpenMs: number;
  private readonly reservationTtlMs: number;
  private readonly callRetentionMs: number;
  private readonly maxCallRows: number;
  private readonly maxLeaseCalls: number;
  /** meta pruned_at as last read (it only grows), so most settles need not read it. */
  private prunedAtSeen = 0;
  private readonly mirror: QuotaMirror;
  /** Background fdatasyncs of reservations made here, by reservation id (see settle). */
  private readonly reservationSyncs = new Map<string, Promise<boolean>>();
  /** Reservations that hold a burst of calls (leases.ts). */
  private readonly leases = new LeaseBook((lease) => this.giveBack(lease));

  private constructor(private readonly db: SharedSqlJsFile, options: SqlJsLedgerOptions) {
    this.file = db.file;
    this.mirror = new QuotaMirror(db);
    this.thresholds = [...(options.thresholds ?? [0.8, 0.95, 1])].sort((a, b) => a - b);
    this.circuitFailures = options.circuitFailures ?? 5;
    this.circuitOpenMs = options.circuitOpenMs ?? 60_000;
    this.reservationTtlMs = options.reservationTtlMs ?? 600_000;
    this.callRetentionMs = options.callRetentionMs ?? 90 * DAY_MS;
    this.maxCallRows = options.maxCallRows ?? 200;
    this.maxLeaseCalls = Math.max(1, Math.floor(options.leaseCalls ?? LEASE_CALLS));
  }

  /** Opens (or starts) the ledger; an unreadable file is set aside and reported through onWarning. */
  static async open(options: SqlJsLedgerOptions = {}): Promise<SqlJsLedger> {
    const clock = options.clock ?? systemClock;
    const db = await SharedSqlJsFile.open({ ...options, file: options.file ?? defaultLedgerPath(), clock });
    return new SqlJsLedger(db, { ...options, clock });
  }

  stats(): LedgerStats {
    return this.db.stats();
  }

  // ---- Ledger --------------------------------------------------------------------------------------------

  async reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    // Without a cooldown key nothing is checked but the quota: the outcome is a plain ReserveOutcome.
    return (await this.reserveChecking(request, undefined)) as ReserveOutcome;
  }

  /** One lock, one look at the shared file: the router's availability check and reservation (see Ledger). */
  async reserveIfAvailable(request: ReserveRequest, cooldownKey: string): Promise<AvailableReserveOutcome> {
    return this.reserveChecking(request, cooldownKey);
  }

  private async reserveChecking(request: ReserveRequest, cooldownKey: string | undefined): Promise<AvailableReserveOutcome> {
    request.rules.forEach(checkRule);
    const amounts = withRequest(request.amounts);
    const budgets = resolveBudgets(request);
    const ttlMs = request.ttlMs ?? this.reservationTtlMs;
    const leaseKey = JSON.stringify([request.providerId, cooldownKey ?? null, request.rules, budgets, ttlMs]);
    const unavailable = (now: number): AvailableReserveOutcome | undefined => {
      if (cooldownKey === undefined) return undefined;
      const availability = this.availabilityAt(cooldownKey, request.providerId, now);
      return availability.cooldown || availability.circuit.state === 'open' ? { ok: false, unavailable: availability } : undefined;
    };
    // Admitted against this process's lease for the key: no record, no disk wait (leases.ts).
    const admitted = (now: number): AvailableReserveOutcome | undefined => {
      const lease = this.leases.usable(leaseKey, amounts, now, ttlMs);
      if (!lease) return undefined;
      this.leases.inBurst(leaseKey, now);
      return { ok: true, reservationId: this.leases.admit(lease, amounts), states: this.ownStates(request.providerId, request.rules, budgets, now) };
    };
    if (this.leases.hasActive(leaseKey)) {
      // No lock either: the lease is this process's alone, and the read catches up with every other process.
      const outcome = await this.db.read((now) => unavailable(now) ?? admitted(now));
      if (outcome) return outcome;
    }
    let synced: Promise<boolean> | undefined;
    let created: Lease | undefined;
    let outcome: AvailableReserveOutcome;
    try {
      outcome = await this.db.mutate<AvailableReserveOutcome>((now) => {
        // A lease made for this key while this change waited its turn (concurrent calls) admits it, if it fits.
        const early = unavailable(now) ?? admitted(now);
        if (early) return { result: early, changed: false };
        const states = [...this.states(request.providerId, request.rules, now), ...budgets.map((b) => this.budgetStateOf(b, now))];
        // Checked and held under the file lock in one change: no other process can admit a call in between.
        const blocking = blockingState(states, amounts);
        if (blocking) return { result: { ok: false, blocking, states }, changed: false };
        const calls = this.leases.inBurst(leaseKey, now) && this.maxLeaseCalls > 1 ? leaseCalls(states, amounts, this.maxLeaseCalls) : 1;
        const id = randomUUID();
        // A lease lives for two call lifetimes; calls are admitted against it only while one fits before its end.
        const expires = now + (calls > 1 ? 2 * ttlMs : ttlMs);
        const holds = scaled(amounts, calls);
        this.insertReservation(id, request.providerId, budgets, holds, now, expires);
        let reservationId: string = id;
        if (calls > 1) {
          const lease = { id, key: leaseKey, providerId: request.providerId, budgetCounters: budgets.map((b) => b.counter), expiresMs: expires };
          ({ lease: created, reservationId } = this.leases.add({ ...lease, remaining: { ...holds }, synced: Promise.resolve(false) }, amounts));
        }
        // The states read above plus the new holds (nothing else changed inside the change), as this process reports them.
        const heldNow: Amounts = expires > now ? holds : {};
        const counterOf = (i: number) => (i < request.rules.length ? request.providerId : budgets[i - request.rules.length]!.counter);
        const after = states.map((s, i) => this.withoutOwnLeases(
          { ...s, ...quotaState(s.rule, s.used, s.reserved + (heldNow[s.rule.metric] ?? 0), s.windowStartMs, s.resetAtMs) }, counterOf(i), now,
        ));
        // Durable in the background: the record reaches the disk while the caller waits for its provider, and
        // settle waits for it (see settle).
        return {
          result: { ok: true, reservationId, states: after }, changed: true, durable: 'background',
          onSynced: (p) => {
            synced = p;
            if (created) created.synced = p;
          },
        };
      });
    } catch (err) {
      if (created) this.leases.discard(created);
      throw err;
    }
    if (outcome.ok && !created && synced) this.rememberSync(outcome.reservationId, synced);
    return outcome;
  }

  /** A reservation's rows: the provider's, and one per budget (`<id>#<counter>`) so settle and release remove them too. */
  private insertReservation(id: string, providerId: string, budgets: ResolvedBudget[], holds: Amounts, now: number, expires: number): void {
    const held = (usd: number, own: Amounts): HeldRow => ({
      requests: own.requests ?? 0, input_chars: own.input_chars ?? 0, tokens: own.tokens ?? 0, usd, createdMs: now, expiresMs: expires,
    });
    // Live until `expires`; a reservation never settled or released is charged after that (types.ts).
    this.db.defer('INSERT INTO reservations VALUES (?,?,?,?,?,?,?,?)', [
      id, providerId, holds.requests ?? 0, holds.input_chars ?? 0, holds.tokens ?? 0, holds.usd ?? 0, now, expires,
    ]);
    const rows = [{ rowId: id, counter: providerId, row: held(holds.usd ?? 0, holds) }];
    for (const b of budgets) {
      this.db.defer('INSERT INTO reservations VALUES (?,?,0,0,0,?,?,?)', [`${id}#${b.counter}`, b.counter, holds.usd ?? 0, now, expires]);
      rows.push({ rowId: `${id}#${b.counter}`, counter: b.counter, row: held(holds.usd ?? 0, {}) });
    }
    this.mirror.addReservation(id, rows);
  }

  /**
   * The call is counted durably when this resolves. Its reservation (or the lease it was admitted against) was
   * fdatasync'ed in the background while the provider answered (reserveChecking): when that finished and the
   * row was still there, the settle record needs no disk wait of its own — should a power cut lose it, the
   * reservation or lease stays on disk and is charged at its expiry, so the call still counts (with its
   * estimate). Otherwise the settle record is fdatasync'ed before this resolves, as always. A leased call's
   * estimate leaves the lease's row (the whole row goes with the lease's last call).
   */
  async settle(reservationId: string, rules: QuotaRule[], record: CallRecord): Promise<Settlement> {
    rules.forEach(checkRule);
    const callId = record.callId ?? reservationId;
    const leased = this.leases.call(reservationId);
    const reservationOnDisk = leased ? await leased.lease.synced : await this.takeSync(reservationId);
    let leaseRowGone = false;
    const settlement = await this.db.mutate<Settlement>((now) => {
      const keys = this.ruleKeys(record.providerId, rules, now);
      // Everything the settlement reads, before its first deferred statement (so none of it needs SQLite).
      this.mirror.loadUsage(keys);
      this.mirror.loadRows([record.providerId]);
      this.mirror.callRowsAtMost();
      if (record.ok) this.mirror.circuit(record.providerId);
      let releasedReservation: boolean;
      if (leased) {
        leaseRowGone = this.leases.endsLease(leased);
        releasedReservation = leaseRowGone ? this.removeReservation(leased.lease.id) : this.shrinkLease(leased);
      } else {
        releasedReservation = this.removeReservation(reservationId);
      }
      // A reservation that was still there has no call row yet (settle removes one and adds the other together).
      const recorded = releasedReservation && callId === reservationId ? false : this.db.all('SELECT 1 FROM calls WHERE id = ?', [callId]).length > 0;
      if (recorded) {
        // Already recorded (a retry after a crash or a lost reply): count it once.
        return { result: { events: [], states: this.ownView(this.states(record.providerId, rules, now, keys), record.providerId, now) }, changed: releasedReservation, durable: true };
      }
      this.db.defer(`INSERT INTO calls (${CALL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING`, [
        callId, now, record.providerId, record.model, record.tier, record.task ?? null, record.actor ?? null, record.ok ? 1 : 0,
        record.inputTokens, record.outputTokens, record.costUsd, record.baselineUsd, record.principal?.id ?? null, record.principal?.team ?? null,
      ]);
      const used = settledAmounts(record);
      const seen = new Set<string>();
      const usageRows: SqlValue[] = [];
      keys.forEach((k) => {
        const text = `${k.metric}|${k.win}|${k.tz}`;
        if (seen.has(text)) return; // two rules on the same counter (different limits) share one usage row
        seen.add(text);
        usageRows.push(k.counter, k.metric, k.win, k.tz, k.startMs, used[k.metric] ?? 0);
        this.mirror.addUsage(k, used[k.metric] ?? 0);
      });
      // Every rule's counter in one statement (one row each, all different).
      if (usageRows.length) this.db.defer(addUsageSql(usageRows.length / 6), usageRows);
      if (record.costUsd > 0) {
        const monthStart = windowBounds('month', 'UTC', now).startMs;
        for (const counter of chargedCounters(record)) {
          this.db.defer(
            `INSERT INTO usage VALUES (?,'usd','month','UTC',?,?)
             ON CONFLICT (provider, metric, win, tz, start_ms) DO UPDATE SET used = used + excluded.used`,
            [counter, monthStart, record.costUsd],
          );
          this.mirror.addUsage({ counter, metric: 'usd', win: 'month', tz: 'UTC', startMs: monthStart }, record.costUsd);
        }
      }
      const month = utcMonth(now);
      this.db.defer(
        `INSERT INTO spend VALUES (?, 1, ?, ?)
         ON CONFLICT (month) DO UPDATE SET calls = calls + 1, usd = usd + excluded.usd, baseline_usd = baseline_usd + excluded.baseline_usd`,
        [month, record.costUsd, record.baselineUsd],
      );
      this.mirror.addSpend(month, record.costUsd);
      this.mirror.setCallRowsAtMost(this.mirror.callRowsAtMost() + 1);
      const states = this.ownView(this.states(record.providerId, rules, now, keys), record.providerId, now);
      const events: ThresholdEvent[] = [];
      states.forEach((s, i) => {
        const fraction = usedFraction(s);
        for (const threshold of crossedThresholds(s, this.thresholds)) {
          const key: SqlValue[] = [record.providerId, s.rule.metric, keys[i]!.win, keys[i]!.tz, s.rule.limit, s.windowStartMs, threshold];
          if (this.mirror.thresholdRecorded(key)) continue;
          this.db.defer('INSERT OR IGNORE INTO thresholds VALUES (?,?,?,?,?,?,?)', key);
          this.mirror.addThreshold(key);
          events.push({ providerId: record.providerId, rule: s.rule, threshold, fraction });
        }
      });
      this.capCallRows();
      // Read before any change above, the router need not look again to record this call's success.
      const circuitClean = record.ok ? this.mirror.circuit(record.providerId) === null : undefined;
      this.pruneIfDue(now);
      return { result: { events, states, circuitClean }, changed: true, durable: !(reservationOnDisk && releasedReservation) };
    });
    if (leased) this.leases.settled(reservationId, leaseRowGone);
    return settlement;
  }

  async release(reservationId: string): Promise<void> {
    // A call admitted against a lease gives its share back to the lease: nothing to write.
    if (this.leases.released(reservationId)) return;
    this.reservationSyncs.delete(reservationId);
    await this.db.mutate(() => {
      const released = this.removeReservation(reservationId);
      return { result: undefined, changed: released };
    });
  }

  async quota(providerId: string, rules: QuotaRule[]): Promise<QuotaState[]> {
    rules.forEach(checkRule);
    return this.db.read((now) => this.ownView(this.states(providerId, rules, now), providerId, now));
  }

  async setCooldown(key: string, untilMs: number, reason: string): Promise<void> {
    await this.db.mutate((now) => {
      if (untilMs <= now) {
        this.db.run('DELETE FROM cooldowns WHERE key = ?', [key]);
      } else {
        // Several processes may cool the same key down; the longest wait wins (e.g. two Retry-After values).
        this.db.run(
          `INSERT INTO cooldowns VALUES (?,?,?)
           ON CONFLICT (key) DO UPDATE SET until_ms = excluded.until_ms, reason = excluded.reason WHERE excluded.until_ms > until_ms`,
          [key, untilMs, reason],
        );
      }
      return { result: undefined, changed: this.db.changes() > 0 };
    });
  }

  async cooldown(key: string): Promise<Cooldown | undefined> {
    return this.db.read((now) => this.cooldownAt(key, now));
  }

  async availability(cooldownKey: string, providerId: string): Promise<Availability> {
    return this.db.read((now) => this.availabilityAt(cooldownKey, providerId, now));
  }

  private availabilityAt(cooldownKey: string, providerId: string, now: number): Availability {
    const circuit = this.circuitAt(providerId, now);
    const cooldown = this.cooldownAt(cooldownKey, now);
    return cooldown ? { cooldown, circuit } : { circuit };
  }

  private cooldownAt(key: string, now: number): Cooldown | undefined {
    const c = this.mirror.cooldown(key);
    return c && c.untilMs > now ? { key, untilMs: c.untilMs, reason: c.reason } : undefined;
  }

  async recordOutcome(providerId: string, ok: boolean): Promise<CircuitState> {
    if (ok) {
      // The common case, a success on a healthy provider, changes nothing: no lock, no write.
      const healthy = await this.db.read(() => this.mirror.circuit(providerId) === null);
      if (healthy) return { state: 'closed' };
    }
    return this.db.mutate((now) => {
      if (ok) {
        this.db.run('DELETE FROM circuits WHERE provider = ?', [providerId]);
        return { result: { state: 'closed' }, changed: this.db.changes() > 0 };
      }
      const row = this.db.all('SELECT failures, open_until_ms FROM circuits WHERE provider = ?', [providerId])[0];
      const failures = Number(row?.failures ?? 0) + 1;
      let openUntil = row?.open_until_ms == null ? null : Number(row.open_until_ms);
      if (openUntil !== null && openUntil <= now) openUntil = now + this.circuitOpenMs; // the half-open trial failed
      else if (openUntil === null && failures >= this.circuitFailures) openUntil = now + this.circuitOpenMs;
      this.db.run('INSERT OR REPLACE INTO circuits VALUES (?,?,?)', [providerId, failures, openUntil]);
      return { result: circuitOf(openUntil, now), changed: true };
    });
  }

  async circuit(providerId: string): Promise<CircuitState> {
    return this.db.read((now) => this.circuitAt(providerId, now));
  }

  private circuitAt(providerId: string, now: number): CircuitState {
    return circuitOf(this.mirror.circuit(providerId)?.openUntilMs ?? null, now);
  }

  async reconcile(providerId: string, rules: QuotaRule[], info: RateLimitInfo): Promise<void> {
    rules.forEach(checkRule);
    const targets = reconcileTargets(rules, info);
    if (!targets.length) return;
    await this.db.mutate((now) => {
      let changed = false;
      for (const { rule, remaining } of targets) {
        const { win, tz, startMs } = this.windowKey(rule, now);
        const used = this.mirror.used({ counter: providerId, metric: rule.metric, win, tz, startMs });
        // The provider saw fewer left than we count: believe it (never the other way, which could overrun).
        const floor = rule.limit - remaining;
        if (floor > used + 1e-9) {
          this.db.run(
            `INSERT INTO usage VALUES (?,?,?,?,?,?)
             ON CONFLICT (provider, metric, win, tz, start_ms) DO UPDATE SET used = excluded.used`,
            [providerId, rule.metric, win, tz, startMs, floor],
          );
          changed = true;
        }
      }
      return { result: undefined, changed };
    });
  }

  async monthSpend(): Promise<SpendSummary> {
    return this.db.read((now) => {
      const month = utcMonth(now);
      const row = this.db.all('SELECT calls, usd, baseline_usd FROM spend WHERE month = ?', [month])[0];
      return { month, calls: Number(row?.calls ?? 0), usd: Number(row?.usd ?? 0), baselineUsd: Number(row?.baseline_usd ?? 0) };
    });
  }

  async close(): Promise<void> {
    // What our leases hold and no call used goes back to everyone (a crash would leave it charged instead).
    const leases = this.leases.closeAll();
    if (leases.length) {
      await this.db.mutate(() => {
        let changed = false;
        for (const lease of leases) changed = this.removeReservation(lease.id) || changed;
        return { result: undefined, changed };
      }).catch(() => undefined);
      for (const lease of leases) this.leases.gone(lease);
    }
    await this.db.close();
  }

  // ---- moving history (transfer.ts) ----------------------------------------------------------------------

  async exportHistory(): Promise<LedgerHistory> {
    const source = await this.ledgerId();
    return this.db.read((now) => ({
      format: HISTORY_FORMAT, version: 1, source, exported_at: new Date(now).toISOString(),
      calls: this.db.all(`SELECT ${CALL_COLUMNS} FROM calls ORDER BY ts_ms, id`, []).map(callFromRow),
      usage: this.db.all('SELECT provider, metric, win, tz, start_ms, used FROM usage ORDER BY provider, metric, win, tz, start_ms', []).map((r) => ({
        counter: String(r.provider), metric: String(r.metric) as QuotaMetric, win: String(r.win) as QuotaWindow, tz: String(r.tz), start_ms: Number(r.start_ms), used: Number(r.used),
      })),
      spend: this.db.all('SELECT month, calls, usd, baseline_usd FROM spend ORDER BY month', []).map((r) => ({
        month: String(r.month), calls: Number(r.calls), usd: Number(r.usd), baseline_usd: Number(r.baseline_usd),
      })),
      imported: this.db.all("SELECT key, value FROM meta WHERE substr(key, 1, 9) = 'imported|' ORDER BY key", []).flatMap((r) => {
        // imported|<source>|<kind>|<key…>: sources are ledger ids (no '|'); counter keys may hold '|'.
        const [, source, kind, ...key] = String(r.key).split('|');
        return source && kind ? [{ source, kind: kind as ImportedKind, key: key.join('|'), value: Number(r.value) }] : [];
      }),
    }));
  }

  async importHistory(history: LedgerHistory): Promise<ImportSummary> {
    const own = await this.ledgerId();
    const summary: ImportSummary = { source: history.source, calls: 0, counters: 0, months: 0, ownHistory: history.source === own };
    if (summary.ownHistory) return summary;
    const prefix = `imported|${history.source}|`;
    return this.db.mutate(() => {
      const previously = new Map(this.db.all('SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?', [prefix.length, prefix])
        .map((r) => [String(r.key).slice(prefix.length), Number(r.value)]));
      for (const c of history.calls) {
        this.db.run(`INSERT OR IGNORE INTO calls (${CALL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, CALL_FIELDS.map((f) => (f === 'ok' ? (c.ok ? 1 : 0) : c[f])));
        summary.calls += this.db.changes();
      }
      const { usage, spend, remember } = aggregateDeltas(history, previously, own);
      for (const u of usage) {
        this.db.run(
          `INSERT INTO usage VALUES (?,?,?,?,?,?) ON CONFLICT (provider, metric, win, tz, start_ms) DO UPDATE SET used = used + excluded.used`,
          [u.counter, u.metric, u.win, u.tz, u.start_ms, u.add],
        );
      }
      for (const m of spend) {
        this.db.run(
          `INSERT INTO spend VALUES (?,?,?,?) ON CONFLICT (month) DO UPDATE SET
             calls = calls + excluded.calls, usd = usd + excluded.usd, baseline_usd = baseline_usd + excluded.baseline_usd`,
          [m.month, m.calls, m.usd, m.baseline_usd],
        );
      }
      for (const r of remember) this.db.run('INSERT OR REPLACE INTO meta VALUES (?, ?)', [`${prefix}${r.kind}|${r.key}`, String(r.value)]);
      summary.counters = usage.length;
      summary.months = spend.length;
      this.capCallRows();
      return { result: summary, changed: summary.calls > 0 || remember.length > 0, durable: true };
    });
  }

  /** This ledger's identity in exports (made on first use). */
  private async ledgerId(): Promise<string> {
    const read = () => this.db.all("SELECT value FROM meta WHERE key = 'ledger_id'", [])[0]?.value;
    const existing = await this.db.read(read);
    if (existing !== undefined && existing !== null) return String(existing);
    return this.db.mutate(() => {
      const again = read();
      if (again !== undefined && again !== null) return { result: String(again), changed: false };
      const id = randomUUID();
      this.db.run("INSERT INTO meta VALUES ('ledger_id', ?)", [id]);
      return { result: id, changed: true, durable: true };
    });
  }

  // ---- quota arithmetic ----------------------------------------------------------------------------------

  /**
   * A reservation and its budget holds (`<id>#<counter>`), as one index range: from "<id>" to "<id>$" in SQLite's
   * byte order. Reservation ids are UUIDs, whose characters all sort after "$", so no other reservation's rows
   * fall in it.
   */
  private deleteReservation(id: string): void {
    this.db.defer('DELETE FROM reservations WHERE id >= ? AND id < ?', [id, `${id}$`]);
  }

  /** Deletes a reservation's rows (mirror and file); true when any was there. */
  private removeReservation(id: string): boolean {
    const removed = this.mirror.removeReservation(id);
    if (removed) this.deleteReservation(id);
    return removed;
  }

  /** A settled call's estimate leaves its lease's rows; true when the lease's row was there. */
  private shrinkLease({ lease, amounts }: LeasedCall): boolean {
    const rows = this.mirror.shrinkReservation(lease.id, amounts);
    if (!rows) return false;
    this.db.defer('UPDATE reservations SET requests = requests - ?, input_chars = input_chars - ?, tokens = tokens - ?, usd = usd - ? WHERE id = ?', [
      amounts.requests, amounts.input_chars, amounts.tokens, amounts.usd, lease.id,
    ]);
    // Budget holds (`<id>#<counter>`) hold only usd.
    if (rows > 1) this.db.defer('UPDATE reservations SET usd = usd - ? WHERE id > ? AND id < ?', [amounts.usd, `${lease.id}#`, `${lease.id}$`]);
    return true;
  }

  /** A lease nobody uses any more: its rows go, in the background (the quota it held is free again). */
  private giveBack(lease: Lease): void {
    this.leases.gone(lease);
    this.db.mutate(() => ({ result: undefined, changed: this.removeReservation(lease.id) })).catch(() => undefined);
  }

  private budgetStateOf(budget: ResolvedBudget, now: number): QuotaState {
    const month = windowBounds('month', 'UTC', now);
    // The global budget is the month's whole spend, as budget_usd_month always counted it.
    const settled = budget.scope === 'global'
      ? this.mirror.spendUsd(utcMonth(now))
      : this.mirror.used({ counter: budget.counter, metric: 'usd', win: 'month', tz: 'UTC', startMs: month.startMs });
    const used = settled + this.mirror.charged(budget.counter, 'usd', month.startMs, month.resetAtMs, now);
    return budgetState(budget, used, this.mirror.held(budget.counter, now).usd ?? 0, now);
  }

  private windowKey(rule: QuotaRule, now: number): { win: QuotaWindow; tz: string; startMs: number; resetAtMs: number } {
    // Minutes are the same in every zone: one counter, whatever reset_tz says.
    const tz = ruleZone(rule);
    const b = this.windows.bounds(rule.window, tz, now);
    return { win: rule.window, tz, startMs: b.startMs, resetAtMs: b.resetAtMs };
  }

  /** Each rule's usage counter in the window `now` is in. */
  private ruleKeys(providerId: string, rules: QuotaRule[], now: number): Array<UsageKey & { resetAtMs: number }> {
    return rules.map((rule) => ({ counter: providerId, metric: rule.metric, ...this.windowKey(rule, now) }));
  }

  /** Settled usage plus expired never-settled reservations (charged), and what live reservations hold. */
  private states(providerId: string, rules: QuotaRule[], now: number, keys = this.ruleKeys(providerId, rules, now)): QuotaState[] {
    if (!rules.length) return [];
    this.mirror.loadUsage(keys);
    const held = this.mirror.held(providerId, now);
    return rules.map((rule, i) => {
      const k = keys[i]!;
      const used = this.mirror.used(k) + this.mirror.charged(providerId, rule.metric, k.startMs, k.resetAtMs, now);
      return quotaState(rule, used, held[rule.metric] ?? 0, k.startMs, k.resetAtMs);
    });
  }

  /** The states as this process reports them: what its own leases hold unused is free for its calls (leases.ts). */
  private ownStates(providerId: string, rules: QuotaRule[], budgets: ResolvedBudget[], now: number): QuotaState[] {
    return [...this.ownView(this.states(providerId, rules, now), providerId, now), ...budgets.map((b) => this.withoutOwnLeases(this.budgetStateOf(b, now), b.counter, now))];
  }

  private ownView(states: QuotaState[], counter: string, now: number): QuotaState[] {
    return this.leases.size ? states.map((s) => this.withoutOwnLeases(s, counter, now)) : states;
  }

  private withoutOwnLeases(state: QuotaState, counter: string, now: number): QuotaState {
    const spare = this.leases.unused(counter, state.rule.metric, now);
    if (spare <= 0) return state;
    return { ...state, ...quotaState(state.rule, state.used, Math.max(0, state.reserved - spare), state.windowStartMs, state.resetAtMs) };
  }

  /** Keeps the call rows near maxCallRows (in batches, so most settles only count). */
  private capCallRows(): void {
    const most = this.maxCallRows + Math.max(10, this.maxCallRows / 10);
    if (this.mirror.callRowsAtMost() <= most) return;
    // id breaks ties so every process replaying this statement deletes the same rows (none if there are few).
    this.db.defer('DELETE FROM calls WHERE id IN (SELECT id FROM calls ORDER BY ts_ms DESC, id DESC LIMIT -1 OFFSET ?)', [this.maxCallRows]);
    this.mirror.setCallRowsAtMost(this.maxCallRows);
  }

  /** A reservation's background fdatasync, kept for its settle (bounded: a caller may never settle or release). */
  private rememberSync(reservationId: string, synced: Promise<boolean>): void {
    if (this.reservationSyncs.size >= MAX_REMEMBERED_SYNCS) this.reservationSyncs.delete(this.reservationSyncs.keys().next().value!);
    this.reservationSyncs.set(reservationId, synced);
  }

  /** True when this instance made the reservation and its record is on disk (waiting for that if needed). */
  private async takeSync(reservationId: string): Promise<boolean> {
    const synced = this.reservationSyncs.get(reservationId);
    if (!synced) return false;
    this.reservationSyncs.delete(reservationId);
    return synced;
  }

  private pruneIfDue(now: number): void {
    // pruned_at only moves forward: while the value last read is recent, no prune is due and nothing is read.
    if (now - this.prunedAtSeen < PRUNE_EVERY_MS) return;
    const last = Number(this.db.all("SELECT value FROM meta WHERE key = 'pruned_at'", [])[0]?.value ?? 0);
    this.prunedAtSeen = last;
    if (now - last < PRUNE_EVERY_MS) return;
    this.db.run("INSERT OR REPLACE INTO meta VALUES ('pruned_at', ?)", [String(now)]);
    const staleWindows = `(win = 'minute' AND start_ms < ?) OR (win = 'day' AND start_ms < ?) OR (win = 'month' AND start_ms < ?)`;
    const cutoffs = staleWindowCutoffs(now);
    this.db.run(`DELETE FROM usage WHERE ${staleWindows}`, cutoffs);
    this.db.run(`DELETE FROM thresholds WHERE ${staleWindows}`, cutoffs);
    this.db.run('DELETE FROM calls WHERE ts_ms < ?', [now - this.callRetentionMs]);
    this.db.run('DELETE FROM cooldowns WHERE until_ms <= ?', [now]);
    // Expired never-settled reservations are charged in the windows they were made in: kept as long as those.
    this.db.run('DELETE FROM reservations WHERE created_ms < ?', [now - WINDOW_RETENTION_MS]);
  }
}
