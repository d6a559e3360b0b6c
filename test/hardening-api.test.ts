// Regression tests of the adversarial review's API findings (issue 12, items 1, 4, 5, 7, 8, 10):
// each one failed before its fix. The CLI's are in hardening-cli.test.ts, the engine cache's in
// hardening-cache.test.ts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createEstimator,
  DepthResult,
  ImageError,
  InvalidArgumentError,
  ModelError,
  NormalResult,
  native,
  readModelInfo,
  type LotusEstimator,
} from '../lib/index';
import { estimateRequestBytes, MEMORY_PROFILES, memoryProfileFor } from '../lib/estimator/memory-budget';
import { expectLotusError } from './helpers/expect-error';
import { identityLotusModel } from './helpers/onnx-writer';
import { tempFolder } from './helpers/temp-folder';

const { dir, write } = tempFolder('lotus-hardening-api-');
const depthD = write('identity-depth-d.onnx', identityLotusModel({ task: 'depth', mode: 'regression' }));
const depthG = write('identity-depth-g.onnx', identityLotusModel({ task: 'depth', mode: 'generation' }));

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
});

/** Runs `fn` with a deadline: a hang fails the test instead of the whole run. */
async function within<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([fn(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

describe('item 1: memory of a request is estimated before it runs', () => {
  test('a request over options.memoryBudget -> InvalidArgumentError naming processingResolution and the limit', async () => {
    expect(memoryProfileFor(depthD)).toBe(MEMORY_PROFILES.small); // a test-sized model
    const budget = estimateRequestBytes(256, 256, 1, MEMORY_PROFILES.small);
    const small = await createEstimator(depthD, { backend: 'cpu', processingResolution: 128, memoryBudget: budget });
    try {
      expect((await small.estimate(rgb(64, 48), { processingResolution: 256 })).width).toBe(64);
      const error = await expectLotusError(small.estimate(rgb(64, 48), { processingResolution: 2048 }), InvalidArgumentError, {
        parameter: 'options.processingResolution',
        message: /2048x1536 network input.*over the memory budget of .*options\.memoryBudget/,
      });
      expect(error.message).toMatch(/GiB/);
    } finally {
      await small.close();
    }
  });

  test('the default budget refuses 16384 (which took the process down) without running it', async () => {
    const start = performance.now();
    await expectLotusError(depth.estimate(rgb(64, 48), { processingResolution: 16384 }), InvalidArgumentError, {
      parameter: 'options.processingResolution',
    });
    expect(performance.now() - start).toBeLessThan(2000);
  });

  test('a batch over the budget is split into runs that fit, with the same results', async () => {
    const budget = Math.floor(estimateRequestBytes(64, 48, 1, MEMORY_PROFILES.small) * 1.5); // one 64x48 image per run
    const tight = await createEstimator(depthD, { backend: 'cpu', processingResolution: 0, memoryBudget: budget, cpu: { maxBatch: 4 } });
    try {
      const images = [0, 1, 2].map((k) => rgb(64, 48, (i) => (i * (k + 2)) % 256));
      const batch = await tight.estimateBatch(images);
      const single = await Promise.all(images.map((image) => depth.estimate(image)));
      batch.forEach((result, i) => expect([...result.data]).toEqual([...single[i]!.data]));
    } finally {
      await tight.close();
    }
  });

  test('metadata asking for a huge default resolution -> ModelError at load, not an error about an unpassed option', async () => {
    const huge = write('huge-default.onnx', identityLotusModel({ metadata: { 'lotus.processing_resolution': '16384' } }));
    await expectLotusError(createEstimator(huge, { backend: 'cpu' }), ModelError, { message: /lotus\.processing_resolution is 16384.*memory budget/ });
    // Passing a resolution of one's own makes the model's default irrelevant.
    const own = await createEstimator(huge, { backend: 'cpu', processingResolution: 64 });
    expect((await own.estimate(rgb(32, 16))).width).toBe(32);
    await own.close();
  });

  test('options.memoryBudget must be a positive integer', async () => {
    for (const value of [0, -1, 1.5, '1e9', null]) {
      await expectLotusError(createEstimator(depthD, { backend: 'cpu', memoryBudget: value as never }), InvalidArgumentError, {
        parameter: 'options.memoryBudget',
      });
    }
  });
});

describe('item 4: raw pixel input is taken at call time', () => {
  test('changing the buffer after estimate() returns does not change the result', async () => {
    const image = rgb(64, 48);
    const expected = await depth.estimate(rgb(64, 48));
    // Queue several requests so the last one waits; then scribble over its pixels.
    const pending = [1, 2, 3].map(() => depth.estimate(image));
    image.data.fill(255);
    for (const result of await Promise.all(pending)) expect([...result.data]).toEqual([...expected.data]);
  });

  test('a detached pixel buffer -> InvalidArgumentError naming image.data', async () => {
    const image = rgb(8, 8);
    structuredClone(image.data.buffer, { transfer: [image.data.buffer] });
    await expectLotusError(depth.estimate(image), InvalidArgumentError, { parameter: 'image.data', message: /detached/ });
  });

  test('a detached encoded buffer -> InvalidArgumentError naming image', async () => {
    const png = new Uint8Array(await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } }).png().toBuffer());
    structuredClone(png.buffer, { transfer: [png.buffer] });
    await expectLotusError(depth.estimate(png), InvalidArgumentError, { parameter: 'image', message: /detached/ });
  });

  test('pixels in a SharedArrayBuffer are copied, not read while another thread writes', async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(64 * 48 * 3));
    shared.set(rgb(64, 48).data);
    const result = await depth.estimate({ data: shared, width: 64, height: 48, channels: 3 });
    expect([...result.data]).toEqual([...(await depth.estimate(rgb(64, 48))).data]);
  });
});

