// CPU backend: the shared native host pixel math around an onnxruntime-node session.
import * as ort from 'onnxruntime-node';
import { BackendUnavailableError, DisposedError, ModelError, fromNativeError } from '../errors';
import { noiseLength, planRequest } from '../geometry';
import { float32ToHalf, halfToFloat32 } from '../half';
import type { ModelInfo } from '../model-metadata';
import { native } from '../native';
import type { CpuOptions } from '../options';
import type { Backend, BackendOutput, BackendRequest, RgbImage } from './backend';
import { ConcurrencyLimit } from '../concurrency-limit';

const now = () => performance.now();

function tensorOf(data: Float32Array, dims: number[], half: boolean): ort.Tensor {
  return half ? new ort.Tensor('float16', float32ToHalf(data), dims) : new ort.Tensor('float32', data, dims);
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  // onnxruntime already spreads one run over all intra-op threads: one run at a time, so concurrent
  // estimate() calls queue instead of oversubscribing the cores.
  private readonly runs = new ConcurrencyLimit(1);
  private closing: Promise<void> | undefined;
  private readonly imageHalf: boolean;
  private readonly noiseHalf: boolean;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly model: ModelInfo,
  ) {
    const typeOf = (name: string) => model.inputs.find((t) => t.name === name)?.type;
    this.imageHalf = typeOf('image') === 'float16';
    this.noiseHalf = typeOf('noise') === 'float16';
  }

  static async create(model: ModelInfo, options: CpuOptions = {}): Promise<CpuBackend> {
    // The pixel math is native: fail now, not on the first request, when the addon cannot load.
    try {
      native();
    } catch (error) {
      throw new BackendUnavailableError(`the CPU backend needs the native addon, which failed to load: ${(error as Error).message}`, { cause: error });
    }
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    };
    if (options.intraOpThreads !== undefined) sessionOptions.intraOpNumThreads = options.intraOpThreads;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model.path, sessionOptions);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const hint = model.precision === 'fp16'
        ? '; onnxruntime has no CPU kernels for some fp16 operators: use the fp32 export of this model on the CPU'
        : '';
      throw new ModelError(`${model.path}: onnxruntime could not load the model: ${message}${hint}`, { cause: error });
    }
    return new CpuBackend(session, model);
  }

  run(image: RgbImage, request: BackendRequest): Promise<BackendOutput> {
    if (this.closing) return Promise.reject(new DisposedError('the CPU backend has been closed'));
    return this.runs.run(() => this.runNow(image, request));
  }

  private async runNow(image: RgbImage, request: BackendRequest): Promise<BackendOutput> {
    const binding = native();
    const { model } = this;
    planRequest(image.width, image.height, request, model);
    let noise = model.mode === 'generation' ? request.noise : undefined;
    try {
      const t0 = now();
      const pre = await binding.preprocess(image.data, image.width, image.height, image.channels, {
        processingResolution: request.processingResolution,
        sizeMultiple: model.sizeMultiple,
      });
      const [, , paddedHeight, paddedWidth] = pre.shape;
      const feeds: Record<string, ort.Tensor> = { image: tensorOf(pre.tensor, [...pre.shape], this.imageHalf) };
      if (model.mode === 'generation') {
        const dims = [1, 4, paddedHeight / 8, paddedWidth / 8];
        noise ??= binding.gaussianNoise(request.seed, noiseLength(paddedWidth, paddedHeight));
        feeds.noise = tensorOf(noise, dims, this.noiseHalf);
      }
      const t1 = now();
      let outputs: ort.InferenceSession.ReturnType;
      try {
        outputs = await this.session.run(feeds, ['prediction']);
      } catch (error) {
        throw new ModelError(`${model.path}: onnxruntime failed to run the model: ${(error as Error)?.message ?? error}`, { cause: error });
      }
      const t2 = now();
      const prediction = outputs.prediction;
      const expected = [1, 3, paddedHeight, paddedWidth];
      if (prediction.dims.length !== 4 || prediction.dims.some((d, i) => d !== expected[i])) {
        throw new ModelError(`${model.path}: prediction has shape [${prediction.dims.join(', ')}], expected [${expected.join(', ')}]`);
      }
      const values =
        prediction.type === 'float16' ? halfToFloat32(prediction.data as Uint16Array) : (prediction.data as Float32Array);
      const data = await binding.postprocess(values, [1, 3, paddedHeight, paddedWidth], {
        task: model.task,
        resizedWidth: pre.resizedWidth,
        resizedHeight: pre.resizedHeight,
        outputWidth: image.width,
        outputHeight: image.height,
        resample: request.outputResample,
      });
      const t3 = now();
      for (const tensor of Object.values(outputs)) tensor.dispose();
      return {
        data,
        width: image.width,
        height: image.height,
        timings: { preprocess: t1 - t0, inference: t2 - t1, postprocess: t3 - t2, copy: 0 },
        zeroCopy: false,
      };
    } catch (error) {
      throw fromNativeError(error);
    }
  }

  close(): Promise<void> {
    this.closing ??= this.runs.idle().then(() => this.session.release());
    return this.closing;
  }
}

export function createCpuBackend(model: ModelInfo, options?: CpuOptions): Promise<CpuBackend> {
  return CpuBackend.create(model, options);
}
