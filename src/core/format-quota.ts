/** How quota figures read in the editor's Quota view and the dashboard: one wording for both. */

/** Time until a reset or the end of a pause: "now", "5 min", "3 h 12 min", "4 d" (minutes rounded up). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return 'now';
  const minutes = Math.ceil(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d`;
}

/** A quota amount: whole numbers with thousands separators, fractions to two places. */
export function formatAmount(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(2);
}
