// options.batching: concurrent estimate() calls that reach the same network call share it, each keeps
// its own options (seed, explicit noise), and its result is bit-identical to the call alone.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { createEstimator, InvalidArgumentError, type BatchInfo, type EstimateOptions, type EstimateResult } from '../lib/index';
import { expectLotusError } from './helpers/expect-error';
import { identityLotusModel } from './helpers/onnx-writer';
import { tempFolder } from './helpers/temp-folder';
import { withEstimator } from './helpers/with-estimator';

const { write } = tempFolder('lotus-batching-');
const fixtureModel = path.join(__dirname, 'fixtures', 'tiny-depth-g.onnx');
const fixtureImage = path.join(__dirname, 'fixtures', 'images', 'gradient-64x48.png');

const valuesOf = (result: EstimateResult) => (result.task === 'depth' ? result.data : result.prediction);

describe.skipIf(!fs.existsSync(fixtureModel))('dynamic batching with the tiny Lotus fixture (real UNet and VAE)', () => {
  test('concurrent calls share network calls and each result is bit-identical to the call alone', async () => {
    const { data, info } = await sharp(fixtureImage).raw().toBuffer({ resolveWithObject: true });
    const image = { data, width: info.width, height: info.height, channels: info.channels as 3 };
    const inverted = { ...image, data: Uint8Array.from(data, (v) => 255 - v) };
    const wide = await sharp(fixtureImage).resize(96, 40).png().toBuffer(); // another network size: its own group
    const explicit = Float32Array.from({ length: 4 * 6 * 8 }, (_, i) => Math.sin(i * 0.29)); // [1, 4, 6, 8] of 64x48
    const requests: [unknown, EstimateOptions][] = [
      [image, { seed: 1 }], [inverted, { seed: 2 }], [image, { seed: 3 }], [wide, { seed: 4 }],
      [inverted, { noise: explicit }], [image, { seed: 1, outputResample: 'bilinear' }], [image, { seed: 9 }],
    ];
    const alone: Float32Array[] = [];
    await withEstimator(fixtureModel, { backend: 'cpu', processingResolution: 64 }, async (single) => {
      for (const [input, options] of requests) alone.push(valuesOf(await single.estimate(input as Buffer, options)));
    });
    const batches: BatchInfo[] = [];
    const options = { backend: 'cpu' as const, processingResolution: 64, batching: { maxBatch: 4, maxDelayMs: 500 }, onBatch: (b: BatchInfo) => batches.push(b) };
    await withEstimator(fixtureModel, options, async (estimator) => {
      const results = await Promise.all(requests.map(([input, o]) => estimator.estimate(input as Buffer, o)));
      results.forEach((result, i) => expect(valuesOf(result), `request ${i}`).toEqual(alone[i]));
      // Seven requests, three network calls groups (64x48 nearest: 5 of them, 96x40, 64x48 bilinear);
      // the 64x48 nearest group of 5 is more than the cap of 4.
      expect(batches.reduce((n, b) => n + b.size, 0)).toBe(7);
      expect(Math.max(...batches.map((b) => b.size))).toBe(4);
      expect(batches.length).toBeLessThan(7);
      expect(batches.every((b) => b.device === 'cpu' && typeof b.ms === 'number')).toBe(true);
      // Batch mates share their timings: the four of one call report the same inference time.
      const sameCall = results.filter((r) => r.timings.inference === results[0]!.timings.inference);
      expect(sameCall.length).toBeGreaterThan(1);
      expect(estimator.stats()).toMatchObject({ queued: 0, active: 0, batching: 0 });
    });
  });
});

describe('dynamic batching: caps, waiting and options', () => {
  const identity = write('identity-g.onnx', identityLotusModel({ mode: 'generation' }));
  const raw = (salt: number) => ({ data: Uint8Array.from({ length: 32 * 24 * 3 }, (_, i) => (i * 13 + salt) & 255), width: 32, height: 24, channels: 3 as const });

  test('batches never exceed cpu.maxBatch, and a lone request waits at most about maxDelayMs', async () => {
    const sizes: number[] = [];
    await withEstimator(identity, { backend: 'cpu', processingResolution: 0, cpu: { maxBatch: 2 }, batching: { maxBatch: 8, maxDelayMs: 40 }, onBatch: (b) => sizes.push(b.size) }, async (estimator) => {
      await Promise.all(Array.from({ length: 9 }, (_, i) => estimator.estimate(raw(i))));
      expect(Math.max(...sizes)).toBeLessThanOrEqual(2);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(9);
      const start = performance.now();
      await estimator.estimate(raw(1));
      const waited = performance.now() - start;
      expect(waited).toBeGreaterThanOrEqual(35); // it waited for company...
      expect(waited).toBeLessThan(2000); // ...then ran alone
    });
  });

  test('bad batching options are typed errors naming the option; a backend of batch 1 warns', async () => {
    await expectLotusError(createEstimator(identity, { backend: 'cpu', batching: { maxBatch: 0 } }), InvalidArgumentError, { parameter: 'options.batching.maxBatch' });
    await expectLotusError(createEstimator(identity, { backend: 'cpu', batching: { maxDelayMs: -1 } }), InvalidArgumentError, { parameter: 'options.batching.maxDelayMs' });
    await expectLotusError(createEstimator(identity, { backend: 'cpu', batching: { delay: 1 } as never }), InvalidArgumentError, { parameter: 'options.batching.delay' });
    await expectLotusError(createEstimator(identity, { backend: 'cpu', batching: 4 as never }), InvalidArgumentError, { parameter: 'options.batching' });
    const warnings: string[] = [];
    await withEstimator(identity, { backend: 'cpu', cpu: { maxBatch: 1 }, batching: {}, onWarning: (w) => warnings.push(w) }, async (estimator) => {
      await estimator.estimate(raw(0));
    });
    expect(warnings.join('\n')).toMatch(/batching has no effect/);
  });
});
