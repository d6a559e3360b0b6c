// Options of createEstimator() and estimate(): their types, validation and defaults.
import { InvalidArgumentError } from '../errors';
import type { ModelInfo } from '../model/metadata';
import { resolveInputFormats, resolveMaxInputPixels, type InputFormat } from '../io/input-policy';
import { resolveMemoryBudget } from './memory-budget';
import {
  integer,
  invalid,
  isDetached,
  optionalBoolean,
  optionalFunction,
  optionalInteger,
  optionalOneOf,
  optionalString,
  optionsObject,
} from '../validate';

export type BackendChoice = 'auto' | 'tensorrt' | 'cpu';
export type InputResample = 'bilinear';
export type OutputResample = 'nearest' | 'bilinear';

/** Largest processing resolution and image side accepted (pixels). */
export const MAX_IMAGE_SIDE = 16384;

/** An image size for a TensorRT optimization profile: a square side, or [height, width]. */
export type ProfileSize = number | readonly [height: number, width: number];

export interface TensorRTOptions {
  /** Where built engines (plans) are cached. Default: a lotus-trt folder in the user cache. */
  cacheDir?: string;
  /** Builder workspace limit in bytes (default: TensorRT's). */
  workspaceBytes?: number;
  /** Execution contexts that may run concurrently (one optimization profile each). */
  lanes?: number;
  /** Capture each request shape in a CUDA graph. */
  cudaGraphs?: boolean;
  /** TensorRT builder optimization level, 0..5. */
  optimizationLevel?: number;
  minSize?: ProfileSize;
  optSize?: ProfileSize;
  maxSize?: ProfileSize;
  /** Largest batch the engine accepts (its profile's N range is 1..maxBatch; default 1): estimateBatch() sends up to this many images per call. */
  maxBatch?: number;
  /** Reuse a timing cache across builds (default true). */
  timingCache?: boolean;
  /** Engine build progress; called on the main thread. */
  onProgress?: (phase: string, step: number, steps: number) => void;
}

export interface CpuOptions {
  /** onnxruntime intra-op threads (default: onnxruntime's choice, the physical cores). */
  intraOpThreads?: number;
  /** Most images estimateBatch() sends to onnxruntime in one run (default 4; memory grows with it). */
  maxBatch?: number;
  /** Cache onnxruntime's optimised graph on the first load and load that later (default: for models of 64 MiB or more). */
  cache?: boolean;
  /** Folder of that cache (it uses a `cpu/` subfolder). Default: the engine cache folder (`$LOTUS_CACHE_DIR`, else ~/.cache/lotus-trt). */
  cacheDir?: string;
  /** onnxruntime's memory arena: keeps freed activation memory for reuse (default false: lower peak memory). */
  arena?: boolean;
  /**
   * onnxruntime's MatMul weight pre-packing at load (default true). Without it a batch's results differ
   * from single runs by ~5e-6 (onnxruntime's unpacked GEMM blocks by row count), so batching would no
   * longer be bit-identical; false saves ~1.1 GB after load on the full-size model (docs/benchmarks.md).
   */
  prepack?: boolean;
  /** Load progress of large models (64 MiB or more), which take seconds; called on the main thread. */
  onProgress?: (phase: string, step: number, steps: number) => void;
}

/**
 * Dynamic batching of concurrent estimate() calls: images that reach the same network call wait up
 * to `maxDelayMs` for company and run together, up to `maxBatch` (capped by the backend's batch
 * limit: `cpu.maxBatch`, or the engine's `tensorrt.maxBatch`).
 */
export interface BatchingOptions {
  /** Most images per network call (default: the backend's limit). */
  maxBatch?: number;
  /** Longest wait for company, in milliseconds (default 2). */
  maxDelayMs?: number;
}

/** What onBatch receives after each backend call. */
export interface BatchInfo {
  /** Images in the call. */
  size: number;
  /** The device that ran it: a CUDA index, or 'cpu'. */
  device: number | 'cpu';
  /** Wall time of the backend call (ms), or undefined when it failed. */
  ms: number | undefined;
}

/** A CUDA device index, several, or every usable device ('all'): one TensorRT session per device. */
export type DeviceChoice = number | readonly number[] | 'all';

