// The native addon loads without a GPU or TensorRT, and reports what it found with reasons.
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError, deviceInfo, native, tensorrtInfo } from '../lib/index';
import { fromNativeError } from '../lib/errors';

describe('native addon', () => {
  test('loads and reports its build', () => {
    const { buildInfo } = native();
    expect(Number.isInteger(buildInfo.cudaRuntimeVersion)).toBe(true);
    expect(buildInfo.cudaRuntimeVersion).toBeGreaterThanOrEqual(11000);
    expect(buildInfo.cudartStatic).toBe(true);
    expect(buildInfo.napiVersion).toBeGreaterThanOrEqual(8);
  });

  test('deviceInfo() reports usable devices, or a reason when there are none', () => {
    const info = deviceInfo();
    expect(info.cudaRuntimeVersion).toBe(native().buildInfo.cudaRuntimeVersion);
    if (info.usable) {
      expect(info.reason).toBeNull();
      expect(info.devices.length).toBeGreaterThan(0);
      for (const device of info.devices) {
        expect(device.name.length).toBeGreaterThan(0);
        expect(device.computeCapability).toHaveLength(2);
        expect(device.totalMemory).toBeGreaterThan(0);
      }
    } else {
      expect(typeof info.reason).toBe('string');
      expect(info.reason!.length).toBeGreaterThan(10);
      if (info.cudaDriverVersion === 0) expect(info.reason).toMatch(/driver/i);
    }
  });

  test('tensorrtInfo() never throws and gives a reason when TensorRT is unavailable', () => {
    const info = tensorrtInfo();
    expect(typeof info.available).toBe('boolean');
    if (info.available) {
      expect(info.reason).toBeNull();
      expect(info.pluginPath).toMatch(/lotus_tensorrt\d+\.so$/);
      expect(info.libraryVersion).not.toBeNull();
    } else {
      expect(info.reason).toMatch(/\w.{10,}/);
      expect(info.libraryVersion).toBeNull();
    }
  });

  test('native argument errors carry code and parameter, and map to InvalidArgumentError', async () => {
    let raw: unknown;
    try {
      await native().preprocess(new Uint8Array(3), 1, 1, 5 as never, { processingResolution: 0, sizeMultiple: 8 });
    } catch (error) {
      raw = error;
    }
    expect(raw).toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'channels' });
    const mapped = fromNativeError(raw);
    expect(mapped).toBeInstanceOf(InvalidArgumentError);
    expect(mapped).toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'channels' });
  });

  test('gaussianNoise is deterministic per seed and standard normal', () => {
    const { gaussianNoise } = native();
    const a = gaussianNoise(7, 100_000);
    expect(a).toBeInstanceOf(Float32Array);
    expect(a).toHaveLength(100_000);
    expect(gaussianNoise(7, 100_000)).toEqual(a);
    expect(gaussianNoise(8, 16)).not.toEqual(a.subarray(0, 16));
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    // 100k samples: the standard error of the mean is ~0.003, of the variance ~0.0045.
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
  });
});
