// Percentile / throughput / ratio math of the benchmark (lib/bench/stats.ts) and the runner's
// bookkeeping with a fake estimator.
import { describe, expect, test } from 'vitest';
import { computeRatios, roundNumbers } from '../lib/bench/report';
import { runBenchmark, runConcurrent, summarizeStages } from '../lib/bench/runner';
import { mean, percentile, speedup, summarize, throughput } from '../lib/bench/stats';

describe('percentile (linear interpolation, numpy default)', () => {
  test('matches numpy.percentile on small lists', () => {
    // numpy.percentile([1, 2, 3, 4], [50, 90, 99]) -> [2.5, 3.7, 3.97]
    expect(percentile([4, 1, 3, 2], 50)).toBeCloseTo(2.5, 12);
    expect(percentile([4, 1, 3, 2], 90)).toBeCloseTo(3.7, 12);
    expect(percentile([4, 1, 3, 2], 99)).toBeCloseTo(3.97, 12);
    // numpy.percentile([10, 20, 30, 40, 50], 90) -> 46.0
    expect(percentile([50, 10, 40, 20, 30], 90)).toBeCloseTo(46, 12);
  });

  test('edges: 0 and 100 are min and max, one value is every percentile, empty is NaN', () => {
    const v = [7, 3, 9, 1];
    expect(percentile(v, 0)).toBe(1);
    expect(percentile(v, 100)).toBe(9);
    expect(percentile([5], 50)).toBe(5);
    expect(percentile([5], 99)).toBe(5);
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile(v, 101)).toThrow(RangeError);
    expect(() => percentile(v, -1)).toThrow(RangeError);
  });

  test('does not reorder its input', () => {
    const v = [3, 1, 2];
    percentile(v, 50);
    expect(v).toEqual([3, 1, 2]);
  });

  test('1..100: p50 = 50.5, p90 = 90.1, p99 = 99.01', () => {
    const v = Array.from({ length: 100 }, (_, i) => 100 - i);
    const s = summarize(v);
    expect(s.count).toBe(100);
    expect(s.mean).toBeCloseTo(50.5, 12);
    expect(s.min).toBe(1);
    expect(s.max).toBe(100);
    expect(s.p50).toBeCloseTo(50.5, 12);
    expect(s.p90).toBeCloseTo(90.1, 12);
    expect(s.p99).toBeCloseTo(99.01, 12);
  });
});

describe('throughput, mean, speedup', () => {
  test('images per second from wall milliseconds', () => {
    expect(throughput(20, 4000)).toBe(5);
    expect(throughput(3, 1500)).toBe(2);
    expect(throughput(1, 0)).toBeNaN();
  });

  test('mean', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(mean([])).toBeNaN();
  });

  test('speedup = peer / ours, null when undefined or not finite', () => {
    expect(speedup(300, 100)).toBe(3);
    expect(speedup(50, 100)).toBe(0.5);
    expect(speedup(undefined, 100)).toBeNull();
    expect(speedup(100, 0)).toBeNull();
    expect(speedup(NaN, 1)).toBeNull();
  });
});

describe('ratios against the peer', () => {
  const ours = [
    { resolution: 256, concurrency: 1, batch: 1, iterations: 2, wallMs: 200, throughput: 10, latency: summarize([100, 100]), stages: {} },
    { resolution: 256, concurrency: 4, batch: 1, iterations: 2, wallMs: 100, throughput: 20, latency: summarize([200, 200]), stages: {} },
    { resolution: 512, concurrency: 1, batch: 1, iterations: 2, wallMs: 800, throughput: 2.5, latency: summarize([400, 400]), stages: {} },
  ];

  test('only concurrency 1 and only resolutions both sides measured', () => {
    const peer = { results: [{ resolution: 256, concurrency: 1, throughput: 2, latency: { p50: 500, mean: 450 } }] };
    expect(computeRatios(ours, peer)).toEqual([
      { resolution: 256, concurrency: 1, latencyP50: 5, latencyMean: 4.5, throughput: 5 },
    ]);
  });

  test('no peer results: no ratios', () => {
    expect(computeRatios(ours, {})).toEqual([]);
  });

  test('roundNumbers rounds nested numbers and keeps the rest', () => {
    expect(roundNumbers({ a: 1.23456, b: [2.00049, 'x', null], c: { d: 3 } })).toEqual({ a: 1.235, b: [2, 'x', null], c: { d: 3 } });
  });
});