export interface EstimatorOptions {
  backend?: BackendChoice;
  /** Long edge the image is resized to before the network; 0 = no resize. Default: the model's (768). */
  processingResolution?: number;
  /** Resize of the input to the processing resolution (the reference's bilinear, antialiased). */
  resample?: InputResample;
  /**
   * Resize of the prediction back to the input size: 'nearest' (Lotus's, torchvision NEAREST_EXACT)
   * or 'bilinear' (antialiased, as Lotus's resize_back does for 'bilinear').
   */
  outputResample?: OutputResample;
  /**
   * Rotate images by their EXIF orientation before predicting (default true: the photo as it is
   * displayed). Lotus's infer.py reads pixels as stored (PIL ignores EXIF): false matches it.
   */
  autoOrient?: boolean;
  /**
   * CUDA device (TensorRT backend): an index, several (`[0, 1]`), or `'all'`. With several, each has
   * its own session and every network call goes to the least-loaded one.
   */
  device?: DeviceChoice;
  tensorrt?: TensorRTOptions;
  cpu?: CpuOptions;
  /** Receives warnings such as the reason for falling back to the CPU. Default: process.emitWarning. */
  onWarning?: (message: string) => void;
  /**
   * Most host memory (bytes) one CPU-backend request may need, estimated from its network size
   * before it runs (larger requests fail with InvalidArgumentError naming processingResolution).
   * Default: 80% of the memory available when the model has loaded.
   */
  memoryBudget?: number;
  /** Largest input image (width x height), checked from its header before decoding. Default 8192 x 8192. */
  maxInputPixels?: number;
  /** Encoded formats accepted from paths and Buffers. Default: raster ('jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'); 'svg' only when listed. */
  inputFormats?: readonly InputFormat[];
  /** Coalesce concurrent estimate() calls into batches (default: off; `true` or `{}` for the defaults). */
  batching?: BatchingOptions | boolean;
  /**
   * Most requests that may wait for admission beyond those being served; one more rejects at once
   * with BusyError. Default: unbounded.
   */
  maxQueue?: number;
  /** Called after every backend call (e.g. for metrics); errors it throws are reported through onWarning. */
  onBatch?: (batch: BatchInfo) => void;
}

export interface EstimateOptions {
  processingResolution?: number;
  outputResample?: OutputResample;
  /** Seed of the noise of generation (G) models. Default 0. */
  seed?: number;
  /** Explicit noise for G models, float32 [1, 4, floor(h / 8), floor(w / 8)] of the resized h x w (the network input). */
  noise?: Float32Array;
  /** Overrides the estimator's autoOrient for this call. */
  autoOrient?: boolean;
  /**
   * Cancels the request: waiting, it leaves the queue and rejects at once with AbortedError; running,
   * it finishes but its result is dropped (the promise has already rejected).
   */
  signal?: AbortSignal;
  /** Rejects with TimeoutError after this many milliseconds, with the same effect as `signal`. */
  timeoutMs?: number;
}

export interface ResolvedEstimatorOptions {
  backend: BackendChoice;
  processingResolution: number;
  resample: InputResample;
  outputResample: OutputResample;
  autoOrient: boolean;
  device: DeviceChoice;
  tensorrt: TensorRTOptions;
  cpu: CpuOptions;
  onWarning: (message: string) => void;
  /** undefined: the default, decided once the model has loaded. */
  memoryBudget: number | undefined;
  maxInputPixels: number | undefined;
  inputFormats: readonly InputFormat[] | undefined;
  batching: BatchingOptions | undefined;
  maxQueue: number | undefined;
  onBatch: ((batch: BatchInfo) => void) | undefined;
}

export interface ResolvedEstimateOptions {
  processingResolution: number;
  outputResample: OutputResample;
  seed: number;
  noise: Float32Array | undefined;
  autoOrient: boolean;
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
}

const ESTIMATOR_KEYS = [
  'backend', 'processingResolution', 'resample', 'outputResample', 'autoOrient', 'device', 'tensorrt', 'cpu', 'onWarning',
  'memoryBudget', 'maxInputPixels', 'inputFormats', 'batching', 'maxQueue', 'onBatch',
] as const;
const TENSORRT_KEYS = [
  'cacheDir', 'workspaceBytes', 'lanes', 'cudaGraphs', 'optimizationLevel', 'minSize', 'optSize', 'maxSize',
  'maxBatch', 'timingCache', 'onProgress',
] as const;
const CPU_KEYS = ['intraOpThreads', 'maxBatch', 'cache', 'cacheDir', 'arena', 'prepack', 'onProgress'] as const;
const ESTIMATE_KEYS = ['processingResolution', 'outputResample', 'seed', 'noise', 'autoOrient', 'signal', 'timeoutMs'] as const;
const BATCHING_KEYS = ['maxBatch', 'maxDelayMs'] as const;

