// `lotus depth|normal <image|folder>...`: runs the model on each image and writes the requested
// files (.npy float32, 16-bit PNG, colour PNG) next to the input or into --out.
import fs from 'node:fs';
import path from 'node:path';
import { ModelError, LotusError } from '../errors';
import { createEstimator, type LotusEstimator } from '../estimator/estimator';
import { readModelInfo } from '../model/metadata';
import type { DepthResult, NormalResult } from '../estimator/results';
import {
  choiceListOption, choiceOption, flag, intOption, parse, requireString, stringOption, UsageError,
} from './args';
import { BACKENDS, MODEL_OPTIONS, printJson, warningLine } from './common';
import { expandInputs, findCollision, outputDir, stem } from './inputs';
import { LoadProgress } from './load-progress';
import { ProgressBar } from './progress';

type Task = 'depth' | 'normal';
const FORMATS = { depth: ['npy', 'png16', 'color'], normal: ['npy', 'png'] } as const;
const DEFAULT_FORMATS = { depth: ['npy', 'color'], normal: ['npy', 'png'] } as const;
const SUFFIX: Record<string, string> = {
  'depth:npy': '_depth.npy', 'depth:png16': '_depth16.png', 'depth:color': '_depth_color.png',
  'normal:npy': '_normal.npy', 'normal:png': '_normal.png',
};

/** Images in flight: one decodes while the previous one runs, so the GPU is not left idle. */
const IN_FLIGHT = 2;

interface Written {
  input: string;
  width?: number;
  height?: number;
  files?: Record<string, string>;
  timings?: Record<string, number>;
  error?: { code: string; message: string };
}

async function encode(task: Task, result: DepthResult | NormalResult, format: string): Promise<Buffer> {
  if (task === 'depth') {
    const r = result as DepthResult;
    if (format === 'npy') return r.toNpy();
    if (format === 'png16') return r.to16BitPng();
    return r.toColorizedPng();
  }
  const r = result as NormalResult;
  return format === 'npy' ? r.toNpy() : r.toPng();
}

async function predict(task: Task, argv: string[]): Promise<number> {
  const { values, positionals } = parse(task, argv, {
    ...MODEL_OPTIONS,
    out: { type: 'string', short: 'o' },
    format: { type: 'string' },
    'processing-resolution': { type: 'string' },
    'output-resample': { type: 'string' },
    seed: { type: 'string' },
  }, true);
  const modelPath = requireString(task, values, 'model');
  if (positionals.length === 0) throw new UsageError('no input images or folders given', task);
  const formats = choiceListOption(task, values, 'format', FORMATS[task]) ?? [...DEFAULT_FORMATS[task]];
  const backend = choiceOption(task, values, 'backend', BACKENDS) ?? 'auto';
  const processingResolution = intOption(task, values, 'processing-resolution', { min: 0, max: 16384 });
  const outputResample = choiceOption(task, values, 'output-resample', ['nearest', 'bilinear'] as const);
  const seed = intOption(task, values, 'seed', { min: 0, max: 0xffffffff });
  const out = stringOption(values, 'out');
  const cacheDir = stringOption(values, 'cache-dir');
  const json = flag(values, 'json');

  const files = await expandInputs(positionals);
  const collision = findCollision(files, out);
  if (collision) {
    throw new UsageError(`${collision[0]} and ${collision[1]} would write the same output files; use --out per folder`, task);
  }

  // Check the task before loading (a TensorRT build can take minutes).
  const model = readModelInfo(modelPath);
  if (model.task !== task) {
    throw new ModelError(`${modelPath} is a ${model.task} model; use "lotus ${model.task}" for it`);
  }
  if (out !== undefined) await fs.promises.mkdir(out, { recursive: true });

  const progress = new ProgressBar();
  let estimator: LotusEstimator;
  {
    let building = false;
    const loading = new LoadProgress(progress);
    estimator = await createEstimator(modelPath, {
      backend,
      ...(processingResolution !== undefined ? { processingResolution } : {}),
      ...(outputResample !== undefined ? { outputResample } : {}),
      tensorrt: {
        ...(cacheDir !== undefined ? { cacheDir } : {}),
        onProgress: (phase, step, steps) => {
          building = true;
          progress.update(`building TensorRT engine: ${phase}`, step, steps);
        },
      },
      cpu: { ...(cacheDir !== undefined ? { cacheDir } : {}), onProgress: loading.update },
      onWarning: (message) => {
        progress.log(warningLine(message));
      },
    });
    if (building) progress.done();
    loading.done();
  }
  if (estimator.model.randomWeights) {
    progress.log(warningLine(`${path.basename(modelPath)} was exported from random weights (a test model): its predictions are noise. README.md says how to export a real Lotus checkpoint.`));
  }

  const written: Written[] = [];
  let failures = 0;
  try {
    let next = 0;
    let done = 0;
    const showBar = files.length > 1;
    const worker = async () => {
      while (next < files.length) {
        const file = files[next++]!;
        const entry: Written = { input: file };
        try {
          const result = task === 'depth'
            ? await estimator.depth(file, seed !== undefined ? { seed } : {})
            : await estimator.normal(file, seed !== undefined ? { seed } : {});
          entry.width = result.width;
          entry.height = result.height;
          entry.files = {};
          const dir = outputDir(file, out);
          for (const format of formats) {
            const target = path.join(dir, stem(file) + SUFFIX[`${task}:${format}`]);
            await fs.promises.writeFile(target, await encode(task, result, format));
            entry.files[format] = target;
          }
          entry.timings = { ...result.timings };
        } catch (err) {
          // One bad image does not stop the others; the exit code says something failed.
          if (!(err instanceof LotusError) && !(typeof (err as NodeJS.ErrnoException).code === 'string')) throw err;
          failures++;
          const code = (err as { code: string }).code;
          entry.error = { code, message: (err as Error).message };
          progress.log(`lotus: ${file}: ${code}: ${(err as Error).message}`);
        }
        written.push(entry);
        done++;
        if (showBar) progress.update(task, done, files.length, path.basename(file));
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, files.length) }, worker));
    if (showBar) progress.done();
  } finally {
    await estimator.close();
  }

  written.sort((a, b) => files.indexOf(a.input) - files.indexOf(b.input));
  if (json) {
    printJson({
      model: { path: model.path, task: model.task, mode: model.mode, precision: model.precision },
      backend: estimator.backend,
      outputs: written,
      failures,
    });
  } else {
    for (const w of written) {
      if (w.files) process.stdout.write(`${w.input} (${w.width}x${w.height}) -> ${Object.values(w.files).join(', ')}\n`);
    }
    if (failures > 0) process.stderr.write(`lotus: ${failures} of ${files.length} images failed\n`);
  }
  return failures > 0 ? 1 : 0;
}

export const depthCommand = (argv: string[]) => predict('depth', argv);
export const normalCommand = (argv: string[]) => predict('normal', argv);
