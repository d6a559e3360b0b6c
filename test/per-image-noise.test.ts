// Backends take each image's noise separately (its own seed or explicit array), so requests from
// different callers can share one network call: on the CPU backend a mixed batch is bit-identical to
// the images run alone.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { createCpuBackend } from '../lib/backends/cpu';
import type { ImageNoise, RgbImage } from '../lib/backends/backend';
import { InvalidArgumentError } from '../lib/errors';
import { readModelInfo } from '../lib/model/metadata';
import { expectLotusError } from './helpers/expect-error';

const fixtureModel = path.join(__dirname, 'fixtures', 'tiny-depth-g.onnx');
const fixtureImage = path.join(__dirname, 'fixtures', 'images', 'gradient-64x48.png');

describe.skipIf(!fs.existsSync(fixtureModel))('per-image noise on the CPU backend (tiny Lotus fixture)', () => {
  test('one call over images with seeds 1 and 2 and an explicit array equals each image alone, bit for bit', async () => {
    const backend = await createCpuBackend(readModelInfo(fixtureModel), {});
    try {
      const { data, info } = await sharp(fixtureImage).raw().toBuffer({ resolveWithObject: true });
      const image: RgbImage = { data, width: info.width, height: info.height, channels: info.channels as 3 };
      const inverted: RgbImage = { ...image, data: Uint8Array.from(data, (v) => 255 - v) };
      // 64x48 at resolution 64: the network input is 64x48, the noise [1, 4, 6, 8].
      const explicit = Float32Array.from({ length: 4 * 6 * 8 }, (_, i) => Math.cos(i * 0.61));
      const images = [image, image, inverted, image];
      const noise: ImageNoise[] = [{ seed: 1 }, { seed: 2 }, { seed: 1 }, { seed: 5, noise: explicit }];
      const call = { processingResolution: 64, outputResample: 'nearest' as const };
      const batch = await backend.run(images, { ...call, noise });
      for (const [i, source] of noise.entries()) {
        const alone = await backend.run([images[i]!], { ...call, noise: [source] });
        expect(batch.outputs[i]!.data, `image ${i}`).toEqual(alone.outputs[0]!.data);
      }
      // The noise reaches the network: the same image under seeds 1 and 2, or explicit noise, differs.
      expect(batch.outputs[0]!.data).not.toEqual(batch.outputs[1]!.data);
      expect(batch.outputs[0]!.data).not.toEqual(batch.outputs[3]!.data);

      await expectLotusError(backend.run([image, image], { ...call, noise: [{ seed: 1 }] }), InvalidArgumentError, { parameter: 'request.noise' });
      await expectLotusError(backend.run([image], { ...call, noise: [{ seed: 1, noise: new Float32Array(3) }] }),
        InvalidArgumentError, { parameter: 'options.noise' });
    } finally {
      await backend.close();
    }
  });
});
