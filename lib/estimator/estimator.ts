// createEstimator() and LotusEstimator: validation, backend selection and the request lifecycle.
import type { BackendBatchOutput, BackendOutput, GpuMemoryStats, ImageNoise, RgbImage, Timings } from '../backends/backend';
import type { DevicePool, DeviceStats } from '../backends/device-pool';
import { DisposedError, InvalidArgumentError, LotusError, ModelError } from '../errors';
import { planRequest } from './geometry';
import { DynamicBatcher, type BatchCall } from './batcher';
import { RequestControl } from './request-control';
import { selectBackend } from './backend-select';
import { decodeImage, takeImage, type ImageInput, type TakenImage } from '../io/image-input';
import { DEFAULT_INPUT_FORMATS, DEFAULT_MAX_INPUT_PIXELS, type InputPolicy } from '../io/input-policy';
import { ConcurrencyLimit } from './concurrency-limit';
import { checkModelDefaultFits, defaultMemoryBudget, imagesWithinBudget, memoryProfileFor, overBudgetError, type MemoryBudget } from './memory-budget';
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

/** Queue, admission and batching figures of an estimator, e.g. for metrics. */
export interface EstimatorStats {
  /** Requests waiting for admission (bounded by options.maxQueue). */
  queued: number;
  /** Requests admitted: decoding, waiting for company or a backend slot, or running. */
  active: number;
  /** Most requests admitted at once. */
  admissionLimit: number;
  /** Images waiting in the batcher for company or a backend slot (0 without batching). */
  batching: number;
  /** Most images the batcher puts in one network call (1: no batching). */
  maxBatch: number;
  /** One entry per device (CPU: one entry, device 'cpu'). */
  devices: DeviceStats[];
}

/** Requests admitted at once: the backend's runs + 1 (one decodes while the backend is busy), times the batch size when batching. */
export function admissionLimit(parallelism: number, batchSize: number): number {
  return (parallelism + 1) * batchSize;
}

/** Default longest wait for company with options.batching (ms). */
export const DEFAULT_MAX_DELAY_MS = 2;

