// Which backend an estimator runs on, on which devices: TensorRT on one or several GPUs (one
// session each), or the CPU; 'auto' falls back to the CPU with a warning saying why.
import type { Backend } from '../backends/backend';
import { createCpuBackend } from '../backends/cpu';
import { DevicePool } from '../backends/device-pool';
import { BackendUnavailableError, InvalidArgumentError } from '../errors';
import { deviceInfo, tensorrtInfo } from '../addon/info';
import type { ModelInfo } from '../model/metadata';
import type { DeviceChoice, ResolvedEstimatorOptions } from './options';

/** Loads lib/backends/tensorrt.ts only when TensorRT is wanted: CPU-only use never touches it. */
async function loadTensorRTBackend(): Promise<typeof import('../backends/tensorrt.js')> {
  try {
    return await import('../backends/tensorrt.js');
  } catch (error) {
    throw new BackendUnavailableError(`the TensorRT backend module failed to load: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The CUDA devices `choice` names, checked against the machine; BackendUnavailableError (with the
 * reason) when TensorRT cannot run here, InvalidArgumentError for a device that does not exist.
 */
export function tensorrtDevices(choice: DeviceChoice): number[] {
  let devices: number[];
  try {
    const info = deviceInfo();
    if (!info.usable) throw new BackendUnavailableError(`backend 'tensorrt' is unavailable: no usable CUDA device: ${info.reason ?? 'unknown reason'}`);
    devices = choice === 'all' ? info.devices.map((d) => d.index) : typeof choice === 'number' ? [choice] : [...choice];
    const missing = devices.find((d) => d >= info.devices.length);
    if (missing !== undefined) {
      throw new InvalidArgumentError('options.device', `options.device: expected CUDA device indices below ${info.devices.length}, received ${missing}`);
    }
    if (devices.length === 0) throw new BackendUnavailableError("backend 'tensorrt' is unavailable: options.device 'all' found no CUDA device");
  } catch (error) {
    if (error instanceof InvalidArgumentError || error instanceof BackendUnavailableError) throw error;
    throw new BackendUnavailableError(`backend 'tensorrt' is unavailable: CUDA device query failed: ${(error as Error).message}`, { cause: error });
  }
  const trt = tensorrtInfo();
  if (!trt.available) throw new BackendUnavailableError(`backend 'tensorrt' is unavailable: TensorRT is not available: ${trt.reason}`);
  return devices;
}

/** One TensorRT session per device, opened one after the other (engine builds are not run in parallel). */
async function createTensorRT(model: ModelInfo, options: ResolvedEstimatorOptions): Promise<DevicePool> {
  const devices = tensorrtDevices(options.device);
  const { TensorRTBackend } = await loadTensorRTBackend();
  const opened: { device: number; backend: Backend }[] = [];
  try {
    for (const device of devices) {
      opened.push({ device, backend: await TensorRTBackend.create(model, { device, tensorrt: options.tensorrt, onWarning: options.onWarning }) });
    }
  } catch (error) {
    await Promise.allSettled(opened.map((m) => m.backend.close()));
    throw error;
  }
  return new DevicePool(opened);
}

async function createCpu(model: ModelInfo, options: ResolvedEstimatorOptions): Promise<DevicePool> {
  return new DevicePool([{ device: 'cpu', backend: await createCpuBackend(model, options.cpu, options.onWarning) }]);
}

export async function selectBackend(model: ModelInfo, options: ResolvedEstimatorOptions): Promise<DevicePool> {
  switch (options.backend) {
    case 'cpu':
      return createCpu(model, options);
    case 'tensorrt':
      return createTensorRT(model, options);
    case 'auto':
      try {
        return await createTensorRT(model, options);
      } catch (error) {
        if (!(error instanceof BackendUnavailableError)) throw error;
        options.onWarning(`lotus-trt: using the CPU backend (onnxruntime), much slower than TensorRT: ${error.message}`);
        return createCpu(model, options);
      }
  }
}
