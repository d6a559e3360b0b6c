// Every public argument and option, given the wrong thing, fails with a typed error that names it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  BackendUnavailableError,
  DisposedError,
  ImageError,
  InvalidArgumentError,
  LotusEstimator,
  ModelError,
  createEstimator,
  deviceInfo,
  tensorrtInfo,
  type DepthResult,
} from '../lib/index';
import { expectLotusError } from './helpers/expect-error';
import { identityLotusModel, lotusMetadata, onnxModel } from './helpers/onnx-writer';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-api-'));
const file = (name: string, content: Buffer | string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
};
const depthD = file('identity-depth-d.onnx', identityLotusModel({ task: 'depth', mode: 'regression' }));
const depthG = file('identity-depth-g.onnx', identityLotusModel({ task: 'depth', mode: 'generation' }));
const normalD = file('identity-normal-d.onnx', identityLotusModel({ task: 'normal', mode: 'regression' }));
const gpuUsable = (() => {
  try {
    return deviceInfo().usable && tensorrtInfo().available;
  } catch {
    return false;
  }
})();

const rgb = (width: number, height: number, fill = (i: number) => (i * 7) % 256) => ({
  data: Uint8Array.from({ length: width * height * 3 }, (_, i) => fill(i)),
  width,
  height,
  channels: 3 as const,
});

let depth: LotusEstimator;
let generation: LotusEstimator;
beforeAll(async () => {
  depth = await createEstimator(depthD, { backend: 'cpu', processingResolution: 0 });
  generation = await createEstimator(depthG, { backend: 'cpu', processingResolution: 0 });
});
afterAll(async () => {
  await depth?.close();
  await generation?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('createEstimator(modelPath)', () => {
  test.each([[123], [undefined], [''], [{}], [null]])('modelPath %j -> InvalidArgumentError', async (value) => {
    await expectLotusError(createEstimator(value as never), InvalidArgumentError, { parameter: 'modelPath' });
  });

  test('missing file -> ModelError naming modelPath and the file', async () => {
    const missing = path.join(dir, 'nope.onnx');
    await expectLotusError(createEstimator(missing), ModelError, { message: /modelPath: .*nope\.onnx.*not found/ });
  });

  test('directory -> ModelError', async () => {
    await expectLotusError(createEstimator(dir), ModelError, { message: /modelPath:/ });
  });

  test('a PNG renamed .onnx -> ModelError "not an ONNX model"', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } }).png().toBuffer();
    await expectLotusError(createEstimator(file('image.onnx', png)), ModelError, { message: /not an ONNX model/ });
  });

  test.each([
    ['empty', Buffer.alloc(0)],
    ['text', Buffer.from('hello, I am not a model\n')],
    ['random', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) % 251))],
  ])('%s file -> ModelError', async (name, content) => {
    await expectLotusError(createEstimator(file(`${name}.onnx`, content)), ModelError, { message: /not an ONNX model/ });
  });

  test('ONNX without lotus metadata -> ModelError naming the missing key', async () => {
    const bare = onnxModel({
      inputs: [{ name: 'image' }],
      outputs: [{ name: 'prediction' }],
      nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['prediction'] }],
    });
    await expectLotusError(createEstimator(file('bare.onnx', bare)), ModelError, { message: /"lotus\.task"/ });
  });

  test('ONNX missing one lotus key -> ModelError naming exactly that key', async () => {
    const model = identityLotusModel({ metadata: { 'lotus.size_multiple': undefined } });
    const error = await expectLotusError(createEstimator(file('no-multiple.onnx', model)), ModelError);
    expect(error.message).toMatch(/missing ONNX metadata key "lotus\.size_multiple"/);
  });

  test('unknown task value -> ModelError naming key and value', async () => {
    const model = identityLotusModel({ metadata: { 'lotus.task': 'segmentation' } });
    await expectLotusError(createEstimator(file('seg.onnx', model)), ModelError, { message: /lotus\.task.*"segmentation"/ });
  });

  test('generation model without a noise input -> ModelError', async () => {
    const model = onnxModel({
      inputs: [{ name: 'image' }],
      outputs: [{ name: 'prediction' }],
      nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['prediction'] }],
      metadata: lotusMetadata({ 'lotus.mode': 'generation' }),
    });
    await expectLotusError(createEstimator(file('g-no-noise.onnx', model)), ModelError, { message: /input named "noise"/ });
  });
});