/**
 * The promise itself, marked handled: a request whose caller attaches its handler later (after
 * awaiting close(), say) is not reported as an unhandled rejection meanwhile.
 */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class LotusEstimator {
  /** The model's contract, read from its ONNX metadata. */
  readonly model: ModelInfo;
  readonly backend: 'tensorrt' | 'cpu';
  private readonly pool: DevicePool;
  private readonly options: ResolvedEstimatorOptions;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;
  private readonly inputPolicy: InputPolicy;
  /** Host memory one CPU-backend run may use; undefined on TensorRT, whose engine profile bounds each request. */
  private readonly memoryBudget: MemoryBudget | undefined;
  // Requests past this gate decode, wait for or use the backend; the rest wait undecoded (at most
  // options.maxQueue of them), so a burst of large images costs a bounded number of decoded images.
  private readonly admission: ConcurrencyLimit;
  /** Coalesces images of concurrent requests; undefined without options.batching (or a backend of batch 1). */
  private readonly batcher: DynamicBatcher | undefined;
  private readonly batchSize: number;

  /** Use createEstimator(). */
  constructor(model: ModelInfo, pool: DevicePool, options: ResolvedEstimatorOptions, memoryBudget?: MemoryBudget) {
    this.model = model;
    this.pool = pool;
    this.backend = pool.name;
    this.options = options;
    this.memoryBudget = memoryBudget;
    this.inputPolicy = {
      formats: options.inputFormats ?? DEFAULT_INPUT_FORMATS,
      maxPixels: options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS,
    };
    this.batchSize = options.batching ? Math.min(options.batching.maxBatch ?? pool.maxBatch, pool.maxBatch) : 1;
    if (options.batching && this.batchSize === 1) {
      options.onWarning(`lotus-trt: options.batching has no effect: the ${pool.name} backend takes 1 image per call` +
        (pool.name === 'tensorrt' ? ' (build the engine with options.tensorrt.maxBatch > 1)' : ' (options.cpu.maxBatch)'));
    }
    this.batcher = this.batchSize > 1
      ? new DynamicBatcher((call, images, noise) => this.runBackend(call, images, noise), {
        slots: pool.parallelism,
        maxDelayMs: options.batching?.maxDelayMs ?? DEFAULT_MAX_DELAY_MS,
      })
      : undefined;
    this.admission = new ConcurrencyLimit(admissionLimit(pool.parallelism, this.batchSize), { maxWaiting: options.maxQueue });
  }

  /** True after close(). */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Depth or normals, by the model's task. Concurrent calls are safe; with options.batching they
   * share network calls. Rejects with BusyError at once when options.maxQueue requests wait, and
   * with AbortedError / TimeoutError when options.signal / options.timeoutMs cancel it.
   */
  estimate(image: ImageInput, options?: EstimateOptions): Promise<EstimateResult> {
    if (this.closing) return Promise.reject(new DisposedError('estimate(): the estimator has been closed'));
    return quiet(this.request([image], options, false).then((results) => results[0]!));
  }

  /**
   * Several images in as few network calls as the backend allows: images that reach the same
   * network size go together, up to the backend's batch maximum (TensorRT: the engine's
   * `tensorrt.maxBatch`, default 1; CPU: `cpu.maxBatch`, default 4). Results come in input order,
   * and each equals what estimate() returns for that image with the same options (G models: every
   * image's noise comes from `seed`); `timings` are those of the image's batch. Every decoded image
   * is held until the call settles: pass tens of images, not thousands. One call counts as one
   * request for options.maxQueue.
   */
  estimateBatch(images: readonly ImageInput[], options?: EstimateOptions): Promise<EstimateResult[]> {
    if (this.closing) return Promise.reject(new DisposedError('estimateBatch(): the estimator has been closed'));
    if (!Array.isArray(images)) {
      return Promise.reject(invalid('images', 'an array of images', images));
    }
    // Array.from: holes of a sparse array become undefined (reported as images[i]), not skipped.
    return quiet(this.request(Array.from(images), options, true));
  }

  /**
   * The TensorRT session's GPU and pinned host buffer pools (bytes in use, cached, peak; allocation
   * counts), or null on the CPU backend; with several devices, their sums (stats().devices has each).
   * Idle bytes per pool stay under 1 GiB.
   */
  gpuMemoryStats(): GpuMemoryStats | null {
    if (this.closing) throw new DisposedError('gpuMemoryStats(): the estimator has been closed');
    return this.pool.gpuMemoryStats();
  }

  /** Queue depth, admitted requests, images waiting in the batcher, and per-device counts. */
  stats(): EstimatorStats {
    return {
      queued: this.admission.queued,
      active: this.admission.active,
      admissionLimit: this.admission.limit,
      batching: this.batcher?.pending ?? 0,
      maxBatch: this.batcher ? this.batchSize : 1,
      devices: this.closing ? [] : this.pool.deviceStats(),
    };
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

  /**
   * Refuses new requests, waits for those already made (queued ones too: they run), then releases
   * the backend. Idempotent; later calls reject with DisposedError.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.inFlight]);
      await this.pool.close();
    })();
    return this.closing;
  }

  private expectTask(task: 'depth' | 'normal'): void {
    if (this.closing) throw new DisposedError(`${task}(): the estimator has been closed`);
    if (this.model.task !== task) {
      throw new ModelError(`${task}(): ${this.model.path} is a ${this.model.task} model; use ${this.model.task}() or estimate()`);
    }
  }

  /** Checks and takes everything the caller passed now, then queues the work; the caller's promise may settle early on cancellation. */
  private request(inputs: readonly ImageInput[], options: EstimateOptions | undefined, batch: boolean): Promise<EstimateResult[]> {
    let resolved: ResolvedEstimateOptions;
    let taken: TakenImage[];
    const names = inputs.map((_, i) => (batch ? `images[${i}]` : 'image'));
    try {
      resolved = resolveEstimateOptions(options, this.options, this.model);
      if (resolved.noise && inputs.length > 1) {
        throw new InvalidArgumentError('options.noise', 'options.noise: explicit noise applies to one image; a batch takes its noise from options.seed');
      }
      taken = inputs.map((input, i) => takeImage(input, names[i], this.inputPolicy));
    } catch (error) {
      return Promise.reject(error);
    }
    const control = new RequestControl(resolved.signal, resolved.timeoutMs);
    const signal = control.signal;
    const work = this.admission.run(() => this.decodeAndRun(taken, names, resolved, signal), signal);
    // close() waits for the work itself, which may outlive a cancelled caller.
    this.inFlight.add(work);
    const forget = () => this.inFlight.delete(work);
    work.then(forget, forget);
    return control.settle(work);
  }

  private async decodeAndRun(
    taken: TakenImage[],
    names: string[],
    resolved: ResolvedEstimateOptions,
    signal: AbortSignal | undefined,
  ): Promise<EstimateResult[]> {
    const start = performance.now();
    const pixels = await Promise.all(taken.map((image, i) => decodeImage(image, names[i], this.inputPolicy, resolved.autoOrient)));
    // Cancelled while decoding: the backend is not bothered.
    signal?.throwIfAborted();
    const decoded = performance.now();
    const results: EstimateResult[] = new Array(taken.length);
    const noise: ImageNoise = { seed: resolved.seed, ...(resolved.noise ? { noise: resolved.noise } : {}) };
    const call: BatchCall = { processingResolution: resolved.processingResolution, outputResample: resolved.outputResample };
    const groups = this.groupIntoBatches(pixels, names, resolved);
    const batcher = this.batcher;
    // allSettled: the call settles only after every batch it started, failed or not.
    const settled = await Promise.allSettled(batcher
      ? groups.flatMap(({ key, cap, indices }) => indices.map(async (i) => {
        const { output, timings } = await batcher.submit(key, call, cap, pixels[i]!, noise, signal);
        results[i] = this.toResult(pixels[i]!, output, timings, { start, decoded, ran: performance.now() });
      }))
      : groups.flatMap(({ cap, indices }) => chunks(indices, cap)).map(async (indices) => {
        const output = await this.runBackend(call, indices.map((i) => pixels[i]!), indices.map(() => noise));
        const ran = performance.now();
        indices.forEach((imageIndex, n) => {
          results[imageIndex] = this.toResult(pixels[imageIndex]!, output.outputs[n], output.timings, { start, decoded, ran });
        });
      }));
    const failed = settled.find((batch): batch is PromiseRejectedResult => batch.status === 'rejected');
    if (failed) throw failed.reason;
    return results;
  }

  /** One backend call, reported to options.onBatch. */
  private async runBackend(call: BatchCall, images: RgbImage[], noise: ImageNoise[]): Promise<BackendBatchOutput> {
    const began = performance.now();
    let output: BackendBatchOutput | undefined;
    try {
      output = await this.pool.run(images, { ...call, noise });
      return output;
    } finally {
      const onBatch = this.options.onBatch;
      if (onBatch) {
        try {
          onBatch({ size: images.length, device: output?.device ?? this.pool.devices[0]!, ms: output ? performance.now() - began : undefined });
        } catch (error) {
          this.options.onWarning(`lotus-trt: options.onBatch threw: ${(error as Error)?.message ?? error}`);
        }
      }
    }
  }

  /**
   * Images by backend call: same network size together (the key), with the most images one call
   * may take (the batch maximum, lowered to what the memory budget allows), in input order.
   */
  private groupIntoBatches(pixels: RgbImage[], names: string[], resolved: ResolvedEstimateOptions): { key: string; cap: number; indices: number[] }[] {
    const groups = new Map<string, { key: string; cap: number; indices: number[] }>();
    pixels.forEach((image, i) => {
      const size = planRequest(image.width, image.height, resolved, this.model, names[i]!);
      // The processing resolution and output resample are per call too: part of the key.
      const key = `${size.resizedWidth}x${size.resizedHeight}/${resolved.processingResolution}/${resolved.outputResample}`;
      const group = groups.get(key);
      if (group) {
        group.indices.push(i);
        return;
      }
      let cap = this.batcher ? this.batchSize : this.pool.maxBatch;
      if (this.memoryBudget !== undefined) {
        const network = { width: size.resizedWidth, height: size.resizedHeight };
        const fits = imagesWithinBudget(network.width, network.height, this.memoryBudget);
        if (fits < 1) throw overBudgetError(image, network, resolved.processingResolution, this.memoryBudget);
        cap = Math.min(cap, fits);
      }
      groups.set(key, { key, cap, indices: [i] });
    });
    return [...groups.values()];
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
  backend: DevicePool,
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
