// Several devices: one backend per device, each call to the least-loaded one, statistics per device.
// The dispatch runs here with real CPU backends standing in for the devices; the choice itself is
// also checked with backends whose runs end when the test says (TensorRT cannot run on this machine).
import { describe, expect, test } from 'vitest';
import type { Backend, BackendBatchOutput, BackendRequest, RgbImage } from '../lib/backends/backend';
import { createCpuBackend } from '../lib/backends/cpu';
import { DevicePool, leastLoaded } from '../lib/backends/device-pool';
import { tensorrtDevices } from '../lib/estimator/backend-select';
import { BackendUnavailableError, createEstimator, deviceInfo, InvalidArgumentError, tensorrtInfo } from '../lib/index';
import { readModelInfo } from '../lib/model/metadata';
import { expectLotusError } from './helpers/expect-error';
import { identityLotusModel } from './helpers/onnx-writer';
import { tempFolder } from './helpers/temp-folder';

const { write } = tempFolder('lotus-pool-');
const identity = write('identity-d.onnx', identityLotusModel({ mode: 'regression' }));
const image: RgbImage = { data: new Uint8Array(16 * 16 * 3).fill(100), width: 16, height: 16, channels: 3 };
const request = (count: number): BackendRequest => ({ processingResolution: 0, outputResample: 'nearest', noise: Array.from({ length: count }, () => ({ seed: 0 })) });

/** A backend whose runs end when release() is called: the pool's choice is then observable. */
function heldBackend(parallelism: number) {
  const pending: (() => void)[] = [];
  const backend: Backend = {
    name: 'tensorrt',
    maxBatch: 4,
    parallelism,
    run: (images: RgbImage[]) => new Promise<BackendBatchOutput>((resolve) => {
      pending.push(() => resolve({ outputs: images.map((im) => ({ data: new Float32Array(im.width * im.height), width: im.width, height: im.height, zeroCopy: false })), timings: {} }));
    }),
    close: async () => undefined,
  };
  return { backend, running: () => pending.length, release: () => pending.splice(0).forEach((done) => done()) };
}

describe('leastLoaded', () => {
  test('fewest runs per lane first, then fewest images served, then the first device', () => {
    expect(leastLoaded([{ inFlight: 1, images: 0, parallelism: 1 }, { inFlight: 0, images: 9, parallelism: 1 }])).toBe(1);
    expect(leastLoaded([{ inFlight: 2, images: 0, parallelism: 4 }, { inFlight: 1, images: 0, parallelism: 1 }])).toBe(0);
    expect(leastLoaded([{ inFlight: 1, images: 5, parallelism: 2 }, { inFlight: 1, images: 3, parallelism: 2 }])).toBe(1);
    expect(leastLoaded([{ inFlight: 0, images: 0, parallelism: 2 }, { inFlight: 0, images: 0, parallelism: 2 }])).toBe(0);
  });
});

describe('DevicePool', () => {
  test('spreads held runs by lanes: a 2-lane device takes two for each one the 1-lane device takes', async () => {
    const a = heldBackend(2);
    const b = heldBackend(1);
    const pool = new DevicePool([{ device: 0, backend: a.backend }, { device: 1, backend: b.backend }]);
    expect(pool.parallelism).toBe(3);
    const runs = Array.from({ length: 6 }, () => pool.run([image], request(1)));
    expect([a.running(), b.running()]).toEqual([4, 2]);
    expect(pool.deviceStats().map((d) => [d.device, d.inFlight, d.runs, d.images])).toEqual([[0, 4, 4, 4], [1, 2, 2, 2]]);
    a.release();
    b.release();
    const outputs = await Promise.all(runs);
    // Run 4: both at one run per lane, device 1 has served fewer images.
    expect(outputs.map((o) => o.device)).toEqual([0, 1, 0, 1, 0, 0]);
    expect(pool.deviceStats().map((d) => d.inFlight)).toEqual([0, 0]);
  });

  test('two real CPU backends as devices 0 and 1: concurrent runs use both, results are correct, counts add up', async () => {
    const model = readModelInfo(identity);
    const pool = new DevicePool([
      { device: 0, backend: await createCpuBackend(model, {}) },
      { device: 1, backend: await createCpuBackend(model, {}) },
    ]);
    try {
      expect(pool.maxBatch).toBe(4);
      const outputs = await Promise.all(Array.from({ length: 8 }, () => pool.run([image, image], request(2))));
      const served = pool.deviceStats();
      expect(served.map((d) => d.runs)).toEqual([4, 4]);
      expect(served.map((d) => d.images)).toEqual([8, 8]);
      expect(served.every((d) => d.inFlight === 0 && d.memory === null)).toBe(true);
      expect(new Set(outputs.map((o) => o.device))).toEqual(new Set([0, 1]));
      // The identity model predicts its (normalised) input back: the same for every run and device.
      for (const output of outputs) expect(output.outputs[1]!.data).toEqual(outputs[0]!.outputs[0]!.data);
      expect(pool.gpuMemoryStats()).toBeNull();
    } finally {
      await pool.close();
    }
  });
});

describe('options.device', () => {
  test('validation: an index, distinct indices, or all', async () => {
    for (const device of [-1, '0', [], [0, 0], 'some']) {
      await expectLotusError(createEstimator(identity, { backend: 'cpu', device: device as never }), InvalidArgumentError, { parameter: 'options.device' });
    }
    await expectLotusError(createEstimator(identity, { backend: 'cpu', device: [0, -2] }), InvalidArgumentError, { parameter: 'options.device[1]' });
  });

  const gpu = deviceInfo().usable && tensorrtInfo().available;
  test.skipIf(gpu)('without a usable GPU: tensorrt on several devices is unavailable, auto falls back to one CPU backend', async () => {
    expect(() => tensorrtDevices('all')).toThrow(BackendUnavailableError);
    await expectLotusError(createEstimator(identity, { backend: 'tensorrt', device: [0, 1] }), BackendUnavailableError);
    const warnings: string[] = [];
    const estimator = await createEstimator(identity, { backend: 'auto', device: 'all', onWarning: (w) => warnings.push(w) });
    try {
      expect(estimator.backend).toBe('cpu');
      expect(warnings.join('\n')).toMatch(/using the CPU backend/);
      await estimator.estimate(image);
      expect(estimator.stats().devices).toEqual([{ device: 'cpu', backend: 'cpu', inFlight: 0, runs: 1, images: 1, memory: null }]);
    } finally {
      await estimator.close();
    }
  });
});
