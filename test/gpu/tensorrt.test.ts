// TensorRT backend on a real GPU: engine build, cache hit/miss/corruption, parity with the CPU
// path, concurrency over lanes, and TensorRT's own errors surfacing as TensorRTError.
// Skips (with the reason in the suite name) where there is no usable GPU, no TensorRT or no fixture.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, BackendRequest, RgbImage } from '../../lib/backends/backend';
import { CpuBackend } from '../../lib/backends/cpu';
import { buildPlan, buildSettings, TensorRTBackend } from '../../lib/backends/tensorrt';
import { EngineCache } from '../../lib/cache/engine-cache';
import { createEstimator } from '../../lib/estimator/estimator';
import { TensorRTError } from '../../lib/errors';
import { deviceInfo, deviceMemory, tensorrtInfo } from '../../lib/addon/info';
import { readModelInfo } from '../../lib/model/metadata';
import { native } from '../../lib/addon/load';
import { tensorrtSkipReason } from '../helpers/gpu';

const fixtures = path.join(__dirname, '..', 'fixtures');
const fp16Model = path.join(fixtures, 'tiny-depth-g.fp16.onnx');
const fp32Model = path.join(fixtures, 'tiny-depth-g.onnx');

const reason = tensorrtSkipReason([fp16Model, fp32Model], { parser: false });

// FP16 engine vs FP32 onnxruntime on the same image and noise. Outputs are in [0, 1]; FP16 has an
// 11-bit mantissa (~5e-4 relative) and the tiny graph accumulates a few hundred such roundings.
const PARITY_MAX_ABS = 2e-2;
const PARITY_MEAN_ABS = 3e-3;

function testImage(width: number, height: number, seed = 1): RgbImage {
  const data = new Uint8Array(width * height * 3);
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    const x = (i / 3) % width;
    const y = Math.floor(i / 3 / width);
    data[i] = ((x * 255) / width + (y * 97) / height + (state >>> 24) / 8) & 0xff;
  }
  return { data, width, height, channels: 3 };
}

/** A request for `count` images, each with seed 7 (or the given noise sources). */
const request = (count: number, noise: BackendRequest['noise'] = Array.from({ length: count }, () => ({ seed: 7 }))): BackendRequest =>
  ({ processingResolution: 0, outputResample: 'nearest', noise });

/** One image through a backend: its single-image batch's output. */
async function runOne(backend: Backend, image: RgbImage) {
  const { outputs } = await backend.run([image], request(1));
  return outputs[0]!;
}

