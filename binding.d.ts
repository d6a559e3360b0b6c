// Types of the raw native surface of lotus.node. The public API is lib/; nothing here validates input.

export interface NativeBuildInfo {
  /** The CUDA / TensorRT path is compiled in. False for a source build made without nvcc (CPU-only). */
  gpu: boolean;
  /** Why this build is CPU-only (e.g. "built from source without the CUDA toolkit (no nvcc found)"); null for GPU builds. */
  cpuOnlyReason: string | null;
  /** CUDART_VERSION the addon was compiled against, e.g. 13000; 0 in a CPU-only build. */
  cudaRuntimeVersion: number;
  /** cudart is linked statically: only the driver is needed at run time. */
  cudartStatic: boolean;
  /** CMake CUDA architectures compiled in ("75-real" = SASS for sm_75, "121-virtual" = PTX); empty in a CPU-only build. */
  cudaArchitectures: string[];
  napiVersion: number;
  /** This runtime accepts external ArrayBuffers: native results reach JS without a copy (false: one copy each). */
  externalBuffers: boolean;
}

export interface NativeDeviceProperties {
  index: number;
  name: string;
  uuid: string;
  computeCapability: [number, number];
  totalMemory: number;
  multiProcessorCount: number;
}

export interface NativeDeviceInfo {
  cudaRuntimeVersion: number;
  /** The CUDA version the driver supports (13000 = 13.0); 0 when no NVIDIA driver is installed (or in a CPU-only build). */
  cudaDriverVersion: number;
  /** The installed NVIDIA driver release, e.g. "580.65.06", from the kernel module; null without one. */
  driverRelease: string | null;
  /** The oldest driver this binary runs on (CUDA 13: release 580.65.06); null in a CPU-only build. */
  requiredDriver: { cudaVersion: number; release: string } | null;
  usable: boolean;
  /** Why no device is usable; null when one is. */
  reason: string | null;
  devices: NativeDeviceProperties[];
}

export const buildInfo: NativeBuildInfo;
/**
 * Runtime/driver versions and every visible device from driver attributes: no CUDA context is
 * created on any GPU (a context costs hundreds of MiB and takes an EXCLUSIVE_PROCESS GPU). Free
 * memory is not here: deviceMemory() reads it for one device, off the JS thread.
 */
export function deviceInfo(): NativeDeviceInfo;

export interface NativeDeviceMemory {
  device: number;
  /** Bytes; null when unknown (`reason` says why). */
  free: number | null;
  total: number | null;
  /** 'nvml': NVML (libnvidia-ml.so.1), no CUDA context; 'cuda': cudaMemGetInfo in the device's context. */
  source: 'nvml' | 'cuda' | null;
  reason: string | null;
}

/**
 * One device's free memory, on a libuv pool thread (NVML start-up or a context start-up takes up to
 * seconds). NVML first; without it, cudaMemGetInfo in the device's primary context, which this creates
 * if the process has none there: ask for the device you use, or pass allowContext: false (then free
 * is null without NVML). Rejects ERR_LOTUS_INVALID_ARGUMENT (`device`) for an index that does not exist.
 */
export function deviceMemory(device: number, options?: { allowContext?: boolean }): Promise<NativeDeviceMemory>;

// ---- Shared pixel math on the host (native/core/pixel_math.h): the CPU backend's pre/post ----
// Owned by the data-path work. Async: runs on the libuv pool, never on the event loop.

export type NativeTask = 'depth' | 'normal';
export type NativeResample = 'bilinear' | 'nearest';

export interface NativePreprocessOptions {
  /** Long edge after resizing; 0 = keep the input size. */
  processingResolution: number;
}

export interface NativePreprocessResult {
  /** NCHW float32, N = 1, values in [-1, 1]: the resized image (pipeline.py pads nothing). */
  tensor: Float32Array;
  /** [1, 3, resizedHeight, resizedWidth] */
  shape: [number, number, number, number];
}

/** RGB8/RGBA8 HWC pixels -> network input. Alpha is ignored. */
export function preprocess(
  pixels: Uint8Array, width: number, height: number, channels: 3 | 4,
  options: NativePreprocessOptions,
): Promise<NativePreprocessResult>;

export interface NativePostprocessOptions {
  task: NativeTask;
  outputWidth: number;
  outputHeight: number;
  /** nearest: torch NEAREST_EXACT (Lotus's "nearest"); bilinear: antialiased, as torchvision. */
  resample: NativeResample;
}

