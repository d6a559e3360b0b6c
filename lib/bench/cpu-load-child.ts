// One measurement of scripts/bench-cpu-load in a fresh process (so that its peak RSS is its own):
// load the model on the CPU backend, optionally run requests at one resolution, print one JSON line.
//   node dist/bench/cpu-load-child.js '<json ChildRequest>'
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { createEstimator } from '../estimator/estimator';
import type { CpuOptions } from '../estimator/options';
import { runConcurrent } from './runner';
import { summarize, type LatencySummary } from './stats';

export interface ChildRequest {
  model: string;
  image: string;
  cpu: CpuOptions;
  /** Processing resolution of the timed requests; omitted: load only. */
  resolution?: number;
  iterations: number;
  warmup: number;
  seed: number;
  /** Where to write the first request's depth (raw float32 bytes), for comparisons between settings. */
  output?: string;
}

export interface ChildResult {
  loadMs: number;
  /** Phases the CPU backend reported while loading (e.g. "optimising model ..."). */
  loadPhases: string[];
  /** Latency of the timed requests (after the first and `warmup` untimed ones). */
  latency?: LatencySummary;
  /** The first request after the load. */
  firstMs?: number;
  /** This process's maxRSS plus its onnxruntime process's VmHWM: the most memory the two held, load included. */
  peakRssBytes: number;
  /**
   * Linux: peaks of the anonymous and the file-backed part of the RSS of both processes together,
   * sampled every 20 ms by a worker thread. The file-backed part is mostly the mmapped weights,
   * which the kernel can drop and re-read under memory pressure.
   */
  peakRssAnonBytes?: number;
  peakRssFileBytes?: number;
}

// Samples this process and its children (the CPU backend's onnxruntime process) every 20 ms from a
// worker thread, with proc.ts (its compiled path is the worker's data).
const SAMPLER = `
const { parentPort, workerData } = require('node:worker_threads');
const { childPids, procMemory } = require(workerData);
const peaks = { anon: 0, file: 0, childHwm: 0 };
const read = () => {
  const children = childPids().map(procMemory).filter(Boolean); // undefined: a child that has just exited
  let anon = 0, file = 0;
  for (const m of [procMemory('self'), ...children]) {
    anon += m.anon;
    file += m.file;
  }
  for (const m of children) peaks.childHwm = Math.max(peaks.childHwm, m.hwm);
  peaks.anon = Math.max(peaks.anon, anon);
  peaks.file = Math.max(peaks.file, file);
};
const timer = setInterval(read, 20);
parentPort.on('message', () => { clearInterval(timer); read(); parentPort.postMessage(peaks); });
`;

interface SampledPeaks {
  anon: number;
  file: number;
  /** VmHWM of the onnxruntime process (the largest child), as last read before it exited. */
  childHwm: number;
}

/** Peaks of RssAnon / RssFile of this process and its children (Linux; undefined elsewhere). */
function startRssSampler(): () => Promise<SampledPeaks | undefined> {
  if (!fs.existsSync('/proc/self/status')) return async () => undefined;
  const worker = new Worker(SAMPLER, { eval: true, workerData: path.join(__dirname, 'proc.js') });
  return () => new Promise((resolve) => {
    worker.once('message', (peaks: SampledPeaks) => {
      void worker.terminate();
      resolve(peaks);
    });
    worker.postMessage('stop');
  });
}

async function main(request: ChildRequest): Promise<ChildResult> {
  return measure(request, startRssSampler());
}

async function measure(request: ChildRequest, stopSampler: () => Promise<SampledPeaks | undefined>): Promise<ChildResult> {
  const phases: string[] = [];
  const started = performance.now();
  const estimator = await createEstimator(request.model, {
    backend: 'cpu',
    cpu: {
      ...request.cpu,
      onProgress: (phase) => {
        if (phases[phases.length - 1] !== phase) phases.push(phase);
      },
    },
    onWarning: (message) => process.stderr.write(`${message}\n`),
  });
  const loadMs = performance.now() - started;
  try {
    if (request.resolution === undefined) return { loadMs, loadPhases: phases, ...(await memory(stopSampler)) };
    const bytes = await fs.promises.readFile(request.image);
    // The first request after a load is timed on its own: onnxruntime's first run at a network size
    // is slower (docs/benchmarks.md), and it pages in mmapped weights.
    const firstStart = performance.now();
    const first = await estimator.estimate(bytes, { processingResolution: request.resolution, seed: request.seed });
    const firstMs = performance.now() - firstStart;
    if (request.output) {
      await fs.promises.writeFile(request.output, Buffer.from(first.data.buffer, first.data.byteOffset, first.data.byteLength));
    }
    const options = { processingResolution: request.resolution, seed: request.seed };
    for (let i = 0; i < request.warmup; i++) await estimator.estimate(bytes, options);
    const run = await runConcurrent(estimator, bytes, request.resolution, request.seed, 1, request.iterations, 1);
    return {
      loadMs,
      loadPhases: phases,
      latency: summarize(run.latencies),
      firstMs,
      ...(await memory(stopSampler)),
    };
  } finally {
    await estimator.close();
  }
}

/**
 * Peak memory, read before the estimator closes (its onnxruntime process is still alive): this
 * process's maxRSS plus the onnxruntime process's VmHWM (an upper bound: the two peaks need not
 * coincide; this process's own is the smaller by far), and the sampled anonymous / file-backed sums.
 */
async function memory(stopSampler: () => Promise<SampledPeaks | undefined>): Promise<Pick<ChildResult, 'peakRssBytes' | 'peakRssAnonBytes' | 'peakRssFileBytes'>> {
  const peaks = await stopSampler();
  const own = process.resourceUsage().maxRSS * 1024;
  if (!peaks) return { peakRssBytes: own };
  return { peakRssBytes: own + peaks.childHwm, peakRssAnonBytes: peaks.anon, peakRssFileBytes: peaks.file };
}

if (require.main === module) {
  main(JSON.parse(process.argv[2] ?? '{}') as ChildRequest)
    .then((result) => process.stdout.write(`${JSON.stringify(result)}\n`))
    .catch((error) => {
      process.stderr.write(`${(error as Error)?.stack ?? error}\n`);
      process.exit(1);
    });
}
