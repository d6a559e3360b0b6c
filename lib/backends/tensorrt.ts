// TensorRT backend: an engine from the cache (or built once), run by the native GpuSession
// (upload -> preprocess kernel -> enqueueV3 -> postprocess kernel -> download, one lane per request).
import { BackendUnavailableError, DisposedError, InvalidArgumentError, fromNativeError } from '../errors';
import { defaultCacheDir, EngineCache, type EngineBuildSettings, type EngineEnvironment } from '../cache/engine-cache';
import { deviceInfo, tensorrtInfo, type DeviceInfo, type TensorRTInfo } from '../addon/info';
import type { ModelInfo } from '../model/metadata';
import { native } from '../addon/load';
import type { ProfileSize, TensorRTOptions } from '../estimator/options';
import type { Backend, BackendBatchOutput, BackendRequest, GpuMemoryStats, RgbImage } from './backend';
import type { GpuSession, NativeShapeProfile } from '../../binding';
import { ConcurrencyLimit } from '../estimator/concurrency-limit';
import { processingSize } from '../estimator/geometry';
import { trackBuild } from './active-builds';

/** Defaults of the engine's optimization profile and lanes (docs/tensorrt.md). */
export const TENSORRT_DEFAULTS = {
  minSize: 256,
  /** [height, width]: the reference's 768 long edge on a 4:3 landscape image. */
  optSize: [576, 768] as [number, number],
  maxSize: 1024,
  maxBatch: 1,
  lanes: 2,
  optimizationLevel: 3,
  workspaceBytes: 0,
} as const;

function sides(size: ProfileSize): [height: number, width: number] {
  return typeof size === 'number' ? [size, size] : [size[0], size[1]];
}

/**
 * One optimization profile (TensorRT adds it once per lane): batch 1..maxBatch, network input H and
 * W (any size, as pipeline.py feeds the resized image unpadded) from minSize to maxSize, tuned for
 * optSize; G models' noise is floor(H / 8) x floor(W / 8) of it.
 */
export function defaultProfiles(model: ModelInfo, options: TensorRTOptions = {}): NativeShapeProfile[] {
  const multiple = model.sizeMultiple;
  const maxBatch = options.maxBatch ?? TENSORRT_DEFAULTS.maxBatch;
  const [minH, minW] = sides(options.minSize ?? TENSORRT_DEFAULTS.minSize).map((n) => Math.max(n, multiple));
  const [maxH, maxW] = sides(options.maxSize ?? TENSORRT_DEFAULTS.maxSize);
  const [optH, optW] = sides(options.optSize ?? TENSORRT_DEFAULTS.optSize);
  // The default opt (576x768) must fit a custom range: clamp it into [min, max].
  const clampH = (n: number) => Math.min(Math.max(n, minH), maxH);
  const clampW = (n: number) => Math.min(Math.max(n, minW), maxW);
  if (minH > maxH || minW > maxW) {
    throw new InvalidArgumentError('options.tensorrt.minSize',
      `options.tensorrt.minSize (${minH}x${minW}) exceeds options.tensorrt.maxSize (${maxH}x${maxW})`);
  }
  if (options.optSize !== undefined && (clampH(optH) !== optH || clampW(optW) !== optW)) {
    throw new InvalidArgumentError('options.tensorrt.optSize', `options.tensorrt.optSize (${optH}x${optW}) is outside [minSize, maxSize]`);
  }
  const image: NativeShapeProfile = {
    input: 'image',
    min: [1, 3, minH, minW],
    opt: [1, 3, clampH(optH), clampW(optW)],
    max: [maxBatch, 3, maxH, maxW],
  };
  if (model.mode !== 'generation') return [image];
  const latent = (dims: number[]) => [dims[0]!, 4, Math.floor(dims[2]! / multiple), Math.floor(dims[3]! / multiple)];
  return [image, { input: 'noise', min: latent(image.min), opt: latent(image.opt), max: latent(image.max) }];
}

/**
 * Checks a batch against the engine's image profile before it reaches native code (which checks
 * again): the batch size, and the network input size the request needs.
 */
export function checkFitsProfile(profile: NativeShapeProfile, images: readonly RgbImage[], request: BackendRequest, model: ModelInfo): void {
  const [, , minH, minW] = profile.min;
  const [maxBatch, , maxH, maxW] = profile.max;
  if (images.length < 1 || images.length > maxBatch!) {
    throw new InvalidArgumentError('images', `images: the TensorRT engine takes 1 to ${maxBatch} images per call ` +
      `(build it with options.tensorrt.maxBatch), received ${images.length}`);
  }
  for (const image of images) {
    const { resizedWidth: w, resizedHeight: h } = processingSize(image.width, image.height, request.processingResolution, model.sizeMultiple);
    if (h < minH! || h > maxH! || w < minW! || w > maxW!) {
      throw new InvalidArgumentError('options.processingResolution',
        `options.processingResolution: a ${image.width}x${image.height} image at processing resolution ${request.processingResolution} ` +
        `needs a ${w}x${h} network input, outside the TensorRT engine's profile (width ${minW}..${maxW}, height ${minH}..${maxH}); ` +
        'choose another processingResolution or build the engine with other options.tensorrt.minSize/maxSize');
    }
  }
}

