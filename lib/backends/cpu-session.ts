// Creates the CPU backend's onnxruntime session (docs/design.md, "CPU backend: load and memory").
// Large models go through the optimised-model cache: the first load optimises the graph once and
// saves it (lib/cache/optimized-model-cache.ts); later loads read the saved graph with optimisation
// off and its weights mmapped. Small models (the test fixtures) load directly, as before.
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { onnxruntime, onnxruntimeVersion } from './onnxruntime';
import { hashOnnx, type OnnxDigest } from '../cache/engine-cache';
import {
  OPTIMIZED_DATA_FILE,
  OPTIMIZED_MODEL_FILE,
  OptimizedModelCache,
  optimizedModelEnvironment,
  optimizedModelKey,
  type OptimizedLookup,
} from '../cache/optimized-model-cache';
import { modelFileBytes } from '../model/external-data';
import type { ModelInfo } from '../model/metadata';

/** Models with at least this many bytes of graph + weights use the cache by default (and report load progress). */
export const CPU_CACHE_MIN_BYTES = 64 * 1024 * 1024;

/** The onnxruntime graph optimisation the cached graph is made with (today's level: the fastest inference). */
const OPTIMIZATION_LEVEL = 'all' as const;

export interface CpuSessionOptions {
  intraOpThreads?: number;
  /** onnxruntime's CPU memory arena (keeps freed activation memory for reuse). */
  arena: boolean;
  /** onnxruntime's weight pre-packing for MatMul/Gemm (a packed copy built at load). */
  prepack: boolean;
  /** Use the optimised-model cache: true, false, or undefined = for models of CPU_CACHE_MIN_BYTES or more. */
  cache?: boolean;
  cacheDir?: string;
  onProgress?: (phase: string, step: number, steps: number) => void;
  onWarning?: (message: string) => void;
}

export type CpuLoadSource = 'direct' | 'cache' | 'optimized';

export interface CpuSession {
  session: ort.InferenceSession;
  /** direct: the ONNX optimised in memory; cache: the cached optimised graph; optimized: optimised now, cached, then loaded. */
  source: CpuLoadSource;
}

function baseOptions(options: CpuSessionOptions): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    logSeverityLevel: 3,
    enableCpuMemArena: options.arena,
    ...(options.intraOpThreads !== undefined ? { intraOpNumThreads: options.intraOpThreads } : {}),
    // Session config entries (onnxruntime_session_options_config_keys.h), flattened by the binding.
    extra: { session: { disable_prepacking: options.prepack ? '0' : '1' } },
  };
}

/** Times one blocking onnxruntime call and tells onProgress before and after. */
async function phase<T>(options: CpuSessionOptions, report: boolean, name: string, work: () => Promise<T>): Promise<T> {
  if (report) options.onProgress?.(name, 0, 1);
  const value = await work();
  if (report) options.onProgress?.(name, 1, 1);
  return value;
}

export async function createCpuSession(model: Pick<ModelInfo, 'path'>, options: CpuSessionOptions): Promise<CpuSession> {
  const base = baseOptions(options);
  const large = modelFileBytes(model.path) >= CPU_CACHE_MIN_BYTES;
  const direct = async (): Promise<CpuSession> => ({
    session: await phase(options, large, 'loading model', () =>
      onnxruntime().InferenceSession.create(model.path, { ...base, graphOptimizationLevel: OPTIMIZATION_LEVEL })),
    source: 'direct',
  });
  if (!(options.cache ?? large)) return direct();

  const cache = new OptimizedModelCache(options.cacheDir);
  const fallBack = (why: string, error: unknown) => {
    options.onWarning?.(`lotus-trt: ${why} (${(error as Error)?.message ?? error}); optimising ${model.path} in memory instead`);
    return direct();
  };
  const version = onnxruntimeVersion();
  if (!version) return fallBack('cannot key the optimised-model cache', new Error("onnxruntime's package.json is unreadable"));
  const environment = optimizedModelEnvironment(version, OPTIMIZATION_LEVEL);
  let key: string;
  let digest: OnnxDigest;
  try {
    // A re-hash (first use of this file) can take seconds for GBs of weights: report it in MiB.
    ({ digest } = await hashOnnx(model.path, cache.memoDir, large && options.onProgress
      ? (done, total) => options.onProgress!('hashing model for the CPU cache', Math.round(done / 2 ** 20), Math.round(total / 2 ** 20))
      : undefined));
    key = optimizedModelKey(digest, environment);
  } catch (error) {
    return fallBack('cannot key the optimised-model cache', error);
  }

  // Without pre-packing the weights are only mmapped: a fraction of a second, not worth a line.
  const loadCached = (modelPath: string) => phase(options, large && options.prepack, 'loading optimised model', () =>
    onnxruntime().InferenceSession.create(modelPath, { ...base, graphOptimizationLevel: 'disabled' }));

  let found: OptimizedLookup;
  try {
    found = await cache.lookup(key);
  } catch (error) {
    return fallBack(`cannot read the optimised-model cache in ${cache.dir}`, error);
  }
  if (found.rejected) options.onWarning?.(`lotus-trt: dropped a cached optimised model of ${model.path}: ${found.rejected}`);
  if (found.entry) {
    try {
      return { session: await loadCached(found.entry.modelPath), source: 'cache' };
    } catch (error) {
      options.onWarning?.(`lotus-trt: onnxruntime refused the cached optimised model (${(error as Error).message}); optimising again`);
      await cache.remove(key).catch(() => undefined);
    }
  }

  let staging: string;
  try {
    staging = await cache.staging();
  } catch (error) {
    return fallBack(`cannot write to the optimised-model cache in ${cache.dir}`, error);
  }
  try {
    const optimizer = await phase(options, large, 'optimising model (first load; cached for the next)', () =>
      onnxruntime().InferenceSession.create(model.path, {
        ...base,
        graphOptimizationLevel: OPTIMIZATION_LEVEL,
        optimizedModelFilePath: path.join(staging, OPTIMIZED_MODEL_FILE),
        extra: {
          session: {
            // Only the saved graph is wanted from this session: no packed weight copies.
            disable_prepacking: '1',
            optimized_model_external_initializers_file_name: OPTIMIZED_DATA_FILE,
            optimized_model_external_initializers_min_size_in_bytes: '1024',
          },
        },
      }));
    await optimizer.release();
  } catch (error) {
    await cache.discard(staging).catch(() => undefined);
    throw error; // the model itself does not load: the caller reports it
  }
  let modelPath: string;
  try {
    modelPath = (await cache.commit(key, staging, { onnx: digest, environment })).modelPath;
  } catch (error) {
    await cache.discard(staging).catch(() => undefined);
    return fallBack(`cannot write to the optimised-model cache in ${cache.dir}`, error);
  }
  try {
    return { session: await loadCached(modelPath), source: 'optimized' };
  } catch (error) {
    await cache.remove(key).catch(() => undefined);
    return fallBack('onnxruntime refused the optimised model it saved', error);
  }
}