describe('createEstimator(modelPath, options)', () => {
  const cases: [string, unknown][] = [
    ['options', 'cpu'],
    ['options', [1]],
    ['options.procesingResolution', { procesingResolution: 64 }],
    ['options.backend', { backend: 'gpu' }],
    ['options.backend', { backend: 1 }],
    ['options.processingResolution', { processingResolution: -1 }],
    ['options.processingResolution', { processingResolution: 1.5 }],
    ['options.processingResolution', { processingResolution: '768' }],
    ['options.processingResolution', { processingResolution: 100000 }],
    ['options.resample', { resample: 'nearest' }],
    ['options.outputResample', { outputResample: 'cubic' }],
    ['options.device', { device: -1 }],
    ['options.device', { device: '0' }],
    ['options.tensorrt', { tensorrt: true }],
    ['options.tensorrt.lanes', { tensorrt: { lanes: 0 } }],
    ['options.tensorrt.lanes', { tensorrt: { lanes: 17 } }],
    ['options.tensorrt.optimizationLevel', { tensorrt: { optimizationLevel: 6 } }],
    ['options.tensorrt.cudaGraphs', { tensorrt: { cudaGraphs: 'yes' } }],
    ['options.tensorrt.cacheDir', { tensorrt: { cacheDir: '' } }],
    ['options.tensorrt.cacheDir', { tensorrt: { cacheDir: 42 } }],
    ['options.tensorrt.workspaceBytes', { tensorrt: { workspaceBytes: -1 } }],
    ['options.tensorrt.minSize', { tensorrt: { minSize: [64] } }],
    ['options.tensorrt.maxSize', { tensorrt: { maxSize: 4 } }],
    ['options.tensorrt.optSize', { tensorrt: { optSize: '512' } }],
    ['options.tensorrt.maxBatch', { tensorrt: { maxBatch: 0 } }],
    ['options.tensorrt.timingCache', { tensorrt: { timingCache: 1 } }],
    ['options.tensorrt.onProgress', { tensorrt: { onProgress: 'log' } }],
    ['options.tensorrt.lane', { tensorrt: { lane: 2 } }],
    ['options.cpu', { cpu: 4 }],
    ['options.cpu.intraOpThreads', { cpu: { intraOpThreads: -1 } }],
    ['options.cpu.intraOpThreads', { cpu: { intraOpThreads: 'all' } }],
    ['options.onWarning', { onWarning: 'console' }],
  ];
  test.each(cases)('%s in %j -> InvalidArgumentError', async (parameter, options) => {
    // Validation happens before the model is read: a missing model must not mask the option error.
    await expectLotusError(createEstimator(depthD, options as never), InvalidArgumentError, { parameter });
    await expectLotusError(createEstimator(path.join(dir, 'missing.onnx'), options as never), InvalidArgumentError, { parameter });
  });

  test.skipIf(gpuUsable)("backend 'tensorrt' without a usable GPU -> BackendUnavailableError with the reason", async () => {
    const error = await expectLotusError(createEstimator(depthD, { backend: 'tensorrt' }), BackendUnavailableError);
    expect(error.message).toMatch(/tensorrt.*unavailable: .{10,}/i);
  });

  test.skipIf(gpuUsable)("backend 'auto' falls back to the CPU and says why through onWarning", async () => {
    const warnings: string[] = [];
    const estimator = await createEstimator(depthD, { onWarning: (m) => warnings.push(m) });
    try {
      expect(estimator.backend).toBe('cpu');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/CPU backend.*unavailable: .{10,}/);
    } finally {
      await estimator.close();
    }
  });
});

describe('estimate(image)', () => {
  const bad: [string, unknown][] = [
    ['image', 42],
    ['image', null],
    ['image', undefined],
    ['image', ''],
    ['image', {}],
    ['image', [1, 2, 3]],
    ['image', new Float32Array(12)],
    ['image', Buffer.alloc(0)],
    ['image', new Uint8Array(0)],
    ['image.data', { data: [1, 2, 3], width: 1, height: 1, channels: 3 }],
    ['image.width', { data: new Uint8Array(0), width: 0, height: 0, channels: 3 }],
    ['image.height', { data: new Uint8Array(3), width: 1, height: 0, channels: 3 }],
    ['image.width', { data: new Uint8Array(3), width: 1.5, height: 1, channels: 3 }],
    ['image.channels', { data: new Uint8Array(2), width: 1, height: 1, channels: 2 }],
    ['image.data', { data: new Uint8Array(5), width: 1, height: 2, channels: 3 }],
  ];
  test.each(bad)('%s: %s -> InvalidArgumentError', async (parameter, image) => {
    await expectLotusError(depth.estimate(image as never), InvalidArgumentError, { parameter });
  });

  test('corrupt encoded data -> ImageError naming image', async () => {
    const error = await expectLotusError(depth.estimate(Buffer.from('definitely not a JPEG')), ImageError);
    expect(error.message).toMatch(/^image: cannot decode/);
    expect((error as ImageError).parameter).toBe('image');
  });

  test('truncated PNG -> ImageError', async () => {
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'blue' } })
      .png({ compressionLevel: 0 })
      .toBuffer();
    await expectLotusError(depth.estimate(png.subarray(0, png.length / 2)), ImageError, { message: /^image:/ });
  });

  test('missing image file -> ImageError naming image and the path', async () => {
    await expectLotusError(depth.estimate(path.join(dir, 'missing.jpg')), ImageError, { message: /^image: file not found: .*missing\.jpg/ });
  });

  test('an image wider than 16384 -> ImageError naming image, encoded or raw', async () => {
    const wide = await sharp({ create: { width: 16385, height: 2, channels: 3, background: 'red' } }).png().toBuffer();
    await expectLotusError(depth.estimate(wide), ImageError, { parameter: 'image', message: /16385x2.*16384/ });
    const raw = { data: new Uint8Array(20000 * 3), width: 20000, height: 1, channels: 3 as const };
    await expectLotusError(depth.estimate(raw), ImageError, { parameter: 'image', message: /20000x1.*16384/ });
  });

  test('an image too thin for the processing resolution -> ImageError', async () => {
    const thin = rgb(1, 1000);
    await expectLotusError(depth.estimate(thin, { processingResolution: 64 }), ImageError, { message: /processingResolution/ });
  });
});

