// CPU backend: the shared native host pixel math around an onnxruntime-node session, which runs in
// its own process (onnx-host/): onnxruntime's run() is synchronous and would block the event loop.
import { BackendUnavailableError, DisposedError, InvalidArgumentError, ModelError, fromNativeError } from '../errors';
import { noiseShape, planRequest } from '../estimator/geometry';
import { float32ToHalf, halfToFloat32 } from './half';
import type { ModelInfo } from '../model/metadata';
import { native } from '../addon/load';
import type { CpuOptions } from '../estimator/options';
import type { Backend, BackendBatchOutput, BackendRequest, RgbImage } from './backend';
import { ConcurrencyLimit } from '../estimator/concurrency-limit';
import { OnnxHost } from './onnx-host/host-process';
import type { TensorData } from './onnx-host/protocol';

const now = () => performance.now();

/** Images per onnxruntime run in estimateBatch(): enough to amortise per-run overhead, not to exhaust memory at 768. */
export const CPU_DEFAULT_MAX_BATCH = 4;
/** Defaults measured on the full-size model (docs/benchmarks.md, "CPU backend: load and memory"). */
export const CPU_DEFAULT_ARENA = false;
export const CPU_DEFAULT_PREPACK = true; // batches bit-identical to single runs (options.ts)

