// Types of the raw native surface of lotus.node. The public API is lib/; nothing here validates input.

export interface NativeBuildInfo {
  /** CUDART_VERSION the addon was compiled against, e.g. 13000. */
  cudaRuntimeVersion: number;
  /** cudart is linked statically: only the driver is needed at run time. */
  cudartStatic: boolean;
  napiVersion: number;
}

export interface NativeDeviceProperties {
  index: number;
  name: string;
  uuid: string;
  computeCapability: [number, number];
  totalMemory: number;
  freeMemory: number;
  multiProcessorCount: number;
}

export interface NativeDeviceInfo {
  cudaRuntimeVersion: number;
  /** 0 when no NVIDIA driver is installed. */
  cudaDriverVersion: number;
  usable: boolean;
  /** Why no device is usable; null when one is. */
  reason: string | null;
  devices: NativeDeviceProperties[];
}

export const buildInfo: NativeBuildInfo;
export function deviceInfo(): NativeDeviceInfo;

// ---- Shared pixel math on the host (native/core/pixel_math.h): the CPU backend's pre/post ----
// Owned by the data-path work. Async: runs on the libuv pool, never on the event loop.

export type NativeTask = 'depth' | 'normal';
export type NativeResample = 'bilinear' | 'nearest';

export interface NativePreprocessOptions {
  /** Long edge after resizing; 0 = keep the input size. */
  processingResolution: number;
  /** Pad (edge replication, bottom/right) up to a multiple of this. */
  sizeMultiple: number;
}

export interface NativePreprocessResult {
  /** NCHW float32, N = 1, values in [-1, 1]. */
  tensor: Float32Array;
  /** [1, 3, paddedHeight, paddedWidth] */
  shape: [number, number, number, number];
  resizedWidth: number;
  resizedHeight: number;
}

/** RGB8/RGBA8 HWC pixels -> network input. Alpha is ignored. */
export function preprocess(
  pixels: Uint8Array, width: number, height: number, channels: 3 | 4,
  options: NativePreprocessOptions,
): Promise<NativePreprocessResult>;

export interface NativePostprocessOptions {
  task: NativeTask;
  resizedWidth: number;
  resizedHeight: number;
  outputWidth: number;
  outputHeight: number;
  resample: NativeResample;
}

/** Network output [1,3,H,W] -> depth H*W or unit normals H*W*3, at the output size. */
export function postprocess(
  prediction: Float32Array, shape: [number, number, number, number], options: NativePostprocessOptions,
): Promise<Float32Array>;

/** Depth -> RGB8 through matplotlib's Spectral table, min-max normalised; reversed for disparity. */
export function colorizeDepth(depth: Float32Array, width: number, height: number, reverse: boolean): Uint8Array;

/** Standard normal samples from a counter-based generator: the same values on the host and the GPU. */
export function gaussianNoise(seed: number, count: number): Float32Array;