describe('item 5: paths that are not regular files fail at once', () => {
  test.runIf(process.platform === 'linux')('a FIFO image path -> ImageError, and close() and exit do not hang', async () => {
    const fifo = path.join(dir, 'fifo.png');
    spawnSync('mkfifo', [fifo]);
    await within(5000, () => expectLotusError(depth.estimate(fifo), ImageError, { parameter: 'image', message: /FIFO.*not a regular file/ }));
    // The same in a child process that then exits: before the fix it never ended.
    const script = `
      const { createEstimator } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
      (async () => {
        const e = await createEstimator(${JSON.stringify(depthD)}, { backend: 'cpu' });
        const r = await e.estimate(${JSON.stringify(fifo)}).catch((err) => err.code);
        await e.close();
        console.log(r);
        process.exit(0);
      })();`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(child.signal).toBeNull();
    expect(child.stdout.trim()).toBe('ERR_LOTUS_IMAGE');
  });

  test.runIf(process.platform === 'linux')('a FIFO or /dev/zero as the model -> ModelError', async () => {
    const fifo = path.join(dir, 'model-fifo.onnx');
    spawnSync('mkfifo', [fifo]);
    await within(5000, async () => expect(() => readModelInfo(fifo)).toThrow(/FIFO.*not a regular file/));
    const zero = path.join(dir, 'zero.onnx');
    fs.symlinkSync('/dev/zero', zero);
    await within(5000, () => expectLotusError(createEstimator(zero, { backend: 'cpu' }), ModelError, { message: /character device/ }));
  });

  test('a directory as the image -> ImageError', async () => {
    await expectLotusError(depth.estimate(dir), ImageError, { parameter: 'image', message: /directory/ });
  });
});