/** Longest timeoutMs / maxDelayMs accepted: setTimeout's limit (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

// The native Philox generator keys on any JS safe integer (the CLI's --seed takes the same range).
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

function defaultWarning(message: string): void {
  process.emitWarning(message, { code: 'LOTUS_WARNING' });
}

function profileSize(value: unknown, parameter: string): ProfileSize | undefined {
  if (value === undefined) return undefined;
  const side = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 8 && v <= MAX_IMAGE_SIDE;
  if (side(value)) return value as number;
  if (Array.isArray(value) && value.length === 2 && side(value[0]) && side(value[1])) {
    return [value[0] as number, value[1] as number];
  }
  throw invalid(parameter, `an integer side or a [height, width] pair of integers between 8 and ${MAX_IMAGE_SIDE}`, value);
}

function resolveTensorRTOptions(value: unknown): TensorRTOptions {
  const o = optionsObject(value, 'options.tensorrt', TENSORRT_KEYS);
  const resolved: TensorRTOptions = {
    cacheDir: optionalString(o.cacheDir, 'options.tensorrt.cacheDir'),
    workspaceBytes: optionalInteger(o.workspaceBytes, 'options.tensorrt.workspaceBytes', { min: 0 }),
    lanes: optionalInteger(o.lanes, 'options.tensorrt.lanes', { min: 1, max: 16 }),
    cudaGraphs: optionalBoolean(o.cudaGraphs, 'options.tensorrt.cudaGraphs'),
    optimizationLevel: optionalInteger(o.optimizationLevel, 'options.tensorrt.optimizationLevel', { min: 0, max: 5 }),
    minSize: profileSize(o.minSize, 'options.tensorrt.minSize'),
    optSize: profileSize(o.optSize, 'options.tensorrt.optSize'),
    maxSize: profileSize(o.maxSize, 'options.tensorrt.maxSize'),
    maxBatch: optionalInteger(o.maxBatch, 'options.tensorrt.maxBatch', { min: 1, max: 1024 }),
    timingCache: optionalBoolean(o.timingCache, 'options.tensorrt.timingCache'),
    onProgress: optionalFunction<NonNullable<TensorRTOptions['onProgress']>>(o.onProgress, 'options.tensorrt.onProgress'),
  };
  // Drop unset keys so that backends can spread their own defaults under these.
  for (const key of Object.keys(resolved) as (keyof TensorRTOptions)[]) {
    if (resolved[key] === undefined) delete resolved[key];
  }
  return resolved;
}

function resolveCpuOptions(value: unknown): CpuOptions {
  const o = optionsObject(value, 'options.cpu', CPU_KEYS);
  const intraOpThreads = optionalInteger(o.intraOpThreads, 'options.cpu.intraOpThreads', { min: 0, max: 1024 });
  const maxBatch = optionalInteger(o.maxBatch, 'options.cpu.maxBatch', { min: 1, max: 1024 });
  const resolved: CpuOptions = {
    intraOpThreads,
    maxBatch,
    cache: optionalBoolean(o.cache, 'options.cpu.cache'),
    cacheDir: optionalString(o.cacheDir, 'options.cpu.cacheDir'),
    arena: optionalBoolean(o.arena, 'options.cpu.arena'),
    prepack: optionalBoolean(o.prepack, 'options.cpu.prepack'),
    onProgress: optionalFunction<NonNullable<CpuOptions['onProgress']>>(o.onProgress, 'options.cpu.onProgress'),
  };
  for (const key of Object.keys(resolved) as (keyof CpuOptions)[]) {
    if (resolved[key] === undefined) delete resolved[key];
  }
  return resolved;
}

function resolveBatching(value: unknown): BatchingOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return {};
  const o = optionsObject(value, 'options.batching', BATCHING_KEYS);
  const maxBatch = optionalInteger(o.maxBatch, 'options.batching.maxBatch', { min: 1, max: 1024 });
  const maxDelayMs = optionalInteger(o.maxDelayMs, 'options.batching.maxDelayMs', { min: 0, max: MAX_TIMER_MS });
  return {
    ...(maxBatch === undefined ? {} : { maxBatch }),
    ...(maxDelayMs === undefined ? {} : { maxDelayMs }),
  };
}

function resolveDevice(value: unknown): DeviceChoice {
  if (value === undefined) return 0;
  if (value === 'all') return 'all';
  if (Array.isArray(value)) {
    const expected = "a CUDA device index, a non-empty array of distinct indices, or 'all'";
    if (value.length === 0 || value.length > 1024) throw invalid('options.device', expected, value);
    value.forEach((d, i) => integer(d, `options.device[${i}]`, { min: 0, max: 1023 }));
    if (new Set(value).size !== value.length) throw invalid('options.device', expected, value);
    return [...(value as number[])];
  }
  if (typeof value === 'string') throw invalid('options.device', "a CUDA device index, an array of them, or 'all'", value);
  return integer(value, 'options.device', { min: 0, max: 1023 });
}

function isAbortSignal(value: unknown): value is AbortSignal {
  return value instanceof AbortSignal;
}

/** Validates createEstimator() options before the model is read. */
export function resolveEstimatorOptions(value: unknown): Omit<ResolvedEstimatorOptions, 'processingResolution'> & {
  processingResolution: number | undefined;
} {
  const o = optionsObject(value, 'options', ESTIMATOR_KEYS);
  return {
    backend: optionalOneOf(o.backend, 'options.backend', ['auto', 'tensorrt', 'cpu'] as const) ?? 'auto',
    processingResolution: optionalInteger(o.processingResolution, 'options.processingResolution', { min: 0, max: MAX_IMAGE_SIDE }),
    resample: optionalOneOf(o.resample, 'options.resample', ['bilinear'] as const) ?? 'bilinear',
    outputResample: optionalOneOf(o.outputResample, 'options.outputResample', ['nearest', 'bilinear'] as const) ?? 'nearest',
    autoOrient: optionalBoolean(o.autoOrient, 'options.autoOrient') ?? true,
    device: resolveDevice(o.device),
    tensorrt: resolveTensorRTOptions(o.tensorrt),
    cpu: resolveCpuOptions(o.cpu),
    onWarning: optionalFunction<(message: string) => void>(o.onWarning, 'options.onWarning') ?? defaultWarning,
    memoryBudget: resolveMemoryBudget(o.memoryBudget),
    maxInputPixels: resolveMaxInputPixels(o.maxInputPixels, MAX_IMAGE_SIDE),
    inputFormats: resolveInputFormats(o.inputFormats),
    batching: resolveBatching(o.batching),
    maxQueue: optionalInteger(o.maxQueue, 'options.maxQueue', { min: 0 }),
    onBatch: optionalFunction<(batch: BatchInfo) => void>(o.onBatch, 'options.onBatch'),
  };
}

