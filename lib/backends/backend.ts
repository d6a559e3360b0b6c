// The interface every inference backend implements (docs/design.md, "Public API").
import type { NativeGpuMemoryStats } from '../../binding';
import type { OutputResample } from '../estimator/options';

/**
 * Device and pinned host pool of a TensorRT session: bytes leased now, idle bytes kept for reuse
 * (bounded by the pool limit), the peak of both, and allocation / reuse / free counts.
 */
export type GpuMemoryStats = NativeGpuMemoryStats;

/** Stage times in milliseconds. */
export interface Timings {
  decode: number;
  preprocess: number;
  inference: number;
  postprocess: number;
  copy: number;
  total: number;
}

/** Decoded 8-bit pixels, HWC. A fourth channel (alpha) is ignored by the backends. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
}

/** Where one image's noise comes from (generation models; regression models ignore it). */
export interface ImageNoise {
  /** Seed of the generated noise, used when `noise` is absent. */
  seed: number;
  /** Explicit noise [1, 4, floor(h / 8), floor(w / 8)] of the network input h x w. */
  noise?: Float32Array;
}

export interface BackendRequest {
  /** Long edge for the network; 0 = the input size. Already validated. */
  processingResolution: number;
  outputResample: OutputResample;
  /**
   * One per image, in order: each image gets the noise it would get alone, so requests from
   * different callers can share one network call.
   */
  noise: readonly ImageNoise[];
}

/** One image's prediction. */
export interface BackendOutput {
  /** Depth H*W, or unit normals H*W*3 (HWC), at the input size. */
  data: Float32Array;
  width: number;
  height: number;
  /**
   * True when `data` is the native buffer itself, handed over without a copy (TensorRT: the pinned
   * download buffer, returned to the pool when `data` is garbage collected); false where the
   * runtime forbids external buffers and one copy was made.
   */
  zeroCopy: boolean;
}

export interface BackendBatchOutput {
  /** One per image, in order. */
  outputs: BackendOutput[];
  /** Of the whole batch. */
  timings: Partial<Timings>;
  /** The device that ran it (set by the device pool). */
  device?: DeviceId;
}

/** A CUDA device index, or 'cpu'. */
export type DeviceId = number | 'cpu';

export interface Backend {
  readonly name: 'cpu' | 'tensorrt';
  /** Most images one run() takes (TensorRT: the engine profile's batch maximum). */
  readonly maxBatch: number;
  /** Runs it executes at once (CPU: 1; TensorRT: its lanes); more wait inside run(). */
  readonly parallelism: number;
  /**
   * One network call over 1..maxBatch images that reach the same network input size; each image is
   * predicted as it would be alone. Safe to call concurrently; a backend serialises or parallelises
   * internally.
   */
  run(images: RgbImage[], request: BackendRequest): Promise<BackendBatchOutput>;
  /** The GPU buffer pools (TensorRT backend); undefined where the backend has none. */
  memoryStats?(): GpuMemoryStats;
  /** Releases native resources after in-flight runs finish. Idempotent. */
  close(): Promise<void>;
}