describe('item 7: decoding is bounded', () => {
  test('options.maxInputPixels refuses an image from its header (files, Buffers, sharp instances, raw pixels)', async () => {
    const limited = await createEstimator(depthD, { backend: 'cpu', processingResolution: 64, maxInputPixels: 1000 });
    try {
      const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: 'blue' } }).png().toBuffer();
      const file = write('over-limit.png', png);
      for (const input of [png, file, sharp(png), rgb(40, 30)]) {
        await expectLotusError(limited.estimate(input), ImageError, { parameter: 'image', message: /1200 pixels, over the limit of 1000 \(options\.maxInputPixels\)/ });
      }
      expect((await limited.estimate(rgb(30, 30))).width).toBe(30);
    } finally {
      await limited.close();
    }
  });

  test('the default limit is 8192 x 8192', async () => {
    const big = await sharp({ create: { width: 8193, height: 8192, channels: 3, background: 'white' } }).png({ compressionLevel: 1 }).toBuffer();
    await expectLotusError(depth.estimate(big), ImageError, { message: /67117056 pixels, over the limit of 67108864/ });
  });

  test('concurrent large images decode a few at a time, not all at once', async () => {
    // Peak memory of 8 concurrent 8000x4000 decodes (96 MB of pixels each) in a child with 8 pool
    // threads. Each request fails right after decoding (wrong noise length), so nothing but the
    // decode holds memory: all at once (before) held about 8 decoded images, the limit (CPU
    // backend: 2 requests past the gate) about 2.
    const png = write('large.png', await sharp({ create: { width: 8000, height: 4000, channels: 3, background: 'gray' } }).png().toBuffer());
    const script = `
      const fs = require('fs');
      const { createEstimator } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
      const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
      const wrongNoise = { noise: new Float32Array(3) };
      (async () => {
        const e = await createEstimator(${JSON.stringify(depthG)}, { backend: 'cpu', processingResolution: 64 });
        const one = () => e.estimate(${JSON.stringify(png)}, wrongNoise).then(() => 'ran', (err) => err.code);
        await one();
        const before = hwm();
        const codes = await Promise.all(Array.from({ length: 8 }, one));
        console.log(JSON.stringify({ before, after: hwm(), codes: [...new Set(codes)] }));
        await e.close();
      })();`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 90_000, env: { ...process.env, UV_THREADPOOL_SIZE: '8' } });
    const { before, after, codes } = JSON.parse(child.stdout.trim().split('\n').pop()!);
    expect(codes).toEqual(['ERR_LOTUS_INVALID_ARGUMENT']);
    const grewMiB = (after - before) / 2 ** 20;
    console.log(`8 concurrent 8000x4000 decodes: peak RSS grew by ${grewMiB.toFixed(0)} MiB`);
    expect(grewMiB).toBeLessThan(400);
  });
});

describe('item 8: input formats', () => {
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="8"><rect width="16" height="8" fill="red"/></svg>');

  test('SVG is refused by default, before any renderer sees it', async () => {
    await expectLotusError(depth.estimate(svg), ImageError, { parameter: 'image', message: /SVG.*options\.inputFormats/ });
    const file = write('drawing.png', svg); // the extension does not matter
    await expectLotusError(depth.estimate(file), ImageError, { parameter: 'image', message: /SVG/ });
  });

  test('an SVG that pulls in a file next to it is refused by default', async () => {
    write('secret.png', await sharp({ create: { width: 4, height: 4, channels: 3, background: 'green' } }).png().toBuffer());
    const file = write('pull.svg', '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="4" height="4"><image href="secret.png" width="4" height="4"/></svg>');
    await expectLotusError(depth.estimate(file), ImageError, { message: /SVG/ });
  });

  test("inputFormats: [..., 'svg'] accepts SVG when asked", async () => {
    const withSvg = await createEstimator(depthD, { backend: 'cpu', processingResolution: 0, inputFormats: ['png', 'svg'] });
    try {
      expect((await withSvg.estimate(svg)).width).toBe(16);
      const jpeg = await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } }).jpeg().toBuffer();
      await expectLotusError(withSvg.estimate(jpeg), ImageError, { message: /JPEG.*options\.inputFormats: png, svg/ });
    } finally {
      await withSvg.close();
    }
  });

  test('every raster format sharp writes is accepted by default', async () => {
    const base = sharp({ create: { width: 16, height: 8, channels: 3, background: 'orange' } });
    for (const encoded of await Promise.all([
      base.clone().png().toBuffer(), base.clone().jpeg().toBuffer(), base.clone().webp().toBuffer(),
      base.clone().gif().toBuffer(), base.clone().tiff().toBuffer(), base.clone().avif().toBuffer(),
    ])) {
      expect((await depth.estimate(encoded)).width).toBe(16);
    }
  });

  test('inputFormats must list known formats', async () => {
    await expectLotusError(createEstimator(depthD, { inputFormats: ['png', 'bmp'] as never }), InvalidArgumentError, { parameter: 'options.inputFormats[1]' });
    await expectLotusError(createEstimator(depthD, { inputFormats: [] }), InvalidArgumentError, { parameter: 'options.inputFormats' });
  });
});