describe('estimate(image, options)', () => {
  const image = rgb(16, 8);
  const cases: [string, unknown][] = [
    ['options', 5],
    ['options', 'fast'],
    ['options.sed', { sed: 1 }],
    ['options.processingResolution', { processingResolution: -8 }],
    ['options.processingResolution', { processingResolution: null }],
    ['options.outputResample', { outputResample: 'area' }],
    ['options.seed', { seed: -1 }],
    ['options.seed', { seed: 0.5 }],
    ['options.seed', { seed: '7' }],
    ['options.noise', { noise: [0, 1] }],
    ['options.noise', { noise: new Float64Array(8) }],
  ];
  test.each(cases)('%s in %j -> InvalidArgumentError', async (parameter, options) => {
    await expectLotusError(generation.estimate(image, options as never), InvalidArgumentError, { parameter });
  });

  test('noise of the wrong length -> InvalidArgumentError stating the expected shape', async () => {
    // 16x8 needs [1, 4, 1, 2] = 8 values.
    await expectLotusError(generation.estimate(image, { noise: new Float32Array(7) }), InvalidArgumentError, {
      parameter: 'options.noise',
      message: /8 values \(\[1, 4, 1, 2\]/,
    });
  });

  test('noise for a regression model -> InvalidArgumentError', async () => {
    await expectLotusError(depth.estimate(image, { noise: new Float32Array(8) }), InvalidArgumentError, {
      parameter: 'options.noise',
      message: /regression/,
    });
  });

  test('noise of the right length is accepted', async () => {
    const result = await generation.estimate(image, { noise: new Float32Array(8) });
    expect(result.task).toBe('depth');
  });
});

describe('task methods and lifecycle', () => {
  test('normal() on a depth model and depth() on a normal model -> ModelError', async () => {
    const normal = await createEstimator(normalD, { backend: 'cpu' });
    try {
      await expectLotusError(depth.normal(rgb(8, 8)), ModelError, { message: /depth model/ });
      await expectLotusError(normal.depth(rgb(8, 8)), ModelError, { message: /normal model/ });
      const n = await normal.normal(rgb(8, 8));
      expect(n.task).toBe('normal');
    } finally {
      await normal.close();
    }
  });

  test('close() is idempotent, waits for in-flight work, and later calls throw DisposedError', async () => {
    const estimator = await createEstimator(depthD, { backend: 'cpu', processingResolution: 0 });
    const pending = estimator.estimate(rgb(32, 16));
    const first = estimator.close();
    const second = estimator.close();
    expect(second).toBe(first);
    await expect(pending).resolves.toMatchObject({ task: 'depth', width: 32, height: 16 });
    await first;
    expect(estimator.closed).toBe(true);
    await expectLotusError(estimator.estimate(rgb(8, 8)), DisposedError);
    await expectLotusError(estimator.depth(rgb(8, 8)), DisposedError);
    await estimator.close();
  });

  test('concurrent estimate() calls each get their own correct result', async () => {
    // The identity model makes depth exactly mean(x / 127.5 - 1) / 2 + 0.5 per pixel.
    const images = [0, 1, 2, 3, 4, 5].map((k) => rgb(24 + 8 * k, 16, (i) => (i * (k + 3)) % 256));
    const results = (await Promise.all(images.map((im) => depth.estimate(im)))) as DepthResult[];
    results.forEach((result, k) => {
      const im = images[k];
      expect([result.width, result.height]).toEqual([im.width, im.height]);
      for (let p = 0; p < im.width * im.height; p++) {
        let expected = 0;
        for (let c = 0; c < 3; c++) expected += Math.fround(Math.fround(im.data[p * 3 + c] / 127.5 - 1) / 2 + 0.5);
        expect(Math.abs(result.data[p] - expected / 3)).toBeLessThan(1e-6);
      }
    });
  });
});
