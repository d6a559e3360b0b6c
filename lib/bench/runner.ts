// Measures an estimator: one cold request, then per resolution a warm-up and, per concurrency
// level, `iterations` timed requests kept `concurrency` in flight, each of `batch` images. Latency
// is wall-clock from the call to the resolved promise (queueing included) of the whole request;
// stage times come from result.timings (of the batch).
import { performance } from 'node:perf_hooks';
import { summarize, throughput, type LatencySummary } from './stats';

export const STAGES = ['decode', 'preprocess', 'inference', 'postprocess', 'copy', 'total'] as const;
export type Stage = (typeof STAGES)[number];
export type StageTimings = Partial<Record<Stage, number>>;

/** What the runner needs from an estimator (LotusEstimator satisfies it). */
export interface BenchTarget<I> {
  estimate(image: I, options: { processingResolution: number; seed: number }): Promise<{ timings: StageTimings }>;
  estimateBatch(images: I[], options: { processingResolution: number; seed: number }): Promise<Array<{ timings: StageTimings }>>;
}

export interface RunnerOptions {
  resolutions: number[];
  concurrency: number[];
  iterations: number;
  warmup: number;
  seed: number;
  /** Images per request: 1 calls estimate(), more call estimateBatch() with that many copies. */
  batch: number;
  /** Called before each phase and after each timed request. */
  onProgress?: (phase: string, step: number, steps: number) => void;
}

export interface StageSummary {
  mean: number;
  p50: number;
}

export interface ColdRequest {
  resolution: number;
  ms: number;
  timings: StageTimings;
}

export interface CaseResult {
  resolution: number;
  concurrency: number;
  batch: number;
  iterations: number;
  /** Wall-clock time of the timed requests, first call to last resolve. */
  wallMs: number;
  /** iterations * batch / wall seconds. */
  throughput: number;
  latency: LatencySummary;
  stages: Partial<Record<Stage, StageSummary>>;
}

export interface RunResult {
  cold: ColdRequest;
  results: CaseResult[];
}

async function timed<I>(target: BenchTarget<I>, image: I, resolution: number, seed: number, batch: number) {
  const options = { processingResolution: resolution, seed };
  const start = performance.now();
  const result = batch === 1
    ? await target.estimate(image, options)
    : (await target.estimateBatch(Array.from({ length: batch }, () => image), options))[0]!;
  return { ms: performance.now() - start, timings: { ...result.timings } };
}

export function summarizeStages(timings: readonly StageTimings[]): Partial<Record<Stage, StageSummary>> {
  const out: Partial<Record<Stage, StageSummary>> = {};
  for (const stage of STAGES) {
    const values = timings.map((t) => t[stage]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    if (values.length === 0) continue;
    const s = summarize(values);
    out[stage] = { mean: s.mean, p50: s.p50 };
  }
  return out;
}

/** `count` requests with at most `concurrency` in flight (workers pulling from a shared counter). */
export async function runConcurrent<I>(
  target: BenchTarget<I>, image: I, resolution: number, seed: number, batch: number, count: number, concurrency: number,
  onDone?: (done: number) => void,
): Promise<{ wallMs: number; latencies: number[]; timings: StageTimings[] }> {
  const latencies: number[] = [];
  const timings: StageTimings[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const r = await timed(target, image, resolution, seed, batch);
      latencies.push(r.ms);
      timings.push(r.timings);
      onDone?.(latencies.length);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { wallMs: performance.now() - start, latencies, timings };
}

export async function runBenchmark<I>(target: BenchTarget<I>, image: I, options: RunnerOptions): Promise<RunResult> {
  const { resolutions, concurrency, iterations, warmup, seed, batch, onProgress } = options;
  if (resolutions.length === 0 || concurrency.length === 0) throw new RangeError('no resolutions or concurrency levels');

  onProgress?.('cold request', 0, 1);
  const first = await timed(target, image, resolutions[0]!, seed, batch);
  const cold: ColdRequest = { resolution: resolutions[0]!, ms: first.ms, timings: first.timings };

  const results: CaseResult[] = [];
  for (const resolution of resolutions) {
    for (let i = 0; i < warmup; i++) {
      onProgress?.(`warm-up ${resolution}`, i, warmup);
      await timed(target, image, resolution, seed, batch);
    }
    for (const c of concurrency) {
      const phase = `res ${resolution} x${c}`;
      onProgress?.(phase, 0, iterations);
      const run = await runConcurrent(target, image, resolution, seed, batch, iterations, c, (done) => onProgress?.(phase, done, iterations));
      results.push({
        resolution,
        concurrency: c,
        batch,
        iterations,
        wallMs: run.wallMs,
        throughput: throughput(iterations * batch, run.wallMs),
        latency: summarize(run.latencies),
        stages: summarizeStages(run.timings),
      });
    }
  }
  return { cold, results };
}