describe('item 10: consistent errors', () => {
  test('noise in a SharedArrayBuffer works (it blamed the model)', async () => {
    const noise = new Float32Array(new SharedArrayBuffer(8 * 4));
    const result = await generation.estimate(rgb(16, 8), { noise });
    expect(result.width).toBe(16);
  });

  test('detached noise -> InvalidArgumentError naming options.noise (it was an untyped TypeError)', async () => {
    const noise = new Float32Array(8);
    structuredClone(noise.buffer, { transfer: [noise.buffer] });
    await expectLotusError(generation.estimate(rgb(16, 8), { noise }), InvalidArgumentError, { parameter: 'options.noise', message: /detached/ });
  });

  test('a metadata value over 1 MiB does not make a valid model "not an ONNX model"', async () => {
    const big = write('big-meta.onnx', identityLotusModel({ metadata: { 'user.notes': 'x'.repeat(2 * 2 ** 20) } }));
    const info = readModelInfo(big);
    expect(info.task).toBe('depth');
    expect(info.metadata['user.notes']).toBeUndefined();
    const bad = write('big-lotus-meta.onnx', identityLotusModel({ metadata: { 'lotus.source': 'x'.repeat(2 * 2 ** 20) } }));
    expect(() => readModelInfo(bad)).toThrow(/lotus\.source is 2097152 bytes long/);
  });

  test('estimateBatch(new Array(3)) -> InvalidArgumentError naming images[0]', async () => {
    await expectLotusError(depth.estimateBatch(new Array(3)), InvalidArgumentError, { parameter: 'images[0]' });
  });

  test('an image too small inside a batch is reported as images[1]', async () => {
    const error = await expectLotusError(depth.estimateBatch([rgb(64, 64), rgb(1, 200)], { processingResolution: 64 }), ImageError, {
      message: /^images\[1\]:/,
    });
    expect((error as ImageError).parameter).toBe('images[1]');
  });

  test('over-limit images are ImageError for every input form', async () => {
    const wide = await sharp({ create: { width: 16385, height: 2, channels: 3, background: 'red' } }).png().toBuffer();
    for (const input of [wide, sharp(wide), { data: new Uint8Array(16385 * 2 * 3), width: 16385, height: 2, channels: 3 as const }]) {
      await expectLotusError(depth.estimate(input), ImageError, { parameter: 'image', message: /16385x2.*16384/ });
    }
  });

  test('DepthResult / NormalResult constructors validate their arguments', () => {
    const timings = { decode: 0, preprocess: 0, inference: 0, postprocess: 0, copy: 0, total: 0 };
    expect(() => new DepthResult(2, 2, new Float32Array(3), false, timings)).toThrow(InvalidArgumentError);
    expect(() => new DepthResult(0, 2, new Float32Array(0), false, timings)).toThrow(/DepthResult\.width/);
    expect(() => new DepthResult(2, 2, [0, 0, 0, 0] as never, false, timings)).toThrow(/DepthResult\.data/);
    expect(() => new DepthResult(2, 2, new Float32Array(4), 'yes' as never, timings)).toThrow(/DepthResult\.disparity/);
    expect(() => new NormalResult(2, 2, new Float32Array(4), timings)).toThrow(/NormalResult\.prediction: expected 12 values/);
    expect(() => new NormalResult(2, 2, new Float32Array(12), {} as never)).toThrow(/NormalResult\.timings\.decode/);
    expect(new DepthResult(2, 2, new Float32Array(4), false, timings).toNpy().length).toBeGreaterThan(16);
  });

  test("the raw binding's gaussianNoise refuses counts that would block the JS thread", () => {
    const start = performance.now();
    expect(() => native().gaussianNoise(0, 2 ** 30)).toThrow(/count/);
    expect(performance.now() - start).toBeLessThan(100);
    expect(native().gaussianNoise(0, 4 * 2048 * 2048).length).toBe(4 * 2048 * 2048);
  });
});