/**
 * What the plan is valid for (part of the cache key): plugin, libnvinfer, the GPU model (name,
 * compute capability, SM count; not its UUID: identical GPUs share one engine) and the CUDA runtime.
 */
export function environmentFor(trt: TensorRTInfo, devices: DeviceInfo, device: number): EngineEnvironment {
  if (!trt.available) throw new BackendUnavailableError(`TensorRT is unavailable: ${trt.reason}`);
  if (!devices.usable) throw new BackendUnavailableError(`no usable CUDA device: ${devices.reason}`);
  const gpu = devices.devices.find((d) => d.index === device);
  if (!gpu) {
    throw new InvalidArgumentError('options.device', `options.device: no CUDA device ${device} (${devices.devices.length} visible)`);
  }
  return {
    pluginVersion: trt.compiledVersion ?? 'unknown',
    libraryVersion: trt.libraryVersion ?? 'unknown',
    gpuName: gpu.name,
    computeCapability: gpu.computeCapability,
    multiProcessorCount: gpu.multiProcessorCount,
    cudaRuntimeMajor: Math.floor(devices.cudaRuntimeVersion / 1000),
  };
}

export function engineEnvironment(device: number): EngineEnvironment {
  return environmentFor(tensorrtInfo(), deviceInfo(), device);
}

export function buildSettings(model: ModelInfo, options: TensorRTOptions = {}): EngineBuildSettings {
  return {
    profiles: defaultProfiles(model, options),
    lanes: options.lanes ?? TENSORRT_DEFAULTS.lanes,
    workspaceBytes: options.workspaceBytes ?? TENSORRT_DEFAULTS.workspaceBytes,
    optimizationLevel: options.optimizationLevel ?? TENSORRT_DEFAULTS.optimizationLevel,
    // Always FP16: TensorRT 11 takes it from an FP16 ONNX (and refuses an FP32 one with a message
    // naming the FP16 export); TensorRT 10 also converts an FP32 ONNX with its FP16 flag.
    fp16: true,
  };
}

export interface TensorRTBackendOptions {
  device?: number;
  tensorrt?: TensorRTOptions;
  /** Cache events worth a warning (a rejected plan and why) and TensorRT's warnings (build, load, runs). */
  onWarning?: (message: string) => void;
}

export class TensorRTBackend implements Backend {
  readonly name = 'tensorrt' as const;
  private session: GpuSession | undefined;
  // One request per lane in native code; the rest wait here rather than block libuv pool threads.
  private readonly lanes: ConcurrencyLimit;

  private constructor(
    session: GpuSession,
    /** Whether the engine came from the cache or was built now. */
    readonly engineSource: 'cache' | 'built',
    /** The engine's cache key (its plan is `<cacheDir>/<key>.plan`). */
    readonly engineKey: string,
    lanes: number,
    /** The engine's `image` profile, for checking requests before they reach native code. */
    private readonly imageProfile: NativeShapeProfile,
    private readonly model: ModelInfo,
  ) {
    this.session = session;
    this.lanes = new ConcurrencyLimit(lanes);
    this.parallelism = lanes;
    this.maxBatch = imageProfile.max[0]!;
  }

  readonly parallelism: number;

  /** The profile's batch maximum (native code checks it again). */
  readonly maxBatch: number;

