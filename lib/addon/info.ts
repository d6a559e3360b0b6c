// deviceInfo() / tensorrtInfo(): what this machine offers, for diagnostics and backend choice.
import type { NativeDeviceInfo, NativeDeviceMemory, NativeDeviceProperties, NativeTensorRTInfo } from '../../binding';
import { fromNativeError } from '../errors';
import { native } from './load';

/** The device facts are the native ones as they are (binding.d.ts); lib only re-exports them. */
export type DeviceProperties = NativeDeviceProperties;
export type DeviceInfo = NativeDeviceInfo;

/** The native report as it is (binding.d.ts), normalised by tensorrtInfo() below so it never throws. */
export type TensorRTInfo = NativeTensorRTInfo;

export function deviceInfo(): DeviceInfo {
  // A fresh object on every call (the addon builds it), so callers may keep or change it.
  return native().deviceInfo();
}

export type DeviceMemory = NativeDeviceMemory;

/**
 * Free and total memory of one device, read off the JS thread: from NVML when the driver's
 * libnvidia-ml.so.1 loads (no CUDA context), else through the device's own CUDA context, which is
 * created if this process has none there (`allowContext: false` returns free: null instead).
 */
export async function deviceMemory(device: number, options: { allowContext?: boolean } = {}): Promise<DeviceMemory> {
  try {
    return await native().deviceMemory(device, options);
  } catch (error) {
    throw fromNativeError(error);
  }
}

function unavailable(reason: string): TensorRTInfo {
  return {
    available: false, reason, pluginPath: null, compiledVersion: null, libraryVersion: null,
    onnxParser: { available: false, reason }, pluginLibrary: { available: false, reason },
  };
}

const stringOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** Never throws: an addon without TensorRT support, or a failing probe, reports unavailable. */
export function tensorrtInfo(): TensorRTInfo {
  let probe: unknown;
  try {
    probe = (native() as unknown as { tensorrtInfo?: unknown }).tensorrtInfo;
  } catch (error) {
    return unavailable(`the native addon failed to load: ${(error as Error).message}`);
  }
  if (typeof probe !== 'function') return unavailable('this build of the native addon has no TensorRT support (tensorrtInfo is missing)');
  try {
    const info = (probe as () => Record<string, unknown>)();
    const available = info.available === true;
    const reason = available ? null : stringOrNull(info.reason) ?? 'TensorRT is unavailable (no reason given)';
    const parser = (info.onnxParser ?? {}) as Record<string, unknown>;
    const parserAvailable = available && parser.available === true;
    const plugins = (info.pluginLibrary ?? {}) as Record<string, unknown>;
    const pluginsAvailable = available && plugins.available === true;
    return {
      available,
      reason,
      pluginPath: stringOrNull(info.pluginPath),
      compiledVersion: stringOrNull(info.compiledVersion),
      libraryVersion: stringOrNull(info.libraryVersion),
      onnxParser: {
        available: parserAvailable,
        reason: parserAvailable ? null : reason ?? stringOrNull(parser.reason) ?? 'the ONNX parser is unavailable (no reason given)',
      },
      pluginLibrary: {
        available: pluginsAvailable,
        reason: pluginsAvailable ? null : reason ?? stringOrNull(plugins.reason) ?? 'libnvinfer_plugin is unavailable (no reason given)',
      },
    };
  } catch (error) {
    return unavailable(`probing TensorRT failed: ${(error as Error).message}`);
  }
}
