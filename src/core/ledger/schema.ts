/**
 * The ledger file's schema. `PRAGMA user_version` carries SCHEMA_VERSION so a later release can migrate
 * (and an older one refuses a newer file instead of mistaking it for corruption).
 *
 * Usage is aggregated per (provider, metric, window, zone, window start) rather than summed from call rows,
 * so the file stays small however many calls are made; call rows are kept only for a bounded time and count.
 */
export const SCHEMA_VERSION = 2;

export const SCHEMA_V1 = `
CREATE TABLE usage (
  provider TEXT NOT NULL, metric TEXT NOT NULL, win TEXT NOT NULL, tz TEXT NOT NULL, start_ms INTEGER NOT NULL,
  used REAL NOT NULL,
  PRIMARY KEY (provider, metric, win, tz, start_ms)
) WITHOUT ROWID;
CREATE TABLE reservations (
  id TEXT PRIMARY KEY, provider TEXT NOT NULL,
  requests REAL NOT NULL, input_chars REAL NOT NULL, tokens REAL NOT NULL, usd REAL NOT NULL,
  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL
);
CREATE INDEX reservations_provider ON reservations (provider, expires_ms);
CREATE TABLE calls (
  id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, tier TEXT NOT NULL,
  task TEXT, actor TEXT, ok INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL, baseline_usd REAL NOT NULL
);
CREATE INDEX calls_ts ON calls (ts_ms);
CREATE TABLE spend (month TEXT PRIMARY KEY, calls INTEGER NOT NULL, usd REAL NOT NULL, baseline_usd REAL NOT NULL);
CREATE TABLE thresholds (
  provider TEXT NOT NULL, metric TEXT NOT NULL, win TEXT NOT NULL, tz TEXT NOT NULL, quota_limit REAL NOT NULL,
  start_ms INTEGER NOT NULL, threshold REAL NOT NULL,
  PRIMARY KEY (provider, metric, win, tz, quota_limit, start_ms, threshold)
) WITHOUT ROWID;
CREATE TABLE cooldowns (key TEXT PRIMARY KEY, until_ms INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE circuits (provider TEXT PRIMARY KEY, failures INTEGER NOT NULL, open_until_ms INTEGER);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
PRAGMA user_version = 1;
`;

/** Each version's change from the one before; a file is brought up to date when it is loaded. */
export const MIGRATIONS: Record<number, string> = {
  // Calls record who made them (the team server's principal and team).
  2: 'ALTER TABLE calls ADD COLUMN principal TEXT; ALTER TABLE calls ADD COLUMN team TEXT; PRAGMA user_version = 2;',
};

export function migrationsFrom(version: number): string {
  let sql = '';
  for (let v = version + 1; v <= SCHEMA_VERSION; v++) sql += MIGRATIONS[v]!;
  return sql;
}