/**
 * Network output [1,3,h,w] -> p = clamp(y / 2 + 0.5, 0, 1) resized to the output size -> depth
 * H*W (channel mean) or normals H*W*3 (p itself, interleaved, in [0, 1]).
 */
export function postprocess(
  prediction: Float32Array, shape: [number, number, number, number], options: NativePostprocessOptions,
): Promise<Float32Array>;

/** Depth -> RGB8 through matplotlib's Spectral table, min-max normalised; reversed for disparity. */
export function colorizeDepth(depth: Float32Array, width: number, height: number, reverse: boolean): Uint8Array;

/** Standard normal samples from a counter-based generator: the same values on the host and the GPU. Synchronous; `count` is at most 4 * (16640 / 8)^2 (one image at the largest network input). */
export function gaussianNoise(seed: number, count: number): Float32Array;

// ---- TensorRT (native/addon/tensorrt_binding.cc over the lotus_tensorrt<MAJOR>.so plugin) ----
// Owned by the TensorRT backend work. Errors carry code ERR_LOTUS_TENSORRT with TensorRT's own
// logged messages, or ERR_LOTUS_BACKEND_UNAVAILABLE when no plugin/libnvinfer loaded.

export interface NativeTensorRTInfo {
  available: boolean;
  /** Why not, naming each plugin tried (`lotus_tensorrt11.so: libnvinfer.so.11: cannot open ...`). Null when available. */
  reason: string | null;
  /** The plugin that loaded. */
  pluginPath: string | null;
  /** TensorRT version the plugin was compiled against, e.g. "11.1.0". */
  compiledVersion: string | null;
  /** getInferLibVersion() of the libnvinfer that loaded, e.g. "11.1.0". */
  libraryVersion: string | null;
  /**
   * libnvonnxparser.so.<MAJOR>: needed to build engines, not to run cached ones. `reason` says why
   * it is unusable (TensorRT's own reason when TensorRT is unavailable); null when available.
   */
  onnxParser: { available: boolean; reason: string | null };
  /**
   * libnvinfer_plugin.so.<MAJOR>: TensorRT's standard plugins, registered with
   * initLibNvInferPlugins(logger, "") when the plugin loads (as trtexec does). Optional: only graphs
   * and engines with TensorRT plugin layers need it. `reason` says why it is missing; null when loaded.
   */
  pluginLibrary: { available: boolean; reason: string | null };
}

/** Cached after the first call; never throws. */
export function tensorrtInfo(): NativeTensorRTInfo;

export interface NativeShapeProfile {
  /** Input tensor name (`image`, `noise`). */
  input: string;
  min: number[];
  opt: number[];
  max: number[];
}

export interface NativeBuildOptions {
  onnxPath: string;
  /** CUDA device index (default 0). */
  device?: number;
  /** One range per network input; the same profile is added `lanes` times. */
  profiles: NativeShapeProfile[];
  /** Identical optimization profiles, one per concurrent execution context (default 1). */
  lanes?: number;
  /** Workspace memory pool limit; 0 = TensorRT's default. */
  workspaceBytes?: number;
  /** Builder optimization level 0..5 (default 3). */
  optimizationLevel?: number;
  /** FP16 engine (default true). TensorRT 11 needs an FP16 ONNX for it; TensorRT 10 also takes an FP32 ONNX. */
  fp16?: boolean;
  /** Read before the build and merged back after it (file lock + atomic rename). */
  timingCachePath?: string | null;
}

export interface NativeBuildHandle {
  /** The serialized engine (plan). Rejects with ERR_LOTUS_TENSORRT ("engine build cancelled" after cancel()). */
  promise: Promise<Buffer>;
  /** Asks the builder to stop at its next progress step. */
  cancel(): void;
}

/**
 * Builds an engine on a worker thread. `onProgress(phase, step, steps)` runs on the JS thread;
 * throwing from it cancels. `onWarning(message)` gets TensorRT's warnings of the build and the
 * plugin's own (e.g. a timing cache it could not use), each distinct message once, on the JS thread;
 * without it they go to stderr with LOTUS_TENSORRT_LOG=warning.
 */
export function buildEngine(
  options: NativeBuildOptions,
  onProgress?: ((phase: string, step: number, steps: number) => void) | null,
  onWarning?: ((message: string) => void) | null,
): NativeBuildHandle;

// ---- GPU data path (native/addon/gpu_session_binding.cc over core/gpu_pipeline) ----
// Owned by the data-path work. One request = one CUDA stream from upload to download.

