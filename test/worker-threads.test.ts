// The addon and the CPU backend in worker_threads: four workers serve 200 requests each at once, with
// the results of the main thread bit for bit, while other workers are terminated with requests in
// flight (sharp decoding, lotus-trt's native pixel work on the libuv pool), all in this one process.
// onnxruntime runs in a process of its own (docs/design.md, "Worker threads"); terminating a worker
// mid-run is tested in cpu-host-process.test.ts.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { createEstimator } from '../lib/index';
import { tempFolder } from './helpers/temp-folder';

const DIST = path.join(__dirname, '..', 'dist', 'index.js');
const fixtureModel = path.join(__dirname, 'fixtures', 'tiny-depth-g.onnx');
const { dir } = tempFolder('lotus-workers-');

// Request i of worker w: a 64x48 image and seed of its own. The same code runs in the main thread.
const INPUT = `
  const input = (w, i) => ({
    data: Uint8Array.from({ length: 64 * 48 * 3 }, (_, k) => (k * (w + 3) + i * 11 + (k >> 7)) & 255),
    width: 64, height: 48, channels: 3,
  });
  const digest = (result) => require('node:crypto').createHash('sha1').update(Buffer.from(result.data.buffer, result.data.byteOffset, result.data.byteLength)).digest('hex');
`;

const SERVE = `
  const { parentPort, workerData } = require('node:worker_threads');
  const { createEstimator } = require(workerData.dist);
  ${INPUT}
  (async () => {
    const estimator = await createEstimator(workerData.model, {
      backend: 'cpu', processingResolution: 64, cpu: { intraOpThreads: 1 }, batching: { maxBatch: 4, maxDelayMs: 2 }, onWarning: () => {},
    });
    const digests = await Promise.all(Array.from({ length: workerData.requests }, (_, i) =>
      estimator.estimate(input(workerData.id, i), { seed: i }).then(digest)));
    await estimator.close();
    parentPort.postMessage({ digests });
  })().catch((error) => parentPort.postMessage({ error: String(error && error.stack || error) }));
`;

// Requests in flight while decoding large JPEGs (hundreds of ms each on the pool) when terminated.
const DECODING = `
  const { parentPort, workerData } = require('node:worker_threads');
  const { createEstimator } = require(workerData.dist);
  (async () => {
    const estimator = await createEstimator(workerData.model, { backend: 'cpu', processingResolution: 64, batching: true, onWarning: () => {} });
    const bytes = require('node:fs').readFileSync(workerData.jpeg);
    for (let i = 0; i < 4; i++) estimator.estimate(bytes).catch(() => {});
    parentPort.postMessage('in flight');
  })();
`;

// lotus-trt's own native work on the libuv pool (the CPU backend's pre/postprocessing and noise) in a loop.
const NATIVE = `
  const { parentPort, workerData } = require('node:worker_threads');
  const binding = require(workerData.dist).native();
  (async () => {
    const pixels = new Uint8Array(1500 * 1000 * 3).fill(77);
    parentPort.postMessage('in flight');
    for (;;) {
      const pre = await Promise.all(Array.from({ length: 4 }, () => binding.preprocess(pixels, 1500, 1000, 3, { processingResolution: 768 })));
      await binding.postprocess(pre[0].tensor, [1, 3, 512, 768], { task: 'depth', outputWidth: 1500, outputHeight: 1000, resample: 'bilinear' });
      binding.gaussianNoise(1, 4096);
    }
  })();
`;

// An estimator that has served requests and is idle (its onnxruntime session open) when terminated.
const IDLE = `
  const { parentPort, workerData } = require('node:worker_threads');
  const { createEstimator } = require(workerData.dist);
  (async () => {
    const estimator = await createEstimator(workerData.model, { backend: 'cpu', processingResolution: 64, onWarning: () => {} });
    await estimator.estimate({ data: new Uint8Array(64 * 48 * 3), width: 64, height: 48, channels: 3 });
    setInterval(() => {}, 1000); // stays up until terminated
    parentPort.postMessage('in flight');
  })();
`;

function start(code: string, data: Record<string, unknown>): Worker {
  return new Worker(code, { eval: true, workerData: { dist: DIST, model: fixtureModel, ...data } });
}

/** Starts a worker, waits for its 'in flight' message, then terminates it after `delayMs`; resolves with its exit code. */
function terminateMidRequest(code: string, data: Record<string, unknown>, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const worker = start(code, data);
    worker.once('error', reject);
    worker.once('message', () => setTimeout(() => void worker.terminate().then(resolve, reject), delayMs));
  });
}

describe.skipIf(!fs.existsSync(fixtureModel) || !fs.existsSync(DIST))('worker_threads (CPU backend)', () => {
  test('4 workers x 200 requests match the main thread bit for bit, while 7 other workers are terminated mid-request', async () => {
    const t0 = performance.now();
    const marks: string[] = [];
    const mark = (what: string) => marks.push(`${what} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const jpeg = path.join(dir, 'large.jpg');
    const pattern = Buffer.alloc(6000 * 4000 * 3);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7 + (i >> 12)) & 255;
    await sharp(pattern, { raw: { width: 6000, height: 4000, channels: 3 } }).jpeg({ quality: 90 }).toFile(jpeg);

    mark('6000x4000 JPEG written');
    const requests = 200;
    const serving = [0, 1, 2, 3].map((id) => new Promise<string[]>((resolve, reject) => {
      const worker = start(SERVE, { id, requests });
      worker.once('message', (m: { digests?: string[]; error?: string }) => (m.digests ? resolve(m.digests) : reject(new Error(m.error))));
      worker.once('error', reject);
    }));
    // Meanwhile: workers terminated with requests in flight; each terminate() resolves with exit code 1.
    const exits: number[] = [];
    for (const delay of [0, 5]) exits.push(await terminateMidRequest(DECODING, { jpeg }, delay));
    mark('2 decoding workers terminated');
    for (const delay of [0, 3, 17, 40]) exits.push(await terminateMidRequest(NATIVE, {}, delay));
    mark('4 native-work workers terminated');
    exits.push(await terminateMidRequest(IDLE, {}, 0));
    mark('an idle estimator terminated');
    expect(exits).toEqual([1, 1, 1, 1, 1, 1, 1]);

    const digests = await Promise.all(serving);
    mark('4 x 200 served');
    console.log(`worker_threads: ${marks.join(', ')}`);
    expect(digests.map((d) => d.length)).toEqual([requests, requests, requests, requests]);
    // The main thread computes a sample of each worker's requests: the same bits.
    const { input, digest } = new Function('require', `${INPUT}; return { input, digest };`)(require) as {
      input: (w: number, i: number) => { data: Uint8Array; width: number; height: number; channels: 3 };
      digest: (r: { data: Float32Array }) => string;
    };
    const estimator = await createEstimator(fixtureModel, { backend: 'cpu', processingResolution: 64 });
    try {
      for (let w = 0; w < 4; w++) {
        for (const i of [0, 1, 57, 199]) {
          const result = await estimator.estimate(input(w, i), { seed: i });
          expect(digest(result as { data: Float32Array }), `worker ${w} request ${i}`).toBe(digests[w]![i]);
        }
      }
    } finally {
      await estimator.close();
    }
    // Different inputs gave different results (a worker returning one digest throughout would fail).
    expect(new Set(digests.flat()).size).toBe(4 * requests);
    expect(createHash('sha1').update('').digest('hex')).not.toBe(digests[0]![0]);
  }, 300_000);
});