function diff(a: Float32Array, b: Float32Array) {
  expect(a.length).toBe(b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

describe.skipIf(reason !== undefined)(`TensorRT backend${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let cacheDir: string;
  let backend: TensorRTBackend | undefined;
  const warnings: string[] = [];

  beforeAll(() => {
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-trt-gpu-'));
  });
  afterAll(async () => {
    await backend?.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  const options = (extra = {}) => ({
    device: 0,
    tensorrt: { cacheDir, lanes: 2, minSize: 64, maxSize: 512, optSize: [128, 192] as [number, number], ...extra },
    onWarning: (message: string) => warnings.push(message),
  });

  it('builds the FP16 fixture (cache miss) with progress, then loads it from the cache', async () => {
    const model = readModelInfo(fp16Model);
    const phases = new Set<string>();
    backend = await TensorRTBackend.create(model, {
      ...options(),
      tensorrt: { ...options().tensorrt, onProgress: (phase: string) => phases.add(phase) },
    });
    expect(backend.engineSource).toBe('built');
    expect(phases.size).toBeGreaterThan(0);
    const cache = new EngineCache(cacheDir);
    expect(fs.existsSync(cache.planPath(backend.engineKey))).toBe(true);
    const sidecar = JSON.parse(fs.readFileSync(cache.sidecarPath(backend.engineKey), 'utf8'));
    expect(sidecar.environment.libraryVersion).toBe(tensorrtInfo().libraryVersion);
    expect(fs.readdirSync(cacheDir).some((name) => name.startsWith('timing-'))).toBe(true);

    const again = await TensorRTBackend.create(model, options());
    expect(again.engineSource).toBe('cache');
    expect(again.engineKey).toBe(backend.engineKey);
    await again.close();
  });

  it(`matches the CPU path within FP16 tolerance (max |d| <= ${PARITY_MAX_ABS}, mean |d| <= ${PARITY_MEAN_ABS})`, async () => {
    const cpu: Backend = await CpuBackend.create(readModelInfo(fp32Model));
    try {
      for (const [w, h] of [[192, 128], [200, 136], [64, 64]]) {
        const image = testImage(w, h);
        const [gpu, ref] = await Promise.all([runOne(backend!, image), runOne(cpu, image)]);
        expect([gpu.width, gpu.height]).toEqual([w, h]);
        const { max, mean } = diff(gpu.data, ref.data);
        expect(max, `${w}x${h} max`).toBeLessThanOrEqual(PARITY_MAX_ABS);
        expect(mean, `${w}x${h} mean`).toBeLessThanOrEqual(PARITY_MEAN_ABS);
      }
    } finally {
      await cpu.close();
    }
  });

  it('runs 8 requests in flight over 2 lanes with the results of sequential runs', async () => {
    const images = Array.from({ length: 8 }, (_, i) => testImage(128 + 8 * (i % 3), 96 + 8 * (i % 2), i + 1));
    const sequential: number[][] = [];
    for (const image of images) sequential.push(Array.from((await runOne(backend!, image)).data));
    const concurrent = await Promise.all(images.map((image) => runOne(backend!, image)));
    concurrent.forEach((result, i) => {
      const { max } = diff(result.data, Float32Array.from(sequential[i]));
      expect(max, `request ${i}`).toBeLessThanOrEqual(1e-3);
    });
  });

  it('10,000 requests: the pools stop allocating, hand every buffer back, and host and GPU memory stay flat', async () => {
    const images = [testImage(64, 64, 1), testImage(128, 96, 2), testImage(200, 136, 3)];
    const round = async (i: number) => {
      const output = await runOne(backend!, images[i % images.length]!);
      return output.data.length;
    };
    for (let i = 0; i < 300; i++) await round(i); // every shape seen on both lanes
    const gc = (globalThis as { gc?: () => void }).gc;
    const settle = async () => {
      for (let i = 0; i < 4; i++) {
        gc?.();
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await settle();
    const before = { stats: backend!.memoryStats(), rss: process.memoryUsage().rss, gpuFree: (await deviceMemory(0)).free! };
    for (let i = 0; i < 10_000; i += 2) await Promise.all([round(i), round(i + 1)]);
    await settle();
    const after = { stats: backend!.memoryStats(), rss: process.memoryUsage().rss, gpuFree: (await deviceMemory(0)).free! };
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    console.log(`TensorRT 10,000 requests: RSS ${mib(before.rss)} -> ${mib(after.rss)} MiB; GPU free ${mib(before.gpuFree)} -> ` +
      `${mib(after.gpuFree)} MiB; device pool ${JSON.stringify(after.stats.device)}; pinned pool ${JSON.stringify(after.stats.pinned)}`);
    expect(after.stats.device.allocations).toBe(before.stats.device.allocations);
    expect(after.stats.pinned.allocations).toBe(before.stats.pinned.allocations);
    expect(after.stats.pinned.bytesInUse).toBe(0); // every zero-copy result's finalizer gave its buffer back
    expect(after.stats.inFlight).toBe(0);
    expect(before.gpuFree - after.gpuFree).toBeLessThan(16 * 2 ** 20);
    expect(after.rss - before.rss).toBeLessThan(64 * 2 ** 20);
  }, 600_000);

  it('estimate() results are the pinned buffers themselves and stay intact while later requests run', async () => {
    const estimator = await createEstimator(fp16Model, { backend: 'tensorrt', ...options(), processingResolution: 0 });
    try {
      const first = await estimator.estimate(testImage(128, 96, 1), { seed: 7 });
      expect(first.zeroCopy).toBe(true);
      const snapshot = first.data.slice();
      for (let i = 0; i < 20; i++) await estimator.estimate(testImage(128, 96, i + 2), { seed: 7 });
      expect(first.data).toEqual(snapshot); // its lease is not reused while the result lives
      expect(estimator.gpuMemoryStats()!.pinned.bytesInUse).toBeGreaterThan(0);
    } finally {
      await estimator.close();
    }
  });

  it('rejects sizes and batches outside the profile, naming the parameter', async () => {
    await expect(runOne(backend!, testImage(1024, 64)))
      .rejects.toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'options.processingResolution' });
    // The default profile takes one image per call.
    await expect(backend!.run([testImage(64, 64, 1), testImage(64, 64, 2)], request(2)))
      .rejects.toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'images' });
  });

  it('a batch of 3 on a maxBatch 4 engine equals 3 single runs (FP16 rounding only)', async () => {
    const batched = await TensorRTBackend.create(readModelInfo(fp16Model), options({ maxBatch: 4, lanes: 1 }));
    try {
      expect(batched.maxBatch).toBe(4);
      // Three 128x96 images (the second the first inverted) at native resolution: one network call.
      // (Lotus never pads, so only images reaching the same network size share a call.)
      const first = testImage(128, 96, 1);
      const inverted = { ...first, data: first.data.map((v) => 255 - v) };
      const images = [first, inverted, testImage(128, 96, 3)];
      const { outputs } = await batched.run(images, request(3));
      expect(outputs.map((o) => [o.width, o.height])).toEqual(images.map((im) => [im.width, im.height]));
      const singles: Float32Array[] = [];
      for (const image of images) singles.push((await runOne(batched, image)).data.slice());
      for (const [i, single] of singles.entries()) {
        // The same engine and tactics run N = 1 and N = 3: per-image results agree to FP16 rounding.
        expect(diff(outputs[i]!.data, single).max, `image ${i}`).toBeLessThanOrEqual(5e-3);
      }
      // The first two predictions differ by far more than that, so swapped outputs would fail above.
      expect(diff(singles[0]!, singles[1]!).max).toBeGreaterThan(5e-2);
      await expect(batched.run([testImage(128, 96), testImage(64, 64)], request(2)))
        .rejects.toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'images[1]' });

      // Each image of a call keeps its own noise (requests batched by the estimator): seeds 1 and 2
      // and an explicit array in one call equal their single runs. 128x96 -> noise [1, 4, 12, 16].
      const noise = Float32Array.from({ length: 4 * 12 * 16 }, (_, i) => Math.sin(i * 0.37));
      const sources = [{ seed: 1 }, { seed: 2 }, { seed: 0, noise }];
      const mixed = await batched.run([first, first, first], request(3, sources));
      for (const [i, source] of sources.entries()) {
        const alone = (await batched.run([first], request(1, [source]))).outputs[0]!;
        expect(diff(mixed.outputs[i]!.data, alone.data).max, `noise source ${i}`).toBeLessThanOrEqual(5e-3);
      }
      expect(mixed.outputs[0]!.data).not.toEqual(mixed.outputs[1]!.data);
      await expect(batched.run([first], request(1, [{ seed: 0, noise: new Float32Array(5) }])))
        .rejects.toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'images[0].noise' });
    } finally {
      await batched.close();
    }
  });

  it("device 'all' + batching: one session per GPU, concurrent calls batched, each result its single run's (FP16 rounding)", async () => {
    const sizes: number[] = [];
    const all = await createEstimator(fp16Model, {
      backend: 'tensorrt', ...options({ maxBatch: 4, lanes: 1 }), device: 'all', processingResolution: 0,
      batching: { maxBatch: 4, maxDelayMs: 50 }, onBatch: (b) => sizes.push(b.size),
    });
    const single = await createEstimator(fp16Model, { backend: 'tensorrt', ...options({ maxBatch: 4, lanes: 1 }), processingResolution: 0 });
    try {
      expect(all.stats().devices.map((d) => d.device)).toEqual(deviceInfo().devices.map((d) => d.index));
      const images = Array.from({ length: 6 }, (_, i) => testImage(128, 96, i + 1));
      const batched = await Promise.all(images.map((image, i) => all.estimate(image, { seed: i })));
      expect(Math.max(...sizes)).toBeGreaterThan(1);
      for (const [i, image] of images.entries()) {
        const alone = await single.estimate(image, { seed: i });
        expect(diff(batched[i]!.data, alone.data).max, `request ${i}`).toBeLessThanOrEqual(5e-3);
      }
      const served = all.stats().devices.reduce((n, d) => n + d.images, 0);
      expect(served).toBe(6);
      expect(all.gpuMemoryStats()!.inFlight).toBe(0);
    } finally {
      await all.close();
      await single.close();
    }
  });

  it('rebuilds a plan whose bytes were corrupted on disk (hash mismatch)', async () => {
    const model = readModelInfo(fp16Model);
    const cache = new EngineCache(cacheDir);
    const key = backend!.engineKey;
    const bytes = fs.readFileSync(cache.planPath(key));
    bytes[Math.floor(bytes.length / 2)] ^= 0x5a;
    fs.writeFileSync(cache.planPath(key), bytes);
    warnings.length = 0;
    const rebuilt = await TensorRTBackend.create(model, options());
    expect(rebuilt.engineSource).toBe('built');
    expect(warnings.join('\n')).toMatch(/sha256/);
    await rebuilt.close();
  });

  it('rebuilds a plan TensorRT refuses to deserialize (valid hash, garbage content)', async () => {
    const model = readModelInfo(fp16Model);
    const cache = new EngineCache(cacheDir);
    const key = backend!.engineKey;
    const garbage = crypto.randomBytes(4096);
    const sidecar = JSON.parse(fs.readFileSync(cache.sidecarPath(key), 'utf8'));
    fs.writeFileSync(cache.planPath(key), garbage);
    fs.writeFileSync(cache.sidecarPath(key), JSON.stringify({
      ...sidecar, planSize: garbage.length, planSha256: crypto.createHash('sha256').update(garbage).digest('hex'),
    }));
    warnings.length = 0;
    const rebuilt = await TensorRTBackend.create(model, options());
    expect(rebuilt.engineSource).toBe('built');
    expect(warnings.join('\n')).toMatch(/deserialize failed/);
    await rebuilt.close();
  });

  it('surfaces the deserialize failure of a garbage plan as ERR_LOTUS_TENSORRT', async () => {
    await expect(native().openGpuSession(new Uint8Array(crypto.randomBytes(1024)), {
      device: 0, lanes: 1, cudaGraphs: false, task: 'depth', mode: 'generation', sizeMultiple: 8,
    })).rejects.toMatchObject({ code: 'ERR_LOTUS_TENSORRT', message: expect.stringMatching(/^deserialize failed/) });
  });

  it("reports TensorRT's parser errors for a file that is not ONNX", async () => {
    const bogus = path.join(cacheDir, 'not-a-model.onnx');
    fs.writeFileSync(bogus, 'definitely not a protobuf');
    const settings = buildSettings(readModelInfo(fp16Model), { minSize: 64, maxSize: 128, optSize: 64, lanes: 1 });
    const error = await buildPlan(bogus, 0, settings, null).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TensorRTError);
    expect((error as Error).message).toMatch(/ONNX parse failed/);
  });

  it('handles the FP32 ONNX per TensorRT major (11: refused with the FP16 hint; 10: FP16 flag)', async () => {
    const model = readModelInfo(fp32Model);
    const settings = buildSettings(model, { minSize: 64, maxSize: 128, optSize: 64, lanes: 1 });
    const major = Number((tensorrtInfo().compiledVersion ?? '0').split('.')[0]);
    const result = buildPlan(fp32Model, 0, settings, null);
    if (major >= 11) {
      const error = await result.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TensorRTError);
      expect((error as Error).message).toMatch(/FP16 export/);
    } else {
      expect((await result).length).toBeGreaterThan(0);
    }
  });

  it('cancels a build from an AbortSignal', async () => {
    const settings = buildSettings(readModelInfo(fp16Model), { minSize: 64, maxSize: 256, optSize: 128, lanes: 1 });
    const controller = new AbortController();
    const error = await buildPlan(fp16Model, 0, settings, null, () => controller.abort(), controller.signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TensorRTError);
    expect((error as Error).message).toMatch(/cancelled/);
  });
});
