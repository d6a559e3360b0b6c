// createEstimator() and LotusEstimator: validation, backend selection and the request lifecycle.
import type { Backend, BackendOutput, GpuMemoryStats, RgbImage, Timings } from '../backends/backend';
import { createCpuBackend } from '../backends/cpu';
import { BackendUnavailableError, DisposedError, InvalidArgumentError, LotusError, ModelError } from '../errors';
import { planRequest } from './geometry';
import { loadImage, type ImageInput } from '../io/image-input';
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
      return createCpuBackend(model, options.cpu, options.onWarning);
    case 'tensorrt':
      return createTensorRT(model, options);
    case 'auto':
      try {
        return await createTensorRT(model, options);
      } catch (error) {
        if (!(error instanceof BackendUnavailableError)) throw error;
        options.onWarning(`lotus-trt: using the CPU backend (onnxruntime), much slower than TensorRT: ${error.message}`);
        return createCpuBackend(model, options.cpu, options.onWarning);
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

  /** Use createEstimator(). */
  constructor(model: ModelInfo, impl: Backend, options: ResolvedEstimatorOptions) {
    this.model = model;
    this.impl = impl;
    this.backend = impl.name;
    this.options = options;
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
    return this.track(this.run(images, options, true));
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
    const resolved = resolveEstimateOptions(options, this.options, this.model);
    if (resolved.noise && inputs.length > 1) {
      throw new InvalidArgumentError('options.noise', 'options.noise: explicit noise applies to one image; a batch takes its noise from options.seed');
    }
    const start = performance.now();
    const pixels = await Promise.all(inputs.map((input, i) => loadImage(input, batch ? `images[${i}]` : 'image')));
    const decoded = performance.now();
    const results: EstimateResult[] = new Array(inputs.length);
    // allSettled: the call settles only after every batch it started, failed or not.
    const batches = await Promise.allSettled(this.groupIntoBatches(pixels, resolved).map(async (indices) => {
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

  /** Image indices per backend call: same network size together, at most the backend's maxBatch each, in input order. */
  private groupIntoBatches(pixels: RgbImage[], resolved: ResolvedEstimateOptions): number[][] {
    const bySize = new Map<string, number[]>();
    pixels.forEach((image, i) => {
      const size = planRequest(image.width, image.height, resolved, this.model);
      const key = `${size.paddedWidth}x${size.paddedHeight}`;
      const group = bySize.get(key);
      if (group) group.push(i);
      else bySize.set(key, [i]);
    });
    const batches: number[][] = [];
    for (const group of bySize.values()) {
      for (let i = 0; i < group.length; i += this.impl.maxBatch) batches.push(group.slice(i, i + this.impl.maxBatch));
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
  return new LotusEstimator(model, backend, resolved);
}
