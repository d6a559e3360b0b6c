// The two kinds of native build: a GPU build (nvcc was there) and a CPU-only one (it was not). Both
// load, report which they are, and name the driver; a CPU-only build refuses every GPU entry point
// with ERR_LOTUS_BACKEND_UNAVAILABLE and a reason that says how to get a GPU build.
import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import { BackendUnavailableError, createEstimator, deviceInfo, native, tensorrtInfo } from '../lib/index';
import { fixturesDir } from './helpers/fixtures';
import path from 'node:path';

const build = native().buildInfo;

describe('build facts', () => {
  test('buildInfo says whether the GPU path is compiled in, and why not', () => {
    expect(typeof build.gpu).toBe('boolean');
    if (build.gpu) {
      expect(build.cpuOnlyReason).toBeNull();
      expect(build.cudaArchitectures.length).toBeGreaterThan(0);
      for (const arch of build.cudaArchitectures) expect(arch).toMatch(/^(\d+(-real|-virtual)?|native|all|all-major)$/);
    } else {
      expect(build.cpuOnlyReason).toMatch(/\w{5}/);
      expect(build.cudaArchitectures).toEqual([]);
      expect(build.cudaRuntimeVersion).toBe(0);
    }
  });

  test('deviceInfo() names the installed driver release and the minimum this binary needs', () => {
    const info = deviceInfo();
    expect(info.driverRelease === null || /^\d+\.\d+(\.\d+)?$/.test(info.driverRelease)).toBe(true);
    if (build.gpu) {
      expect(info.requiredDriver).not.toBeNull();
      expect(info.requiredDriver!.cudaVersion).toBe(Math.floor(build.cudaRuntimeVersion / 1000) * 1000);
      // CUDA 13 needs the r580 driver branch, CUDA 12 r525.
      const expected = build.cudaRuntimeVersion >= 13000 ? /^580\./ : /^525\./;
      expect(info.requiredDriver!.release).toMatch(expected);
    } else {
      expect(info.requiredDriver).toBeNull();
    }
  });
});

describe.skipIf(!build.gpu)(`the GPU code in the binary${build.gpu ? '' : ' (skipped: CPU-only build)'}`, () => {
  test('scripts/release/cuda-archs.js finds SASS for each -real and PTX for each -virtual architecture buildInfo lists', () => {
    const { listCudaArchitectures } = createRequire(__filename)('../scripts/release/cuda-archs.js') as {
      listCudaArchitectures: (file: string) => { sass: number[]; ptx: number[] };
    };
    const binary = (require('node-gyp-build') as { resolve: (dir: string) => string }).resolve(path.join(__dirname, '..'));
    const numbers = (suffix: string) => build.cudaArchitectures.filter((a) => a.endsWith(suffix)).map((a) => Number.parseInt(a, 10)).sort((a, b) => a - b);
    expect(listCudaArchitectures(binary)).toEqual({ sass: numbers('-real'), ptx: numbers('-virtual') });
  });
});

describe.skipIf(build.gpu)(`a CPU-only build${build.gpu ? ' (skipped: this is a GPU build)' : ''}`, () => {
  const howTo = /CPU-only .*--build-from-source.*nvcc/;

  test('deviceInfo() and tensorrtInfo() say it is CPU-only and how to get a GPU build', () => {
    expect(deviceInfo()).toMatchObject({ usable: false, devices: [], reason: expect.stringMatching(howTo) });
    expect(tensorrtInfo()).toMatchObject({ available: false, reason: expect.stringMatching(howTo) });
  });

  test('the GPU entry points refuse with ERR_LOTUS_BACKEND_UNAVAILABLE', async () => {
    expect(() => native().buildEngine({ onnxPath: 'm.onnx', profiles: [] }))
      .toThrow(expect.objectContaining({ code: 'ERR_LOTUS_BACKEND_UNAVAILABLE', message: expect.stringMatching(howTo) }));
    await expect(native().openGpuSession(new Uint8Array(64), {
      device: 0, lanes: 1, cudaGraphs: false, task: 'depth', mode: 'generation', sizeMultiple: 8,
    })).rejects.toMatchObject({ code: 'ERR_LOTUS_BACKEND_UNAVAILABLE', message: expect.stringMatching(howTo) });
  });

  test("backend 'tensorrt' fails with a typed error that says how to get a GPU build; 'auto' runs on the CPU", async () => {
    const model = path.join(fixturesDir, 'tiny-depth-g.onnx');
    const error = await createEstimator(model, { backend: 'tensorrt' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toMatch(howTo);
    const warnings: string[] = [];
    const estimator = await createEstimator(model, { backend: 'auto', onWarning: (w) => warnings.push(w) });
    try {
      expect(estimator.backend).toBe('cpu');
      expect(warnings.join('\n')).toMatch(howTo);
    } finally {
      await estimator.close();
    }
  });
});
