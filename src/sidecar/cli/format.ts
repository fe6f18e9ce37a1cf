/** What the commands print: tables, amounts, times and diagnostics, shared so every command looks the same. */
import { formatDiagnostic, type Diagnostic } from '../../core/diagnostics';
import { isDirectory } from '../../core/paths';
import { UserError } from '../../core/errors';
import { redact } from '../../core/redact';

/** The workspace must be an existing folder; anything else is a one-line user error. */
export function checkWorkspace(workspace: string, given: unknown): void {
  if (!isDirectory(workspace)) throw new UserError(`--workspace ${typeof given === 'string' ? given : workspace}: not a directory`);
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** Diagnostics go to stderr, one per line ("file:line:column: severity: message"), redacted. */
export function printDiagnostics(diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) process.stderr.write(redact(formatDiagnostic(d)) + '\n');
}

/** "2 error(s), 1 warning(s)" with where they went. */
export function diagnosticSummary(diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  return `${errors} error(s), ${diagnostics.length - errors} warning(s)${diagnostics.length ? ' (on stderr)' : ''}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatAmount(metric: string, n: number): string {
  if (metric === 'usd') return `$${n.toFixed(4)}`;
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export function percentUsed(limit: number, left: number): number {
  if (limit <= 0) return left <= 0 ? 100 : 0;
  return Math.round(((limit - left) / limit) * 1000) / 10;
}

/** "in 3h 20m", "in 45s"; the moment itself is in the JSON output. */
export function timeUntil(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  if (!Number.isFinite(ms)) return '-';
  if (ms <= 0) return 'now';
  const s = Math.ceil(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `in ${d}d ${h}h`;
  if (h > 0) return `in ${h}h ${m}m`;
  if (m > 0) return `in ${m}m`;
  return `in ${s}s`;
}

export function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