/** The arrays one after another (no copy for a single one). */
function concat(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function tensorOf(data: Float32Array, dims: number[], half: boolean): TensorData {
  return half ? { type: 'float16', data: float32ToHalf(data), dims } : { type: 'float32', data, dims };
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly parallelism = 1;
  // onnxruntime already spreads one run over all intra-op threads: one run at a time, so concurrent
  // estimate() calls queue instead of oversubscribing the cores.
  private readonly runs = new ConcurrencyLimit(1);
  private closing: Promise<void> | undefined;
  private readonly imageHalf: boolean;
  private readonly noiseHalf: boolean;

  private constructor(
    private host: OnnxHost,
    private readonly startHost: () => Promise<OnnxHost>,
    private readonly model: ModelInfo,
    readonly maxBatch: number,
    private readonly onWarning: (message: string) => void,
  ) {
    const typeOf = (name: string) => model.inputs.find((t) => t.name === name)?.type;
    this.imageHalf = typeOf('image') === 'float16';
    this.noiseHalf = typeOf('noise') === 'float16';
  }

  static async create(model: ModelInfo, options: CpuOptions = {}, onWarning: (message: string) => void = () => undefined): Promise<CpuBackend> {
    // The pixel math is native: fail now, not on the first request, when the addon cannot load.
    try {
      native();
    } catch (error) {
      throw new BackendUnavailableError(`the CPU backend needs the native addon, which failed to load: ${(error as Error).message}`, { cause: error });
    }
    const hostOptions = {
      intraOpThreads: options.intraOpThreads,
      arena: options.arena ?? CPU_DEFAULT_ARENA,
      prepack: options.prepack ?? CPU_DEFAULT_PREPACK,
      cache: options.cache,
      cacheDir: options.cacheDir,
      onWarning,
    };
    let host: OnnxHost;
    try {
      host = await OnnxHost.start(model.path, { ...hostOptions, onProgress: options.onProgress });
    } catch (error) {
      if (error instanceof ModelError && model.precision === 'fp16') {
        throw new ModelError(`${error.message}; onnxruntime has no CPU kernels for some fp16 operators: use the fp32 export of this model on the CPU`, { cause: error });
      }
      throw error;
    }
    const restart = () => OnnxHost.start(model.path, hostOptions);
    return new CpuBackend(host, restart, model, options.maxBatch ?? CPU_DEFAULT_MAX_BATCH, onWarning);
  }

  run(images: RgbImage[], request: BackendRequest): Promise<BackendBatchOutput> {
    if (this.closing) return Promise.reject(new DisposedError('the CPU backend has been closed'));
    return this.runs.run(() => this.runNow(images, request));
  }

  private async runNow(images: RgbImage[], request: BackendRequest): Promise<BackendBatchOutput> {
    const binding = native();
    const { model } = this;
    const batch = images.length;
    if (batch < 1 || batch > this.maxBatch) {
      throw new InvalidArgumentError('images', `images: expected 1 to ${this.maxBatch} images per run, received ${batch}`);
    }
    if (request.noise.length !== batch) {
      throw new InvalidArgumentError('request.noise', `request.noise: expected one noise source per image (${batch}), received ${request.noise.length}`);
    }
    const sizes = images.map((image, n) => planRequest(image.width, image.height,
      { processingResolution: request.processingResolution, noise: request.noise[n]!.noise }, model, batch > 1 ? `images[${n}]` : 'image'));
    const { resizedWidth: width, resizedHeight: height, predictionWidth, predictionHeight } = sizes[0]!;
    const mismatch = sizes.findIndex((size) => size.resizedWidth !== width || size.resizedHeight !== height);
    if (mismatch >= 0) {
      throw new InvalidArgumentError(`images[${mismatch}]`,
        `images[${mismatch}]: every image of a batch must reach the network size of images[0] (${width}x${height}), ` +
        `got ${sizes[mismatch]!.resizedWidth}x${sizes[mismatch]!.resizedHeight}`);
    }
    try {
      const t0 = now();
      const pres = await Promise.all(images.map((image) => binding.preprocess(image.data, image.width, image.height, image.channels, {
        processingResolution: request.processingResolution,
      })));
      const feeds: Record<string, TensorData> = {
        image: tensorOf(concat(pres.map((pre) => pre.tensor)), [batch, 3, height, width], this.imageHalf),
      };
      if (model.mode === 'generation') {
        // Each image gets the noise it would get alone (its own array, else its seed's), so a batch
        // predicts what single calls do.
        const [, channels, latentHeight, latentWidth] = noiseShape(width, height, model.sizeMultiple);
        const bySeed = new Map<number, Float32Array>();
        const noise = request.noise.map(({ seed, noise: given }) => {
          if (given) return given;
          let generated = bySeed.get(seed);
          if (!generated) bySeed.set(seed, (generated = binding.gaussianNoise(seed, channels * latentHeight * latentWidth)));
          return generated;
        });
        feeds.noise = tensorOf(concat(noise), [batch, channels, latentHeight, latentWidth], this.noiseHalf);
      }
      const t1 = now();
      if (this.host.exited) {
        // The process ended since the last run (killed, out of memory): start a new one.
        this.onWarning(`lotus-trt: restarting the CPU backend's onnxruntime process for ${model.path}`);
        this.host = await this.startHost();
      }
      const outputs = await this.host.run(feeds, ['prediction']);
      const t2 = now();
      const prediction = outputs.prediction;
      const expected = [batch, 3, predictionHeight, predictionWidth];
      if (prediction.dims.length !== 4 || prediction.dims.some((d, i) => d !== expected[i])) {
        throw new ModelError(`${model.path}: prediction has shape [${prediction.dims.join(', ')}], expected [${expected.join(', ')}]`);
      }
      const values =
        prediction.type === 'float16' ? halfToFloat32(prediction.data as Uint16Array) : (prediction.data as Float32Array);
      const slice = 3 * predictionHeight * predictionWidth;
      const data = await Promise.all(images.map((image, n) => binding.postprocess(
        values.subarray(n * slice, (n + 1) * slice), [1, 3, predictionHeight, predictionWidth], {
          task: model.task,
          outputWidth: image.width,
          outputHeight: image.height,
          resample: request.outputResample,
        })));
      const t3 = now();
      return {
        // The host postprocess hands its output vector over as an external buffer where allowed.
        outputs: images.map((image, n) => ({ data: data[n]!, width: image.width, height: image.height, zeroCopy: binding.buildInfo.externalBuffers })),
        timings: { preprocess: t1 - t0, inference: t2 - t1, postprocess: t3 - t2, copy: 0 },
      };
    } catch (error) {
      throw fromNativeError(error);
    }
  }

  close(): Promise<void> {
    this.closing ??= this.runs.idle().then(() => this.host.close());
    return this.closing;
  }
}

export function createCpuBackend(model: ModelInfo, options?: CpuOptions, onWarning?: (message: string) => void): Promise<CpuBackend> {
  return CpuBackend.create(model, options, onWarning);
}
