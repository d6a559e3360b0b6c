// createEstimator() and LotusEstimator: validation, backend selection and the request lifecycle.
import type { Backend, BackendOutput, GpuMemoryStats, RgbImage, Timings } from '../backends/backend';
import { createCpuBackend } from '../backends/cpu';
import { BackendUnavailableError, DisposedError, InvalidArgumentError, LotusError, ModelError } from '../errors';
import { planRequest } from './geometry';
import { decodeImage, takeImage, type ImageInput, type TakenImage } from '../io/image-input';
import { DEFAULT_INPUT_FORMATS, DEFAULT_MAX_INPUT_PIXELS, type InputPolicy } from '../io/input-policy';
import { ConcurrencyLimit } from './concurrency-limit';
import { checkModelDefaultFits, defaultMemoryBudget, imagesWithinBudget, memoryProfileFor, overBudgetError, type MemoryBudget } from './memory-budget';
import { deviceInfo, tensorrtInfo } from '../addon/info';
import { readModelInfo, type ModelInfo } from '../model/metadata';
import {
  resolveEstimateOptions,
  resolveEstimatorOptions,
  type EstimateOptions,
  type EstimatorOptions,
  type ResolvedEstimateOptions,
  type ResolvedEstimatorOptions,
} from './options';
import { DepthResult, NormalResult, type EstimateResult } from './results';
import { invalid, nonEmptyString } from '../validate';

/** Loads lib/backends/tensorrt.ts only when TensorRT is wanted: CPU-only use never touches it. */
async function loadTensorRTBackend(): Promise<typeof import('../backends/tensorrt.js')> {
  try {
    return await import('../backends/tensorrt.js');
  } catch (error) {
    throw new BackendUnavailableError(`the TensorRT backend module failed to load: ${(error as Error).message}`, { cause: error });
  }
}

/** Why TensorRT cannot run here, or null when it may (the engine build can still fail). */
function tensorrtUnavailableReason(deviceIndex: number): string | null {
  try {
    const device = deviceInfo();
    if (!device.usable) return `no usable CUDA device: ${device.reason ?? 'unknown reason'}`;
    if (deviceIndex >= device.devices.length) {
      throw new InvalidArgumentError(
        'options.device',
        `options.device: expected a CUDA device index below ${device.devices.length}, received ${deviceIndex}`,
      );
    }
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    return `CUDA device query failed: ${(error as Error).message}`;
  }
  const trt = tensorrtInfo();
  return trt.available ? null : `TensorRT is not available: ${trt.reason}`;
}

async function createTensorRT(model: ModelInfo, options: ResolvedEstimatorOptions): Promise<Backend> {
  const reason = tensorrtUnavailableReason(options.device);
  if (reason) throw new BackendUnavailableError(`backend 'tensorrt' is unavailable: ${reason}`);
  const { TensorRTBackend } = await loadTensorRTBackend();
  return TensorRTBackend.create(model, { device: options.device, tensorrt: options.tensorrt, onWarning: options.onWarning });
}

async function selectBackend(model: ModelInfo, options: ResolvedEstimatorOptions): Promise<Backend> {
  switch (options.backend) {
    case 'cpu':
      return createCpuBackend(model, options.cpu);
    case 'tensorrt':
      return createTensorRT(model, options);
    case 'auto':
      try {
        return await createTensorRT(model, options);
      } catch (error) {
        if (!(error instanceof BackendUnavailableError)) throw error;
        options.onWarning(`lotus-trt: using the CPU backend (onnxruntime), much slower than TensorRT: ${error.message}`);
        return createCpuBackend(model, options.cpu);
      }
  }
}

export class LotusEstimator {
  /** The model's contract, read from its ONNX metadata. */
  readonly model: ModelInfo;
  readonly backend: 'tensorrt' | 'cpu';
  private readonly impl: Backend;
  private readonly options: ResolvedEstimatorOptions;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;
  private readonly inputPolicy: InputPolicy;
  /** Host memory one CPU-backend run may use; undefined on TensorRT, whose engine profile bounds each request. */
  private readonly memoryBudget: MemoryBudget | undefined;
  // Requests past this gate decode, wait for or use the backend; the rest wait undecoded, so a
  // burst of large images costs at most this many decoded images of memory.
  private readonly admission: ConcurrencyLimit;

