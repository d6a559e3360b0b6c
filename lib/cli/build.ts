// `lotus build`: builds (or finds in the cache) the TensorRT engine for a model, with progress.
import { performance } from 'node:perf_hooks';
import { defaultCacheDir, EngineCache } from '../cache/engine-cache';
import { BackendUnavailableError } from '../errors';
import { createEstimator } from '../estimator/estimator';
import { tensorrtInfo } from '../addon/info';
import { readModelInfo } from '../model/metadata';
import type { ProfileSize, TensorRTOptions } from '../estimator/options';
import { flag, intOption, parse, requireString, sizeOption, stringOption, type Size } from './args';
import { printJson, printWarning } from './common';
import { ProgressBar } from './progress';

/** The library's ProfileSize: a square side, or [height, width]. */
function profileSize(size: Size | undefined): ProfileSize | undefined {
  if (!size) return undefined;
  return size.width === size.height ? size.width : [size.height, size.width];
}

export async function buildCommand(argv: string[]): Promise<number> {
  const { values } = parse('build', argv, {
    model: { type: 'string' },
    'cache-dir': { type: 'string' },
    min: { type: 'string' },
    opt: { type: 'string' },
    max: { type: 'string' },
    'max-batch': { type: 'string' },
    lanes: { type: 'string' },
    workspace: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  const modelPath = requireString('build', values, 'model');
  const workspaceMiB = intOption('build', values, 'workspace', { min: 1, max: 1024 * 1024 });
  const options: TensorRTOptions = {};
  const cacheDir = stringOption(values, 'cache-dir');
  if (cacheDir !== undefined) options.cacheDir = cacheDir;
  const minSize = profileSize(sizeOption('build', values, 'min'));
  const optSize = profileSize(sizeOption('build', values, 'opt'));
  const maxSize = profileSize(sizeOption('build', values, 'max'));
  if (minSize !== undefined) options.minSize = minSize;
  if (optSize !== undefined) options.optSize = optSize;
  if (maxSize !== undefined) options.maxSize = maxSize;
  const lanes = intOption('build', values, 'lanes', { min: 1, max: 64 });
  if (lanes !== undefined) options.lanes = lanes;
  const maxBatch = intOption('build', values, 'max-batch', { min: 1, max: 1024 });
  if (maxBatch !== undefined) options.maxBatch = maxBatch;
  if (workspaceMiB !== undefined) options.workspaceBytes = workspaceMiB * 1024 * 1024;
  const json = flag(values, 'json');

  const model = readModelInfo(modelPath); // a bad model fails before any GPU work
  const trt = tensorrtInfo();
  if (!trt.available) {
    throw new BackendUnavailableError(`cannot build a TensorRT engine: ${trt.reason ?? 'TensorRT is unavailable (no reason given)'}`);
  }
  if (!trt.onnxParser.available) {
    throw new BackendUnavailableError(`cannot build a TensorRT engine: the ONNX parser is unavailable: ${trt.onnxParser.reason}`);
  }

  // The estimator would build uncached with a warning; storing the engine is this command's job.
  await new EngineCache(cacheDir ?? defaultCacheDir()).checkWritable();

  const progress = new ProgressBar();
  let built = false;
  const start = performance.now();
  const estimator = await createEstimator(modelPath, {
    backend: 'tensorrt',
    tensorrt: {
      ...options,
      onProgress: (phase, step, steps) => {
        built = true;
        progress.update(phase, step, steps);
      },
    },
    onWarning: printWarning,
  });
  const seconds = (performance.now() - start) / 1000;
  progress.done();
  await estimator.close();

  const result = {
    model: model.path,
    task: model.task,
    mode: model.mode,
    precision: model.precision,
    engine: built ? 'built' : 'cached',
    seconds,
    cacheDir: cacheDir ?? defaultCacheDir(),
    tensorrt: trt.libraryVersion,
  };
  if (json) printJson(result);
  else {
    process.stdout.write(built
      ? `built the TensorRT engine for ${model.path} in ${seconds.toFixed(1)} s\n`
      : `the TensorRT engine for ${model.path} was already cached (loaded in ${seconds.toFixed(1)} s)\n`);
  }
  return 0;
}
