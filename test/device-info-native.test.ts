// Issue 12 item 13: deviceInfo() describes every GPU without creating a CUDA context on any of them,
// and free memory is read for one device, off the JS thread (deviceMemory). Driven by a stand-in
// libcuda.so.1 that logs every context-creating call (and any start of the CUDA runtime, which
// cudaGetDeviceCount/cudaSetDevice would be) and a stand-in NVML, so it runs without a GPU.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NativeDeviceInfo, NativeDeviceMemory } from '../binding';
import { native } from '../lib/addon/load';
import { ccAvailable, compileStandIn } from './helpers/stand-ins';
import { tempFolder } from './helpers/temp-folder';

const gpuBuild = native().buildInfo.gpu;
const skip = !gpuBuild ? 'CPU-only build: no device queries compiled in' : !ccAvailable ? 'no C compiler for the stand-ins' : '';
const load = JSON.stringify(path.join(__dirname, '..', 'build', 'Release', 'lotus.node'));

interface ChildReport {
  info: NativeDeviceInfo;
  memory?: NativeDeviceMemory | { code: string; message: string; parameter?: string };
  ticks?: number;
  log: string[];
}

describe.skipIf(skip !== '')(`device queries against a stand-in driver${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const { dir } = tempFolder('lotus-stand-in-cuda-');
  const driverOnly = path.join(dir, 'driver');
  const withNvml = path.join(dir, 'driver-nvml');
  beforeAll(() => {
    compileStandIn(driverOnly, 'libcuda.so.1', 'libcuda.c');
    compileStandIn(withNvml, 'libcuda.so.1', 'libcuda.c');
    compileStandIn(withNvml, 'libnvidia-ml.so.1', 'libnvidia-ml.c');
  });

  /** A fresh process (the driver is loaded once per process) with only the stand-ins to find. */
  function run(libraryDir: string, body: string): ChildReport {
    const log = path.join(dir, `calls-${Math.random().toString(36).slice(2)}.log`);
    const script = `const n = require(${load});
      const out = { info: n.deviceInfo() };
      (async () => { ${body} })().then(() => console.log(JSON.stringify(out)), (e) => { console.error(e); process.exit(3); });`;
    const child = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, LD_LIBRARY_PATH: libraryDir, FAKE_CUDA_LOG: log, FAKE_NVML_INIT_MS: '300' },
    });
    expect(child.status, child.stderr).toBe(0);
    const report = JSON.parse(child.stdout) as ChildReport;
    report.log = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [];
    return report;
  }

  it('deviceInfo() lists every GPU from driver attributes, with no CUDA context and no CUDA runtime start', () => {
    const { info, log } = run(driverOnly, '');
    expect(info).toMatchObject({ usable: true, reason: null, cudaDriverVersion: 13000 });
    expect(info.devices).toEqual([0, 1].map((d) => ({
      index: d,
      name: `Stand-in GPU ${d}`,
      uuid: `GPU-${[0, 1, 2, 3].map((i) => (d * 16 + i).toString(16).padStart(2, '0')).join('')}-${[4, 5].map((i) => (d * 16 + i).toString(16).padStart(2, '0')).join('')}-${[6, 7].map((i) => (d * 16 + i).toString(16).padStart(2, '0')).join('')}-${[8, 9].map((i) => (d * 16 + i).toString(16).padStart(2, '0')).join('')}-${[10, 11, 12, 13, 14, 15].map((i) => (d * 16 + i).toString(16).padStart(2, '0')).join('')}`,
      computeCapability: [8, 9],
      totalMemory: 8 * 2 ** 30,
      multiProcessorCount: 58,
    })));
    // Before: cudaGetDeviceCount/cudaSetDevice/cudaMemGetInfo per GPU (the runtime starts, then a
    // context on each device). Now: cuDeviceGet* attributes only.
    expect(log.filter((line) => !line.startsWith('CALL '))).toEqual([]);
    expect(log).toContain('CALL cuDeviceGetAttribute');
  });

  it('deviceMemory() reads one device from NVML on a pool thread: no context, the event loop keeps running', () => {
    const { memory, ticks, log } = run(withNvml, `
      let ticks = 0;
      const timer = setInterval(() => { ticks += 1; }, 10);
      out.memory = await n.deviceMemory(1);
      clearInterval(timer);
      out.ticks = ticks;`);
    expect(memory).toEqual({ device: 1, free: 3 * 2 ** 30, total: 8 * 2 ** 30, source: 'nvml', reason: null });
    // NVML's start-up takes 300 ms in the stand-in; on the JS thread no timer would have fired.
    expect(ticks).toBeGreaterThanOrEqual(10);
    expect(log.filter((line) => !line.startsWith('CALL '))).toEqual([]);
  });

  it('without NVML and allowContext: false, free memory is unknown with the reason; no context is made', () => {
    const { memory, log } = run(driverOnly, 'out.memory = await n.deviceMemory(0, { allowContext: false });');
    expect(memory).toMatchObject({ device: 0, free: null, total: null, source: null });
    expect((memory as NativeDeviceMemory).reason).toMatch(/^NVML is unavailable \(libnvidia-ml\.so\.1: cannot open shared object file.*would create a context$/);
    expect(log.filter((line) => !line.startsWith('CALL '))).toEqual([]);
  });

  it('a device index that does not exist is an argument error naming `device`', () => {
    const { memory } = run(withNvml, 'out.memory = await n.deviceMemory(2).catch((e) => ({ code: e.code, parameter: e.parameter, message: e.message }));');
    expect(memory).toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'device' });
    expect((memory as { message: string }).message).toMatch(/\[0, 2\), got 2/);
  });
});
