// estimateBatch(): images that reach the same network size share one backend call, and each result
// equals what estimate() gives for that image alone.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { createEstimator, DisposedError, ImageError, InvalidArgumentError, type DepthResult } from '../lib/index';
import { expectLotusError } from './helpers/expect-error';
import { identityLotusModel } from './helpers/onnx-writer';
import { tempFolder } from './helpers/temp-folder';
import { withEstimator } from './helpers/with-estimator';

const { write } = tempFolder('lotus-batch-');

const pixels = (width: number, height: number, salt: number) => ({
  data: Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 31 + (i >> 5) + salt * 57) % 256),
  width,
  height,
  channels: 3 as const,
});

describe('estimateBatch on the CPU backend', () => {
  const identity = write('identity-g.onnx', identityLotusModel({ mode: 'generation' }));

  test('results come in input order and equal estimate() of each image exactly (identity model)', async () => {
    // Images 0 and 2 share the 40x24 network input (the official pipeline pads nothing, so 39x24 does not).
    const images = [pixels(40, 24, 1), pixels(16, 16, 2), pixels(40, 24, 3), pixels(39, 24, 4)];
    await withEstimator(identity, { backend: 'cpu', processingResolution: 0 }, async (estimator) => {
      const batch = (await estimator.estimateBatch(images)) as DepthResult[];
      expect(batch.map((r) => [r.width, r.height])).toEqual(images.map((im) => [im.width, im.height]));
      for (const [i, image] of images.entries()) {
        const single = (await estimator.estimate(image)) as DepthResult;
        expect(batch[i]!.data).toEqual(single.data);
      }
      // Images 0 and 2 went through one onnxruntime run, images 1 and 3 through others.
      expect(batch[2]!.timings.inference).toBe(batch[0]!.timings.inference);
      expect(batch[1]!.timings.inference).not.toBe(batch[0]!.timings.inference);
      expect(batch[3]!.timings.inference).not.toBe(batch[0]!.timings.inference);
    });
  });

  test('cpu.maxBatch caps the images per run', async () => {
    const images = [pixels(40, 24, 1), pixels(40, 24, 2), pixels(40, 24, 3)];
    await withEstimator(identity, { backend: 'cpu', processingResolution: 0, cpu: { maxBatch: 2 } }, async (estimator) => {
      const batch = await estimator.estimateBatch(images);
      expect(batch[1]!.timings.inference).toBe(batch[0]!.timings.inference);
      expect(batch[2]!.timings.inference).not.toBe(batch[0]!.timings.inference);
    });
    await expectLotusError(createEstimator(identity, { backend: 'cpu', cpu: { maxBatch: 0 } }), InvalidArgumentError, { parameter: 'options.cpu.maxBatch' });
  });

  test('bad input: not an array, explicit noise for several images, an undecodable image named by index', async () => {
    await withEstimator(identity, { backend: 'cpu', processingResolution: 0 }, async (estimator) => {
      await expectLotusError(estimator.estimateBatch('a.png' as unknown as string[]), InvalidArgumentError, { parameter: 'images' });
      await expectLotusError(estimator.estimateBatch([pixels(8, 8, 1), pixels(8, 8, 2)], { noise: new Float32Array(4) }),
        InvalidArgumentError, { parameter: 'options.noise' });
      await expectLotusError(estimator.estimateBatch([pixels(8, 8, 1), Buffer.from('not an image')]), ImageError, { parameter: 'images[1]' });
      expect(await estimator.estimateBatch([])).toEqual([]);
    });
  });

  test('gpuMemoryStats() is null on the CPU backend and throws once closed', async () => {
    const estimator = await createEstimator(identity, { backend: 'cpu' });
    expect(estimator.gpuMemoryStats()).toBeNull();
    await estimator.close();
    expect(() => estimator.gpuMemoryStats()).toThrow(DisposedError);
    await expectLotusError(estimator.estimateBatch([pixels(8, 8, 1)]), DisposedError);
  });
});

const fixtureModel = path.join(__dirname, 'fixtures', 'tiny-depth-g.onnx');
const fixtureImage = path.join(__dirname, 'fixtures', 'images', 'gradient-64x48.png');

describe.skipIf(!fs.existsSync(fixtureModel))('estimateBatch with the tiny Lotus fixture (real UNet and VAE)', () => {
  test('a batch of 3 predicts what 3 single calls do (G model: the same seed per image)', async () => {
    const base = await sharp(fixtureImage).raw().toBuffer({ resolveWithObject: true });
    const flipped = await sharp(fixtureImage).flop().raw().toBuffer();
    const inverted = Buffer.from(base.data.map((v) => 255 - v));
    const asInput = (data: Buffer) => ({ data, width: base.info.width, height: base.info.height, channels: base.info.channels as 3 });
    const images = [asInput(base.data), asInput(flipped), asInput(inverted)];
    await withEstimator(fixtureModel, { backend: 'cpu', processingResolution: 64 }, async (estimator) => {
      const batch = (await estimator.estimateBatch(images, { seed: 7 })) as DepthResult[];
      expect(batch[2]!.timings.inference).toBe(batch[0]!.timings.inference); // one run
      let maxError = 0;
      for (const [i, image] of images.entries()) {
        const single = (await estimator.estimate(image, { seed: 7 })) as DepthResult;
        for (let k = 0; k < single.data.length; k++) maxError = Math.max(maxError, Math.abs(single.data[k]! - batch[i]!.data[k]!));
      }
      // onnxruntime may block its GEMMs differently for N = 3 than for N = 1: float32 rounding only.
      expect(maxError).toBeLessThan(1e-5);
      // And the images differ, so a batch that mixed them up would fail above.
      expect(batch[0]!.data).not.toEqual(batch[1]!.data);
    });
  });
});