  /** Use createEstimator(). */
  constructor(model: ModelInfo, impl: Backend, options: ResolvedEstimatorOptions, memoryBudget?: MemoryBudget) {
    this.model = model;
    this.impl = impl;
    this.backend = impl.name;
    this.options = options;
    this.memoryBudget = memoryBudget;
    this.inputPolicy = {
      formats: options.inputFormats ?? DEFAULT_INPUT_FORMATS,
      maxPixels: options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS,
    };
    // One more than the backend runs at once: the next image decodes while the backend is busy.
    // CPU: one onnxruntime run at a time; TensorRT: one per lane (default 2, TENSORRT_DEFAULTS.lanes,
    // not imported: lib/backends/tensorrt.ts loads only when TensorRT is wanted).
    const parallel = impl.name === 'cpu' ? 1 : options.tensorrt.lanes ?? 2;
    this.admission = new ConcurrencyLimit(parallel + 1);
  }

  /** True after close(). */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Depth or normals, by the model's task. Concurrent calls are safe. */
  estimate(image: ImageInput, options?: EstimateOptions): Promise<EstimateResult> {
    if (this.closing) return Promise.reject(new DisposedError('estimate(): the estimator has been closed'));
    return this.track(this.run([image], options, false).then((results) => results[0]!));
  }

  /**
   * Several images in as few network calls as the backend allows: images that reach the same
   * network size go together, up to the backend's batch maximum (TensorRT: the engine's
   * `tensorrt.maxBatch`, default 1; CPU: `cpu.maxBatch`, default 4). Results come in input order,
   * and each equals what estimate() returns for that image with the same options (G models: every
   * image's noise comes from `seed`); `timings` are those of the image's batch. Every decoded image
   * is held until the call settles: pass tens of images, not thousands.
   */
  estimateBatch(images: readonly ImageInput[], options?: EstimateOptions): Promise<EstimateResult[]> {
    if (this.closing) return Promise.reject(new DisposedError('estimateBatch(): the estimator has been closed'));
    if (!Array.isArray(images)) {
      return Promise.reject(invalid('images', 'an array of images', images));
    }
    // Array.from: holes of a sparse array become undefined (reported as images[i]), not skipped.
    return this.track(this.run(Array.from(images), options, true));
  }

  /**
   * The TensorRT session's GPU and pinned host buffer pools (bytes in use, cached, peak; allocation
   * counts), or null on the CPU backend. Idle bytes per pool stay under 1 GiB.
   */
  gpuMemoryStats(): GpuMemoryStats | null {
    if (this.closing) throw new DisposedError('gpuMemoryStats(): the estimator has been closed');
    return this.impl.memoryStats?.() ?? null;
  }

  /** estimate() for depth models; rejects with ModelError on a normal model. */
  async depth(image: ImageInput, options?: EstimateOptions): Promise<DepthResult> {
    this.expectTask('depth');
    return (await this.estimate(image, options)) as DepthResult;
  }

  /** estimate() for normal models; rejects with ModelError on a depth model. */
  async normal(image: ImageInput, options?: EstimateOptions): Promise<NormalResult> {
    this.expectTask('normal');
    return (await this.estimate(image, options)) as NormalResult;
  }

  /** Waits for in-flight requests, then releases the backend. Idempotent; later calls reject. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.inFlight]);
      await this.impl.close();
    })();
    return this.closing;
  }

  private expectTask(task: 'depth' | 'normal'): void {
    if (this.closing) throw new DisposedError(`${task}(): the estimator has been closed`);
    if (this.model.task !== task) {
      throw new ModelError(`${task}(): ${this.model.path} is a ${this.model.task} model; use ${this.model.task}() or estimate()`);
    }
  }

  private track<T>(request: Promise<T>): Promise<T> {
    this.inFlight.add(request);
    const forget = () => this.inFlight.delete(request);
    request.then(forget, forget);
    return request;
  }

  private async run(inputs: readonly ImageInput[], options: EstimateOptions | undefined, batch: boolean): Promise<EstimateResult[]> {
    // Everything the caller passed is checked and taken (copied) now, before any waiting.
    const resolved = resolveEstimateOptions(options, this.options, this.model);
    if (resolved.noise && inputs.length > 1) {
      throw new InvalidArgumentError('options.noise', 'options.noise: explicit noise applies to one image; a batch takes its noise from options.seed');
    }
    const names = inputs.map((_, i) => (batch ? `images[${i}]` : 'image'));
    const taken = inputs.map((input, i) => takeImage(input, names[i], this.inputPolicy));
    return this.admission.run(() => this.decodeAndRun(taken, names, resolved));
  }

  private async decodeAndRun(taken: TakenImage[], names: string[], resolved: ResolvedEstimateOptions): Promise<EstimateResult[]> {
    const start = performance.now();
    const pixels = await Promise.all(taken.map((image, i) => decodeImage(image, names[i], this.inputPolicy, resolved.autoOrient)));
    const decoded = performance.now();
    const results: EstimateResult[] = new Array(taken.length);
    // allSettled: the call settles only after every batch it started, failed or not.
    const batches = await Promise.allSettled(this.groupIntoBatches(pixels, names, resolved).map(async (indices) => {
      const output = await this.impl.run(indices.map((i) => pixels[i]!), resolved);
      const ran = performance.now();
      indices.forEach((imageIndex, n) => {
        results[imageIndex] = this.toResult(pixels[imageIndex]!, output.outputs[n], output.timings, { start, decoded, ran });
      });
    }));
    const failed = batches.find((batch): batch is PromiseRejectedResult => batch.status === 'rejected');
    if (failed) throw failed.reason;
    return results;
  }

  /**
   * Image indices per backend call: same network size together, at most the backend's maxBatch
   * each (and as many as the memory budget allows), in input order.
   */
  private groupIntoBatches(pixels: RgbImage[], names: string[], resolved: ResolvedEstimateOptions): number[][] {
    const bySize = new Map<string, number[]>();
    const perCall = new Map<string, number>();
    pixels.forEach((image, i) => {
      const size = planRequest(image.width, image.height, resolved, this.model, names[i]!);
      const key = `${size.resizedWidth}x${size.resizedHeight}`;
      const group = bySize.get(key);
      if (group) group.push(i);
      else bySize.set(key, [i]);
      if (this.memoryBudget !== undefined && !perCall.has(key)) {
        const network = { width: size.resizedWidth, height: size.resizedHeight };
        const fits = imagesWithinBudget(network.width, network.height, this.memoryBudget);
        if (fits < 1) throw overBudgetError(image, network, resolved.processingResolution, this.memoryBudget);
        perCall.set(key, fits);
      }
    });
    const batches: number[][] = [];
    for (const [key, group] of bySize) {
      const size = Math.min(this.impl.maxBatch, perCall.get(key) ?? Infinity);
      for (let i = 0; i < group.length; i += size) batches.push(group.slice(i, i + size));
    }
    return batches;
  }