export interface NativeGpuSessionOptions {
  /** CUDA device index. */
  device: number;
  /** Concurrent requests (each an execution context + stream); at most the plan's optimization profiles. */
  lanes: number;
  /** Capture each lane's enqueue as a CUDA graph per input shape (falls back to plain enqueue when not capturable). */
  cudaGraphs: boolean;
  task: NativeTask;
  /** 'generation' models take a `noise` input. */
  mode: 'generation' | 'regression';
  /** The VAE's downscale factor (model metadata lotus.size_multiple); must be 8. */
  sizeMultiple: number;
  /** Idle bytes each buffer pool (device, pinned) keeps for reuse; default 1 GiB. */
  maxPoolBytes?: number;
  /**
   * TensorRT's warnings while deserializing, creating the lanes and running (each distinct message
   * once per session), on the JS thread. Without it they go to stderr with LOTUS_TENSORRT_LOG=warning.
   */
  onWarning?: ((message: string) => void) | null;
}

export interface NativeGpuRunOptions {
  processingResolution: number;
  /** Output resize from the processing size back to the input size. */
  resample: NativeResample;
  /** Noise seed (G models), an integer in [0, 2^53), for the images that carry neither `seed` nor `noise`. */
  seed: number;
}

/** One image of a batch: 8-bit HWC pixels, and (G models) its own noise. */
export interface NativeGpuImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
  /** This image's noise seed (default: options.seed). */
  seed?: number;
  /** This image's explicit noise [1, 4, floor(h / 8), floor(w / 8)] of the resized h x w (instead of a seed). */
  noise?: Float32Array;
}

export interface NativeStageTimings {
  /** Milliseconds of the whole batch, measured with CUDA events on the request's stream. */
  upload: number;
  preprocess: number;
  inference: number;
  postprocess: number;
  download: number;
  total: number;
}

export interface NativeGpuRunOutput {
  /** Depth H*W, or normals H*W*3 (interleaved p in [0, 1]), at the input size. */
  data: Float32Array;
  width: number;
  height: number;
  /** True when `data` is the pinned pool buffer itself (returned to the pool when garbage collected). */
  zeroCopy: boolean;
}

export interface NativeGpuRunResult {
  /** One per image, in order. */
  outputs: NativeGpuRunOutput[];
  timings: NativeStageTimings;
}

export interface NativePoolStats {
  bytesInUse: number;
  bytesCached: number;
  peakBytes: number;
  allocations: number;
  reuses: number;
  frees: number;
}

export interface NativeGpuMemoryStats {
  device: NativePoolStats;
  pinned: NativePoolStats;
  inFlight: number;
}

/**
 * Deserializes the plan and creates the lanes on a libuv pool thread (seconds for a full-size plan;
 * the event loop keeps running). The plan's bytes are read in place until the promise settles: do
 * not transfer or detach its ArrayBuffer meanwhile. Every failure is a rejection:
 * ERR_LOTUS_INVALID_ARGUMENT naming the option, ERR_LOTUS_BACKEND_UNAVAILABLE without a usable GPU
 * or TensorRT, ERR_LOTUS_TENSORRT ("deserialize failed: ...") for a plan TensorRT refuses.
 */
export function openGpuSession(plan: Uint8Array, options: NativeGpuSessionOptions): Promise<GpuSession>;

/** Not exported by a CPU-only build (buildInfo.gpu === false), whose openGpuSession always rejects. */
export class GpuSession {
  /** Internal: sessions come from openGpuSession(); calling it from JS throws ERR_LOTUS_INVALID_ARGUMENT. */
  private constructor();
  /**
   * One network call over a batch of RGB8/RGBA8 HWC images -> one prediction per image, at its input
   * size. Every image must reach the same network input size, and the batch must fit the engine's
   * profile (ERR_LOTUS_INVALID_ARGUMENT naming `images` or `processingResolution` otherwise). Each
   * image is predicted as it would be alone (G models: each image with its own seed or noise).
   * Rejects with ERR_LOTUS_DISPOSED after close(). A run beyond `lanes` in flight waits for a lane
   * on a libuv pool thread: lib/ keeps at most `lanes` runs in flight for that reason.
   */
  run(images: NativeGpuImage[], options: NativeGpuRunOptions): Promise<NativeGpuRunResult>;
  memoryStats(): NativeGpuMemoryStats;
  /**
   * Rejects new runs; runs in flight complete, then the GPU resources are freed on a libuv pool
   * thread, never on the event loop (a session garbage collected unclosed is torn down there too).
   * Resolves once this session's reference is released, which frees everything when no run is in flight.
   */
  close(): Promise<void>;
}
