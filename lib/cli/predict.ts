// `lotus depth|normal <image|folder>...`: runs the model on each image and writes the requested
// files (.npy float32, 16-bit PNG, colour PNG) next to the input or into --out.
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, ModelError, LotusError } from '../errors';
import { decodeNpy } from '../io/npy';
import { createEstimator, type LotusEstimator } from '../estimator/estimator';
import { MAX_IMAGE_SIDE, MAX_SEED } from '../estimator/options';
import { readModelInfo, type Task } from '../model/metadata';
import {
  choiceListOption, choiceOption, flag, intOption, parse, requireString, stringOption, UsageError,
} from './args';
import { BACKENDS, MODEL_OPTIONS, printJson, warningLine } from './common';
import { expandInputs, findCollision } from './inputs';
import { Interrupt } from './interrupt';
import { checkOutputs, OutputFileError, outputsOf, OutputWriter, withoutCode, type PlannedOutput } from './output-files';
import { LoadProgress } from './load-progress';
import { ProgressBar } from './progress';
import { DEFAULT_FORMATS, encodeResult, FORMATS } from '../io/output-formats';

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

interface Request {
  task: Task;
  modelPath: string;
  files: string[];
  plan: Map<string, PlannedOutput[]>;
  backend: (typeof BACKENDS)[number];
  processingResolution: number | undefined;
  outputResample: 'nearest' | 'bilinear' | undefined;
  seed: number | undefined;
  /** --noise: explicit noise for the one image (G models). */
  noise: Float32Array | undefined;
  autoOrient: boolean;
  cacheDir: string | undefined;
  json: boolean;
  overwrite: boolean;
}

/** --noise: a float32 .npy of shape [1, 4, h, w] (e.g. the noise an official Lotus run drew). */
async function readNoise(file: string): Promise<Float32Array> {
  const npy = decodeNpy(await fs.promises.readFile(file));
  if (!(npy.data instanceof Float32Array) || npy.shape.length !== 4 || npy.shape[0] !== 1 || npy.shape[1] !== 4) {
    throw new InvalidArgumentError('--noise', `--noise: expected a float32 .npy of shape [1, 4, h, w], got ${npy.dtype} [${npy.shape.join(', ')}] in ${file}`);
  }
  return npy.data;
}

async function predict(task: Task, argv: string[]): Promise<number> {
  const { values, positionals } = parse(task, argv, {
    ...MODEL_OPTIONS,
    out: { type: 'string', short: 'o' },
    format: { type: 'string' },
    'processing-resolution': { type: 'string' },
    'output-resample': { type: 'string' },
    seed: { type: 'string' },
    noise: { type: 'string' },
    'no-auto-orient': { type: 'boolean' },
    overwrite: { type: 'boolean' },
  }, true);
  const modelPath = requireString(task, values, 'model');
  if (positionals.length === 0) throw new UsageError('no input images or folders given', task);
  const formats = choiceListOption(task, values, 'format', FORMATS[task]) ?? [...DEFAULT_FORMATS[task]];
  const out = stringOption(values, 'out');
  const noiseFile = stringOption(values, 'noise');
  const request: Omit<Request, 'files' | 'plan' | 'noise'> = {
    task,
    modelPath,
    backend: choiceOption(task, values, 'backend', BACKENDS) ?? 'auto',
    processingResolution: intOption(task, values, 'processing-resolution', { min: 0, max: MAX_IMAGE_SIDE }),
    outputResample: choiceOption(task, values, 'output-resample', ['nearest', 'bilinear'] as const),
    seed: intOption(task, values, 'seed', { min: 0, max: MAX_SEED }),
    autoOrient: !flag(values, 'no-auto-orient'),
    cacheDir: stringOption(values, 'cache-dir'),
    json: flag(values, 'json'),
    overwrite: flag(values, 'overwrite'),
  };

  const files = await expandInputs(positionals);
  if (noiseFile !== undefined && files.length !== 1) {
    throw new UsageError('--noise takes one image: the noise has the shape of that image\'s latent', task);
  }
  const noise = noiseFile !== undefined ? await readNoise(noiseFile) : undefined;
  const collision = findCollision(files, out);
  if (collision) {
    throw new UsageError(`${collision[0]} and ${collision[1]} would write the same output files; use --out per folder`, task);
  }
  // Every output is checked before the model loads: an input is never overwritten, an existing
  // file only with --overwrite, and an unwritable folder fails now rather than after every image.
  const plan = new Map<string, PlannedOutput[]>(files.map((file) => [file, outputsOf(task, file, formats, out)]));
  await checkOutputs(plan, request.overwrite);

  // Check the task before loading (a TensorRT build can take minutes).
  const model = readModelInfo(modelPath);
  if (model.task !== task) {
    throw new ModelError(`${modelPath} is a ${model.task} model; use "lotus ${model.task}" for it`);
  }
  const progress = new ProgressBar();
  // Until images are in flight a signal exits at once (an engine build is cancelled on exit).
  const interrupt = new Interrupt((line) => progress.log(line));
  try {
    return await runImages({ ...request, files, plan, noise }, progress, interrupt);
  } finally {
    interrupt.dispose();
  }
}

