// `lotus info`: GPUs, driver, CUDA runtime, TensorRT availability and the cached engines.
import os from 'node:os';
import { defaultCacheDir } from '../cache/engine-cache';
import { deviceInfo, deviceMemory, tensorrtInfo, type DeviceInfo, type DeviceMemory } from '../addon/info';
import { native } from '../addon/load';
import { flag, parse, stringOption } from './args';
import { printJson } from './common';
import { listCachedEngines } from './engines';

/** CUDA's integer versions (12040) as "12.4". */
export function cudaVersion(v: number): string | null {
  if (!v) return null;
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

function safeDeviceInfo(): DeviceInfo | { error: string } {
  try {
    return deviceInfo();
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const GiB = 1024 ** 3;

/** Free memory from NVML only: `lotus info` must not start a CUDA context on every GPU. */
async function freeMemoryOf(device: DeviceInfo | { error: string }): Promise<Map<number, DeviceMemory>> {
  const memory = new Map<number, DeviceMemory>();
  if ('error' in device) return memory;
  await Promise.all(device.devices.map(async (d) => {
    try {
      memory.set(d.index, await deviceMemory(d.index, { allowContext: false }));
    } catch (error) {
      memory.set(d.index, { device: d.index, free: null, total: null, source: null, reason: (error as Error).message });
    }
  }));
  return memory;
}

export async function infoCommand(argv: string[]): Promise<number> {
  const { values } = parse('info', argv, {
    'cache-dir': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  const cacheDir = stringOption(values, 'cache-dir') ?? defaultCacheDir();
  const device = safeDeviceInfo();
  const memory = await freeMemoryOf(device);
  const trt = tensorrtInfo();
  const engines = await listCachedEngines(cacheDir);
  const build = native().buildInfo;
  const cpus = os.cpus();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const version = (require('../../package.json') as { version: string }).version;

  const doc = {
    lotusTrt: version,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: { model: cpus[0]?.model ?? 'unknown', cores: cpus.length },
    build: { gpu: build.gpu, cpuOnlyReason: build.cpuOnlyReason, cudaArchitectures: build.cudaArchitectures },
    cuda: 'error' in device
      ? { error: device.error }
      : {
        usable: device.usable,
        reason: device.reason,
        driverRelease: device.driverRelease,
        driverVersion: cudaVersion(device.cudaDriverVersion),
        runtimeVersion: cudaVersion(device.cudaRuntimeVersion),
        requiredDriver: device.requiredDriver
          ? { release: device.requiredDriver.release, cudaVersion: cudaVersion(device.requiredDriver.cudaVersion) }
          : null,
        devices: device.devices.map((d) => ({ ...d, freeMemory: memory.get(d.index)?.free ?? null })),
      },
    tensorrt: trt,
    cache: { dir: cacheDir, engines },
  };

  if (flag(values, 'json')) {
    printJson(doc);
    return 0;
  }
  const lines: string[] = [];
  lines.push(`lotus-trt ${version} (node ${process.version}, ${doc.platform})`);
  lines.push(`CPU: ${doc.cpu.model} (${doc.cpu.cores} cores)`);
  lines.push(build.gpu
    ? `Native addon: GPU build (CUDA ${cudaVersion(build.cudaRuntimeVersion) ?? '?'}, architectures ${build.cudaArchitectures.join(' ')})`
    : `Native addon: CPU-only (${build.cpuOnlyReason ?? 'no GPU support compiled in'})`);
  if ('error' in device) {
    lines.push(`CUDA: device query failed: ${device.error}`);
  } else {
    const installed = device.driverRelease
      ? `${device.driverRelease}${device.cudaDriverVersion ? ` (CUDA ${cudaVersion(device.cudaDriverVersion)})` : ''}`
      : cudaVersion(device.cudaDriverVersion) ? `CUDA ${cudaVersion(device.cudaDriverVersion)}` : 'not installed';
    const needed = device.requiredDriver
      ? `; this binary needs ${device.requiredDriver.release} or newer (CUDA ${cudaVersion(device.requiredDriver.cudaVersion)})`
      : '';
    lines.push(`NVIDIA driver: ${installed}${needed}`);
    if (build.gpu) lines.push(`CUDA runtime (static): ${cudaVersion(device.cudaRuntimeVersion) ?? 'unknown'}`);
    if (device.devices.length === 0) lines.push(`GPUs: none${device.reason ? ` (${device.reason})` : ''}`);
    for (const d of device.devices) {
      const free = memory.get(d.index)?.free;
      lines.push(`GPU ${d.index}: ${d.name}, compute ${d.computeCapability.join('.')}, ` +
        `${(d.totalMemory / GiB).toFixed(1)} GiB${typeof free === 'number' ? ` (${(free / GiB).toFixed(1)} free)` : ''}, ${d.multiProcessorCount} SMs`);
    }
    if (!device.usable && device.devices.length > 0 && device.reason) lines.push(`  not usable: ${device.reason}`);
  }
  if (trt.available) {
    lines.push(`TensorRT: available, library ${trt.libraryVersion ?? '?'} (plugin built for ${trt.compiledVersion ?? '?'})`);
    lines.push(trt.onnxParser.available
      ? 'TensorRT ONNX parser: available (engines can be built)'
      : `TensorRT ONNX parser: unavailable, cached engines only: ${trt.onnxParser.reason ?? 'unknown reason'}`);
  } else {
    lines.push(`TensorRT: unavailable: ${trt.reason ?? 'unknown reason'}`);
  }
  lines.push(`TensorRT plugin: ${trt.pluginPath ?? 'none loaded'}`);
  lines.push(`Engine cache: ${cacheDir} (${engines.length} engine${engines.length === 1 ? '' : 's'})`);
  for (const e of engines) {
    const size = e.planSize !== null ? `${(e.planSize / 1024 ** 2).toFixed(1)} MiB` : 'plan missing';
    lines.push(`  ${e.key.slice(0, 16)}  ${e.onnx[0] ?? '?'}  ${e.gpu ?? '?'}  TensorRT ${e.tensorrt ?? '?'}  ${e.precision ?? '?'}  ${size}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
