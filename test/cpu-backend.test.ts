// The CPU backend around small hand-written ONNX graphs whose exact output is known: prediction =
// image, so the result is exactly the shared native pre/post-processing.
import { describe, expect, test } from 'vitest';
import { createEstimator, type DepthResult, type NormalResult } from '../lib/index';
import { identityLotusModel, lotusMetadata, onnxModel } from './helpers/onnx-writer';
import { tempFolder } from './helpers/temp-folder';

const { write } = tempFolder('lotus-cpu-');

const image = (width: number, height: number) => ({
  data: Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 31 + (i >> 5)) % 256),
  width,
  height,
  channels: 3 as const,
});
/** The reference's p = clamp(x / 2 + 0.5) of one input byte, in float32 like the pipeline. */
const p = (byte: number) => Math.fround(Math.fround(byte / 127.5 - 1) / 2 + 0.5);

describe('CPU backend', () => {
  test('depth at processing resolution 0 is the channel mean of p, resized back from the decoded 8-multiple (float32)', async () => {
    const estimator = await createEstimator(write('d.onnx', identityLotusModel()), { backend: 'cpu', processingResolution: 0, cpu: { intraOpThreads: 1 } });
    try {
      // Not a multiple of 8: the network sees 21x13 as it is and decodes 16x8 (pipeline.py pads
      // nothing), which NEAREST_EXACT resizes back to 21x13.
      const im = image(21, 13);
      const result = (await estimator.depth(im)) as DepthResult;
      const nearest = (dst: number, from: number, to: number) => Math.min(Math.floor(Math.fround((dst + 0.5) * Math.fround(from / to))), from - 1);
      for (let y = 0; y < 13; y++)
        for (let x = 0; x < 21; x++) {
          const source = nearest(y, 8, 13) * 21 + nearest(x, 16, 21);
          const expected = (p(im.data[source * 3]) + p(im.data[source * 3 + 1]) + p(im.data[source * 3 + 2])) / 3;
          expect(Math.abs(result.data[y * 21 + x] - expected)).toBeLessThan(1e-6);
        }
      const t = result.timings;
      for (const stage of ['decode', 'preprocess', 'inference', 'postprocess', 'copy', 'total'] as const) {
        expect(t[stage]).toBeGreaterThanOrEqual(0);
      }
      expect(t.total).toBeGreaterThanOrEqual(t.preprocess + t.inference + t.postprocess);
      // The host postprocess's output buffer is the result's data (no copy on the way).
      expect(result.zeroCopy).toBe(true);
    } finally {
      await estimator.close();
    }
  });

  test('normals are unit vectors along 2p - 1', async () => {
    const estimator = await createEstimator(write('n.onnx', identityLotusModel({ task: 'normal' })), { backend: 'cpu', processingResolution: 0 });
    try {
      const im = image(16, 8);
      const result = (await estimator.normal(im)) as NormalResult;
      expect(result.data).toHaveLength(16 * 8 * 3);
      for (let i = 0; i < 16 * 8; i++) {
        const n = [0, 1, 2].map((c) => 2 * p(im.data[i * 3 + c]) - 1);
        const length = Math.max(Math.hypot(...n), 1e-6);
        for (let c = 0; c < 3; c++) expect(Math.abs(result.data[i * 3 + c] - n[c] / length)).toBeLessThan(1e-5);
      }
    } finally {
      await estimator.close();
    }
  });

  test('resizing: output is at the input size; nearest and bilinear output resampling differ', async () => {
    const estimator = await createEstimator(write('d2.onnx', identityLotusModel()), { backend: 'cpu' });
    try {
      expect(estimator.model.processingResolution).toBe(768);
      const im = image(40, 24);
      const nearest = (await estimator.depth(im, { processingResolution: 16 })) as DepthResult;
      const bilinear = (await estimator.depth(im, { processingResolution: 16, outputResample: 'bilinear' })) as DepthResult;
      expect([nearest.width, nearest.height, nearest.data.length]).toEqual([40, 24, 960]);
      expect([bilinear.width, bilinear.height]).toEqual([40, 24]);
      expect(nearest.data).not.toEqual(bilinear.data);
      // Nearest upsampling of a 16x9 map to 40x24 repeats values: far fewer distinct values than pixels.
      expect(new Set(nearest.data).size).toBeLessThanOrEqual(16 * 9);
    } finally {
      await estimator.close();
    }
  });

  test('fp16 models run with half tensors converted in TypeScript', async () => {
    const model = onnxModel({
      inputs: [{ name: 'image', elemType: 10 }],
      outputs: [{ name: 'prediction', elemType: 10 }],
      nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['prediction'] }],
      metadata: lotusMetadata({ 'lotus.precision': 'fp16' }),
    });
    const estimator = await createEstimator(write('d16.onnx', model), { backend: 'cpu', processingResolution: 0 });
    try {
      const im = image(8, 8);
      const result = (await estimator.depth(im)) as DepthResult;
      for (let i = 0; i < 64; i++) {
        const expected = (p(im.data[i * 3]) + p(im.data[i * 3 + 1]) + p(im.data[i * 3 + 2])) / 3;
        // x in [-1, 1] rounded to half: error <= 2^-11 per channel, halved by p = x / 2 + 0.5.
        expect(Math.abs(result.data[i] - expected)).toBeLessThan(2 ** -11);
      }
    } finally {
      await estimator.close();
    }
  });

  test('seeded noise of G models is deterministic and reaches the network', async () => {
    // prediction = (image - image) + mean(noise): the output reveals which noise the network saw.
    const model = onnxModel({
      inputs: [{ name: 'image' }, { name: 'noise', dims: ['N', 4, 'h', 'w'] }],
      outputs: [{ name: 'prediction' }],
      nodes: [
        { op: 'ReduceMean', inputs: ['noise'], outputs: ['m'] },
        { op: 'Sub', inputs: ['image', 'image'], outputs: ['zero'] },
        { op: 'Add', inputs: ['zero', 'm'], outputs: ['prediction'] },
      ],
      metadata: lotusMetadata({ 'lotus.mode': 'generation' }),
    });
    const estimator = await createEstimator(write('g.onnx', model), { backend: 'cpu', processingResolution: 0 });
    try {
      const im = image(64, 64); // noise [1, 4, 8, 8]
      const a = (await estimator.depth(im, { seed: 1 })) as DepthResult;
      const b = (await estimator.depth(im, { seed: 1 })) as DepthResult;
      const c = (await estimator.depth(im, { seed: 2 })) as DepthResult;
      expect(a.data).toEqual(b.data);
      expect(a.data[0]).not.toBe(c.data[0]);
      const noise = new Float32Array(256).fill(0.5); // mean 0.5 -> p = 0.75 everywhere
      const d = (await estimator.depth(im, { noise })) as DepthResult;
      expect(d.data.every((v) => Math.abs(v - 0.75) < 1e-6)).toBe(true);
    } finally {
      await estimator.close();
    }
  });
});