describe('runner', () => {
  /** A fake estimator: each request takes `ms` and reports fixed stage times. */
  function fake(ms: number) {
    let inFlight = 0;
    let maxInFlight = 0;
    const calls: number[] = [];
    const batchSizes: number[] = [];
    const estimate = async (_image: string, options: { processingResolution: number; seed: number }) => {
      calls.push(options.processingResolution);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, ms));
      inFlight--;
      return { timings: { decode: 1, preprocess: 2, inference: ms - 4, postprocess: 1, copy: 0, total: ms } };
    };
    return {
      calls,
      batchSizes,
      get maxInFlight() {
        return maxInFlight;
      },
      estimate,
      async estimateBatch(images: string[], options: { processingResolution: number; seed: number }) {
        batchSizes.push(images.length);
        const result = await estimate(images[0]!, options);
        return images.map(() => result);
      },
    };
  }

  test('runConcurrent keeps at most `concurrency` requests in flight and counts each once', async () => {
    const target = fake(5);
    const run = await runConcurrent(target, 'img', 64, 0, 1, 9, 3);
    expect(run.latencies).toHaveLength(9);
    expect(run.timings).toHaveLength(9);
    expect(target.maxInFlight).toBe(3);
    expect(run.wallMs).toBeGreaterThan(0);
  });

  test('runBenchmark: one cold request, warm-ups per resolution, one case per (resolution, concurrency)', async () => {
    const target = fake(2);
    const phases: string[] = [];
    const result = await runBenchmark(target, 'img', {
      resolutions: [64, 128], concurrency: [1, 2], iterations: 4, warmup: 2, seed: 0, batch: 1,
      onProgress: (phase) => phases.push(phase),
    });
    expect(result.cold.resolution).toBe(64);
    expect(result.cold.timings.total).toBe(2);
    // 1 cold + 2 resolutions x (2 warm-up + 2 concurrency levels x 4 timed)
    expect(target.calls).toHaveLength(1 + 2 * (2 + 2 * 4));
    expect(result.results.map((r) => [r.resolution, r.concurrency])).toEqual([[64, 1], [64, 2], [128, 1], [128, 2]]);
    for (const r of result.results) {
      expect(r.latency.count).toBe(4);
      expect(r.throughput).toBeCloseTo((4 * 1000) / r.wallMs, 9);
      expect(r.stages.inference).toEqual({ mean: -2, p50: -2 });
      expect(r.stages.decode).toEqual({ mean: 1, p50: 1 });
    }
    expect(phases).toContain('cold request');
    expect(phases).toContain('warm-up 128');
    expect(target.batchSizes).toEqual([]);
  });

  test('runBenchmark with batch 3: every request is one estimateBatch() of 3, throughput counts images', async () => {
    const target = fake(2);
    const result = await runBenchmark(target, 'img', { resolutions: [64], concurrency: [1], iterations: 5, warmup: 1, seed: 0, batch: 3 });
    expect(target.batchSizes).toEqual(Array(1 + 1 + 5).fill(3));
    const [r] = result.results;
    expect(r!.batch).toBe(3);
    expect(r!.latency.count).toBe(5);
    expect(r!.throughput).toBeCloseTo((5 * 3 * 1000) / r!.wallMs, 9);
  });

  test('summarizeStages skips stages no request reported', () => {
    expect(summarizeStages([{ inference: 4 }, { inference: 6 }])).toEqual({ inference: { mean: 5, p50: 5 } });
  });
});
