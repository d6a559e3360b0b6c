// The native addon loads without a GPU or TensorRT, and reports what it found with reasons.
import { describe, expect, test } from 'vitest';
import { InternalError, InvalidArgumentError, deviceInfo, native, tensorrtInfo } from '../lib/index';
import { fromNativeError } from '../lib/errors';

describe('native addon', () => {
  test('loads and reports its build', () => {
    const { buildInfo } = native();
    expect(Number.isInteger(buildInfo.cudaRuntimeVersion)).toBe(true);
    // A CPU-only build (no nvcc when it was compiled) reports no CUDA at all: test/build-variants.test.ts.
    if (buildInfo.gpu) {
      expect(buildInfo.cudaRuntimeVersion).toBeGreaterThanOrEqual(11000);
      expect(buildInfo.cudartStatic).toBe(true);
    }
    expect(buildInfo.napiVersion).toBeGreaterThanOrEqual(8);
    // Node allows external ArrayBuffers (Electron's memory cage does not): results are zero-copy here.
    expect(buildInfo.externalBuffers).toBe(true);
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
      if (info.cudaDriverVersion === 0) expect(info.reason).toMatch(native().buildInfo.gpu ? /driver/i : /CPU-only/);
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
      // No TensorRT, no parser: the parser's reason is TensorRT's.
      expect(info.onnxParser).toEqual({ available: false, reason: info.reason });
    }
    expect(info.onnxParser.available === (info.onnxParser.reason === null)).toBe(true);
  });

  test('native argument errors carry code and parameter, and map to InvalidArgumentError', async () => {
    let raw: unknown;
    try {
      await native().preprocess(new Uint8Array(3), 1, 1, 5 as never, { processingResolution: 0 });
    } catch (error) {
      raw = error;
    }
    expect(raw).toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'channels' });
    const mapped = fromNativeError(raw);
    expect(mapped).toBeInstanceOf(InvalidArgumentError);
    expect(mapped).toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'channels' });
    const internal = fromNativeError(Object.assign(new Error('out of host memory'), { code: 'ERR_LOTUS_INTERNAL' }));
    expect(internal).toBeInstanceOf(InternalError);
    expect(internal).toMatchObject({ code: 'ERR_LOTUS_INTERNAL', message: 'out of host memory' });
  });

  test.skipIf(!native().buildInfo.gpu)('openGpuSession checks its arguments and rejects (never throws) with typed errors (GPU builds; CPU-only: test/build-variants.test.ts)', async () => {
    const { openGpuSession, GpuSession } = native();
    const options = { device: 0, lanes: 1, cudaGraphs: false, task: 'depth' as const, mode: 'generation' as const, sizeMultiple: 8 };
    await expect(openGpuSession('plan' as unknown as Uint8Array, options))
      .rejects.toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'plan' });
    await expect(openGpuSession(new Uint8Array(0), options))
      .rejects.toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'plan' });
    await expect(openGpuSession(new Uint8Array(64), { ...options, lanes: 0 }))
      .rejects.toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'lanes' });
    await expect(openGpuSession(new Uint8Array(64), { ...options, task: 'segmentation' as 'depth' }))
      .rejects.toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'task' });
    // Past the arguments: no GPU (here), no TensorRT, or a plan TensorRT refuses; a typed rejection each way.
    const opened = openGpuSession(new Uint8Array(64), options);
    await expect(opened).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_LOTUS_(BACKEND_UNAVAILABLE|TENSORRT)$/) });
    if (!deviceInfo().usable) await expect(opened).rejects.toThrow(deviceInfo().reason!);
    // Sessions come only from openGpuSession: the constructor refuses anything else, a foreign External included.
    const Constructor = GpuSession as unknown as new (...args: unknown[]) => unknown;
    expect(() => new Constructor(new Uint8Array(64), options)).toThrow(expect.objectContaining({ parameter: 'GpuSession' }));
    expect(() => new Constructor()).toThrow(expect.objectContaining({ code: 'ERR_LOTUS_INVALID_ARGUMENT' }));
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