  private toResult(
    pixels: RgbImage,
    output: BackendOutput | undefined,
    batchTimings: Partial<Timings>,
    at: { start: number; decoded: number; ran: number },
  ): EstimateResult {
    const perPixel = this.model.task === 'depth' ? 1 : 3;
    if (!output || output.width !== pixels.width || output.height !== pixels.height || output.data.length !== pixels.width * pixels.height * perPixel) {
      const got = output ? `${output.width}x${output.height} (${output.data.length} values)` : 'nothing';
      throw new LotusError('ERR_LOTUS_MODEL', `the ${this.backend} backend returned ${got} for a ${pixels.width}x${pixels.height} image`);
    }
    // No copy: a zero-copy buffer is leased to this result alone (the pool reuses it only after
    // the result is garbage collected), so it stays valid for as long as the result lives.
    const data = output.data;
    const end = performance.now();
    const timings: Timings = {
      decode: at.decoded - at.start,
      preprocess: batchTimings.preprocess ?? 0,
      inference: batchTimings.inference ?? 0,
      postprocess: batchTimings.postprocess ?? 0,
      copy: (batchTimings.copy ?? 0) + (end - at.ran),
      total: end - at.start,
    };
    return this.model.task === 'depth'
      ? new DepthResult(pixels.width, pixels.height, data, this.model.disparity, timings, output.zeroCopy)
      : new NormalResult(pixels.width, pixels.height, data, timings, output.zeroCopy);
  }
}

/**
 * The CPU backend's memory budget, decided once the weights are loaded; and the model's own
 * default resolution must fit it when the caller relies on that default.
 */
async function cpuMemoryBudget(
  model: ModelInfo,
  options: ResolvedEstimatorOptions,
  callerResolution: number | undefined,
  backend: Backend,
): Promise<MemoryBudget> {
  const budget = { bytes: options.memoryBudget ?? defaultMemoryBudget(), profile: memoryProfileFor(model.path) };
  if (callerResolution === undefined) {
    try {
      checkModelDefaultFits(model.path, model.processingResolution, budget);
    } catch (error) {
      await backend.close();
      throw error;
    }
  }
  return budget;
}

/** Reads the model's metadata, picks a backend and prepares it (a TensorRT engine may be built). */
export async function createEstimator(modelPath: string, options?: EstimatorOptions): Promise<LotusEstimator> {
  const path = nonEmptyString(modelPath, 'modelPath');
  const partial = resolveEstimatorOptions(options);
  const model = readModelInfo(path);
  const resolved: ResolvedEstimatorOptions = {
    ...partial,
    processingResolution: partial.processingResolution ?? model.processingResolution,
  };
  const backend = await selectBackend(model, resolved);
  const budget = backend.name === 'cpu' ? await cpuMemoryBudget(model, resolved, partial.processingResolution, backend) : undefined;
  return new LotusEstimator(model, backend, resolved, budget);
}