/** Validates estimate() options over the estimator's defaults. */
export function resolveEstimateOptions(
  value: unknown,
  defaults: ResolvedEstimatorOptions,
  model: ModelInfo,
): ResolvedEstimateOptions {
  const o = optionsObject(value, 'options', ESTIMATE_KEYS);
  const noise = o.noise;
  if (noise !== undefined) {
    if (!(noise instanceof Float32Array)) throw invalid('options.noise', 'a Float32Array', noise);
    if (isDetached(noise)) throw new InvalidArgumentError('options.noise', 'options.noise: the Float32Array is detached (its ArrayBuffer was transferred)');
    if (model.mode !== 'generation') {
      throw new InvalidArgumentError('options.noise', `options.noise: ${model.path} is a regression (D) model, which takes no noise`);
    }
  }
  return {
    processingResolution:
      optionalInteger(o.processingResolution, 'options.processingResolution', { min: 0, max: MAX_IMAGE_SIDE }) ??
      defaults.processingResolution,
    outputResample:
      optionalOneOf(o.outputResample, 'options.outputResample', ['nearest', 'bilinear'] as const) ?? defaults.outputResample,
    seed: optionalInteger(o.seed, 'options.seed', { min: 0, max: MAX_SEED }) ?? 0,
    // A copy taken at call time: the caller's array may change (or be shared memory) while queued.
    noise: noise === undefined ? undefined : new Float32Array(noise),
    autoOrient: optionalBoolean(o.autoOrient, 'options.autoOrient') ?? defaults.autoOrient,
    signal: signal(o.signal),
    timeoutMs: optionalInteger(o.timeoutMs, 'options.timeoutMs', { min: 1, max: MAX_TIMER_MS }),
  };
}

function signal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!isAbortSignal(value)) throw invalid('options.signal', 'an AbortSignal', value);
  return value;
}
