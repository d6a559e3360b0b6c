// The interface every inference backend implements (docs/design.md, "Public API").
import type { OutputResample } from '../options';

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

export interface BackendRequest {
  /** Long edge for the network; 0 = the input size. Already validated. */
  processingResolution: number;
  outputResample: OutputResample;
  /** Seed of the noise for generation models (ignored by regression models). */
  seed: number;
  /** Explicit noise [1, 4, paddedH / 8, paddedW / 8]; its length is validated by the backend. */
  noise?: Float32Array;
}

export interface BackendOutput {
  /** Depth H*W, or unit normals H*W*3 (HWC), at the input size. */
  data: Float32Array;
  width: number;
  height: number;
  timings: Partial<Timings>;
  /** True when `data` views memory the backend may reuse (pinned staging); the caller copies it. */
  zeroCopy: boolean;
}

export interface Backend {
  readonly name: 'cpu' | 'tensorrt';
  /** Safe to call concurrently; a backend serialises or parallelises internally. */
  run(image: RgbImage, request: BackendRequest): Promise<BackendOutput>;
  /** Releases native resources after in-flight runs finish. Idempotent. */
  close(): Promise<void>;
}
