// One measurement of scripts/bench-cpu-load in a fresh process (so that its peak RSS is its own):
// load the model on the CPU backend, optionally run requests at one resolution, print one JSON line.
//   node dist/bench/cpu-load-child.js '<json ChildRequest>'
import fs from 'node:fs';
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
  /** getrusage's maxRSS of this process: the most memory it held at once, load included. */
  peakRssBytes: number;
  /**
   * Linux: peaks of the anonymous and the file-backed part of the RSS, sampled every 20 ms by a
   * worker thread (onnxruntime blocks the main one). The file-backed part is mostly the mmapped
   * weights, which the kernel can drop and re-read under memory pressure.
   */
  peakRssAnonBytes?: number;
  peakRssFileBytes?: number;
}

const SAMPLER = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
let anon = 0, file = 0;
const read = () => {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kib = (key) => Number((status.split(String.fromCharCode(10)).find((l) => l.startsWith(key + ':')) || '').replace(/[^0-9]/g, '')) * 1024;
  anon = Math.max(anon, kib('RssAnon'));
  file = Math.max(file, kib('RssFile'));
};
const timer = setInterval(read, 20);
parentPort.on('message', () => { clearInterval(timer); read(); parentPort.postMessage({ anon, file }); });
`;

/** Peaks of RssAnon / RssFile over the measurement (Linux; undefined elsewhere). */
function startRssSampler(): () => Promise<{ anon: number; file: number } | undefined> {
  if (!fs.existsSync('/proc/self/status')) return async () => undefined;
  const worker = new Worker(SAMPLER, { eval: true });
  return () => new Promise((resolve) => {
    worker.once('message', (peaks: { anon: number; file: number }) => {
      void worker.terminate();
      resolve(peaks);
    });
    worker.postMessage('stop');
  });
}

async function main(request: ChildRequest): Promise<ChildResult> {
  const stopSampler = startRssSampler();
  const result = await measure(request);
  const peaks = await stopSampler();
  return peaks ? { ...result, peakRssAnonBytes: peaks.anon, peakRssFileBytes: peaks.file } : result;
}

async function measure(request: ChildRequest): Promise<ChildResult> {
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
    if (request.resolution === undefined) {
      return { loadMs, loadPhases: phases, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
    }
    const bytes = await fs.promises.readFile(request.image);
    // The first request after a load is timed on its own: it also pays for reading the weights
    // (page faults on the mmapped ones).
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
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    await estimator.close();
  }
}

if (require.main === module) {
  main(JSON.parse(process.argv[2] ?? '{}') as ChildRequest)
    .then((result) => process.stdout.write(`${JSON.stringify(result)}\n`))
    .catch((error) => {
      process.stderr.write(`${(error as Error)?.stack ?? error}\n`);
      process.exit(1);
    });
}