  static async create(model: ModelInfo, options: TensorRTBackendOptions = {}): Promise<TensorRTBackend> {
    const device = options.device ?? 0;
    const trtOptions = options.tensorrt ?? {};
    // A prebuild older than this library may lack the function: report it rather than crash.
    const { openGpuSession } = native() as Partial<ReturnType<typeof native>>;
    if (typeof openGpuSession !== 'function') {
      throw new BackendUnavailableError('this build of the native addon has no GPU session (openGpuSession is missing)');
    }
    const environment = engineEnvironment(device);
    const settings = buildSettings(model, trtOptions);
    const cache = new EngineCache(trtOptions.cacheDir ?? defaultCacheDir());
    const { key, onnx } = await cache.key(model.path, environment, settings);
    const timingCachePath = trtOptions.timingCache === false ? null : cache.timingCachePath(environment);

    const { value, source } = await cache.obtain({
      key,
      onnx,
      environment,
      settings,
      build: async () => {
        // Runtime-only installs (libnvinfer without libnvonnxparser) run cached engines only.
        const parser = tensorrtInfo().onnxParser;
        if (!parser.available) {
          throw new BackendUnavailableError(`no cached TensorRT engine for this model, and the ONNX parser to build one is unavailable: ${parser.reason}`);
        }
        return buildPlan(model.path, device, settings, timingCachePath, trtOptions.onProgress, undefined, options.onWarning);
      },
      // Deserializes on a libuv pool thread: the event loop keeps running meanwhile.
      load: (plan) => openGpuSession(plan, {
        device,
        lanes: settings.lanes,
        cudaGraphs: trtOptions.cudaGraphs ?? false,
        task: model.task,
        mode: model.mode,
        sizeMultiple: model.sizeMultiple,
        onWarning: options.onWarning ?? null,
      }).catch((error: unknown) => {
        throw fromNativeError(error);
      }),
      onRejected: (reason) => options.onWarning?.(`lotus-trt: discarded cached TensorRT engine ${key}: ${reason}; rebuilding`),
      // An unusable cache costs the cache, not TensorRT: build for this process, with a warning.
      onCacheUnusable: (error) => options.onWarning?.(`lotus-trt: running TensorRT without the engine cache (the engine is built for this process only): ${error.message}`),
    });
    return new TensorRTBackend(value, source, key, settings.lanes, settings.profiles[0]!, model);
  }

  run(images: RgbImage[], request: BackendRequest): Promise<BackendBatchOutput> {
    if (!this.session) return Promise.reject(new DisposedError('the TensorRT backend has been closed'));
    try {
      checkFitsProfile(this.imageProfile, images, request, this.model);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.lanes.run(() => this.runNow(images, request));
  }

  private async runNow(images: RgbImage[], request: BackendRequest): Promise<BackendBatchOutput> {
    // close() may have come while this request waited for a lane.
    const session = this.session;
    if (!session) throw new DisposedError('the TensorRT backend has been closed');
    if (request.noise.length !== images.length) {
      throw new InvalidArgumentError('request.noise', `request.noise: expected one noise source per image (${images.length}), received ${request.noise.length}`);
    }
    let result;
    try {
      result = await session.run(
        images.map((image, n) => {
          const { seed, noise } = request.noise[n]!;
          return { pixels: image.data, width: image.width, height: image.height, channels: image.channels, seed, ...(noise ? { noise } : {}) };
        }),
        { processingResolution: request.processingResolution, resample: request.outputResample, seed: 0 },
      );
    } catch (error) {
      throw fromNativeError(error);
    }
    return {
      outputs: result.outputs.map((output) => ({
        data: output.data,
        width: output.width,
        height: output.height,
        zeroCopy: output.zeroCopy,
      })),
      timings: {
        preprocess: result.timings.preprocess,
        inference: result.timings.inference,
        postprocess: result.timings.postprocess,
        copy: result.timings.upload + result.timings.download,
      },
    };
  }

  memoryStats(): GpuMemoryStats {
    if (!this.session) throw new DisposedError('the TensorRT backend has been closed');
    return this.session.memoryStats();
  }

  async close(): Promise<void> {
    const session = this.session;
    if (!session) return;
    this.session = undefined;
    // Runs in flight finish; queued ones reject with DisposedError. Then the GPU resources go, on a
    // libuv pool thread (never the event loop).
    await this.lanes.idle();
    await session.close();
  }
}

/** ONNX -> plan through the plugin, on a worker thread; progress arrives on the JS thread. */
export async function buildPlan(
  onnxPath: string,
  device: number,
  settings: EngineBuildSettings,
  timingCachePath: string | null,
  onProgress?: (phase: string, step: number, steps: number) => void,
  signal?: AbortSignal,
  onWarning?: (message: string) => void,
): Promise<Buffer> {
  const handle = native().buildEngine(
    {
      onnxPath,
      device,
      profiles: settings.profiles,
      lanes: settings.lanes,
      workspaceBytes: settings.workspaceBytes,
      optimizationLevel: settings.optimizationLevel,
      fp16: settings.fp16,
      timingCachePath,
    },
    onProgress ?? null,
    onWarning ?? null,
  );
  const abort = () => handle.cancel();
  signal?.addEventListener('abort', abort, { once: true });
  const untrack = trackBuild(handle); // process.exit() cancels it rather than waiting it out
  try {
    return await handle.promise;
  } catch (error) {
    throw fromNativeError(error);
  } finally {
    untrack();
    signal?.removeEventListener('abort', abort);
  }
}
