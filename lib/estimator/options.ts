// Options of createEstimator() and estimate(): their types, validation and defaults.
import { InvalidArgumentError } from '../errors';
import type { ModelInfo } from '../model/metadata';
import {
  invalid,
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
  /** onnxruntime's MatMul weight pre-packing at load (default false: measured no faster here, ~2 s more load, a second copy of those weights). */
  prepack?: boolean;
  /** Load progress of large models (64 MiB or more), which take seconds; called on the main thread. */
  onProgress?: (phase: string, step: number, steps: number) => void;
}

export interface EstimatorOptions {
  backend?: BackendChoice;
  /** Long edge the image is resized to before the network; 0 = no resize. Default: the model's (768). */
  processingResolution?: number;
  /** Resize of the input to the processing resolution (the reference's bilinear, antialiased). */
  resample?: InputResample;
  /** Resize of the prediction back to the input size: 'nearest' (the reference) or 'bilinear'. */
  outputResample?: OutputResample;
  /** CUDA device index (TensorRT backend). */
  device?: number;
  tensorrt?: TensorRTOptions;
  cpu?: CpuOptions;
  /** Receives warnings such as the reason for falling back to the CPU. Default: process.emitWarning. */
  onWarning?: (message: string) => void;
}

export interface EstimateOptions {
  processingResolution?: number;
  outputResample?: OutputResample;
  /** Seed of the noise of generation (G) models. Default 0. */
  seed?: number;
  /** Explicit noise for G models, float32 [1, 4, paddedHeight / 8, paddedWidth / 8]. */
  noise?: Float32Array;
}

export interface ResolvedEstimatorOptions {
  backend: BackendChoice;
  processingResolution: number;
  resample: InputResample;
  outputResample: OutputResample;
  device: number;
  tensorrt: TensorRTOptions;
  cpu: CpuOptions;
  onWarning: (message: string) => void;
}

export interface ResolvedEstimateOptions {
  processingResolution: number;
  outputResample: OutputResample;
  seed: number;
  noise: Float32Array | undefined;
}

const ESTIMATOR_KEYS = ['backend', 'processingResolution', 'resample', 'outputResample', 'device', 'tensorrt', 'cpu', 'onWarning'] as const;
const TENSORRT_KEYS = [
  'cacheDir', 'workspaceBytes', 'lanes', 'cudaGraphs', 'optimizationLevel', 'minSize', 'optSize', 'maxSize',
  'maxBatch', 'timingCache', 'onProgress',
] as const;
const CPU_KEYS = ['intraOpThreads', 'maxBatch', 'cache', 'cacheDir', 'arena', 'prepack', 'onProgress'] as const;
const ESTIMATE_KEYS = ['processingResolution', 'outputResample', 'seed', 'noise'] as const;

// The native Philox generator keys on any JS safe integer.
const MAX_SEED = Number.MAX_SAFE_INTEGER;

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
    device: optionalInteger(o.device, 'options.device', { min: 0, max: 1023 }) ?? 0,
    tensorrt: resolveTensorRTOptions(o.tensorrt),
    cpu: resolveCpuOptions(o.cpu),
    onWarning: optionalFunction<(message: string) => void>(o.onWarning, 'options.onWarning') ?? defaultWarning,
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
    noise,
  };
}
