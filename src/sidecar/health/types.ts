import type { EnvRef } from './env-refs';

export type HealthStatus = 'healthy' | 'failing' | 'optional-off' | 'skipped';

/** One server's check, as `servers --check --json` and `list_servers {check: true}` show it. */
export interface ServerHealth {
  id: string;
  status: HealthStatus;
  /** Spawn (or first request) to tools/list answered. */
  latencyMs?: number;
  toolCount?: number;
  /** Why it is failing or skipped: plain, one line, no env values. */
  error?: string;
  /** Anything else worth knowing about a healthy result. */
  note?: string;
  /** Environment variables the definition references: names only, with whether each is set. */
  env: EnvRef[];
  /** From the health cache rather than checked just now. */
  cached: boolean;
  /** ISO time of the check. */
  checkedAt?: string;
}
