/** Small helpers every bench uses, so figures are computed the same way everywhere. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export function summary(samplesMs: number[]): { n: number; p50_ms: number; p99_ms: number; mean_ms: number } {
  const mean = samplesMs.reduce((a, b) => a + b, 0) / Math.max(1, samplesMs.length);
  return { n: samplesMs.length, p50_ms: round(percentile(samplesMs, 50)), p99_ms: round(percentile(samplesMs, 99)), mean_ms: round(mean) };
}

export function ratio(a: number, b: number): number {
  return b === 0 ? NaN : round(a / b, 3);
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Times fn n times (after warmup runs) and returns milliseconds per run. */
export async function time(n: number, fn: (i: number) => unknown | Promise<unknown>, warmup = Math.min(20, n)): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}
