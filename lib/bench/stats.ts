// Latency statistics for the benchmark. Percentiles use linear interpolation between closest ranks
// (numpy.percentile's default, "type 7"), so scripts/bench_pytorch.py reports comparable figures.

export interface LatencySummary {
  count: number;
  mean: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
}

/** The q-th percentile (0..100) of `values`; NaN for an empty list. Does not modify `values`. */
export function percentile(values: readonly number[], q: number): number {
  if (!(q >= 0 && q <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${q}`);
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const frac = rank - lo;
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * frac;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export function summarize(values: readonly number[]): LatencySummary {
  return {
    count: values.length,
    mean: mean(values),
    min: values.length ? Math.min(...values) : NaN,
    max: values.length ? Math.max(...values) : NaN,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
  };
}

/** Images per second for `images` requests finished in `wallMs` of wall-clock time. */
export function throughput(images: number, wallMs: number): number {
  if (!(wallMs > 0)) return NaN;
  return (images * 1000) / wallMs;
}

/** Peer latency / our latency: > 1 means we are faster. null when either side is missing. */
export function speedup(peerMs: number | undefined, oursMs: number | undefined): number | null {
  if (peerMs === undefined || oursMs === undefined) return null;
  if (!Number.isFinite(peerMs) || !Number.isFinite(oursMs) || oursMs <= 0) return null;
  return peerMs / oursMs;
}

/** Rounds for display and JSON (three decimals keeps sub-millisecond stages visible). */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