async function loadEstimator(request: Request, progress: ProgressBar): Promise<LotusEstimator> {
  let building = false;
  const loading = new LoadProgress(progress);
  const estimator = await createEstimator(request.modelPath, {
    backend: request.backend,
    ...(request.processingResolution !== undefined ? { processingResolution: request.processingResolution } : {}),
    ...(request.outputResample !== undefined ? { outputResample: request.outputResample } : {}),
    tensorrt: {
      ...(request.cacheDir !== undefined ? { cacheDir: request.cacheDir } : {}),
      onProgress: (phase, step, steps) => {
        building = true;
        progress.update(`building TensorRT engine: ${phase}`, step, steps);
      },
    },
    cpu: { ...(request.cacheDir !== undefined ? { cacheDir: request.cacheDir } : {}), onProgress: loading.update },
    onWarning: (message) => {
      progress.log(warningLine(message));
    },
  });
  if (building) progress.done();
  loading.done();
  if (estimator.model.randomWeights) {
    progress.log(warningLine(`${path.basename(request.modelPath)} was exported from random weights (a test model): its predictions are noise. README.md says how to export a real Lotus checkpoint.`));
  }
  return estimator;
}

async function runImages(request: Request, progress: ProgressBar, interrupt: Interrupt): Promise<number> {
  const { task, files, plan, seed, noise, autoOrient } = request;
  const options = { autoOrient, ...(seed !== undefined ? { seed } : {}), ...(noise ? { noise } : {}) };
  const estimator = await loadEstimator(request, progress);
  const written: Written[] = [];
  let failures = 0;
  // A failed output write (permissions, full disk) would fail every later image too: stop.
  let writeFailure: OutputFileError | undefined;
  const writer = new OutputWriter(request.overwrite);
  interrupt.exitImmediately = false;
  try {
    let next = 0;
    let done = 0;
    const showBar = files.length > 1;
    const worker = async () => {
      while (next < files.length && !interrupt.requested && !writeFailure) {
        const file = files[next++]!;
        const entry: Written = { input: file };
        try {
          const result = task === 'depth' ? await estimator.depth(file, options) : await estimator.normal(file, options);
          entry.width = result.width;
          entry.height = result.height;
          const outputs: Record<string, string> = {};
          for (const { format, target } of plan.get(file)!) {
            const data = await encodeResult(result, format);
            try {
              await writer.write(target, data);
            } catch (err) {
              const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
              writeFailure ??= new OutputFileError(code, `cannot write ${target}: ${withoutCode((err as Error).message, code)}`, { cause: err });
              throw writeFailure;
            }
            outputs[format] = target;
          }
          entry.files = outputs; // only once every file of the image is written
          entry.timings = { ...result.timings };
        } catch (err) {
          // One bad image does not stop the others; the exit code says something failed.
          if (!(err instanceof LotusError) && !(typeof (err as NodeJS.ErrnoException).code === 'string')) throw err;
          failures++;
          const code = (err as { code: string }).code;
          const message = withoutCode((err as Error).message, code);
          entry.error = { code, message };
          progress.log(`lotus: ${file}: ${code}: ${message}`);
        }
        written.push(entry);
        done++;
        if (showBar) progress.update(task, done, files.length, path.basename(file));
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, files.length) }, worker));
    if (showBar) progress.done();
  } finally {
    writer.close();
    await estimator.close();
  }
  const skipped = files.length - written.length;

  written.sort((a, b) => files.indexOf(a.input) - files.indexOf(b.input));
  if (request.json) {
    const model = estimator.model;
    printJson({
      model: { path: model.path, task: model.task, mode: model.mode, precision: model.precision },
      backend: estimator.backend,
      outputs: written,
      failures,
      skipped,
      ...(interrupt.signal ? { interrupted: interrupt.signal } : {}),
    });
  } else {
    for (const w of written) {
      if (w.files) process.stdout.write(`${w.input} (${w.width}x${w.height}) -> ${Object.values(w.files).join(', ')}\n`);
    }
    if (failures > 0) process.stderr.write(`lotus: ${failures} of ${files.length} images failed\n`);
    if (skipped > 0) {
      const why = interrupt.signal ? `interrupted by ${interrupt.signal}` : 'stopped after an output could not be written';
      process.stderr.write(`lotus: ${why}: ${skipped} of ${files.length} images not processed\n`);
    }
  }
  if (interrupt.requested) return interrupt.exitCode;
  return failures > 0 ? 1 : 0;
}

export const depthCommand = (argv: string[]) => predict('depth', argv);
export const normalCommand = (argv: string[]) => predict('normal', argv);
