// `lotus bench`: loads the model, measures it with lib/bench/runner.ts and, with
// --peer-checkpoint, runs the PyTorch reference (scripts/bench_pytorch.py) in the same run and
// prints the latency ratio. The JSON document is described in docs/benchmarks.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { computeRatios, formatReport, roundNumbers, SCHEMA, type BenchDocument, type DeviceFacts } from '../bench/report';
import { runPeer, defaultPython } from '../bench/peer';
import { runBenchmark } from '../bench/runner';
import { syntheticPng, SYNTHETIC_HEIGHT, SYNTHETIC_WIDTH } from '../bench/synthetic';
import { ImageError } from '../errors';
import { createEstimator } from '../estimator/estimator';
import { MAX_IMAGE_SIDE } from '../estimator/options';
import { processingSize } from '../estimator/geometry';
import { deviceInfo, tensorrtInfo } from '../addon/info';
import { readModelInfo, type ModelInfo } from '../model/metadata';
import {
  choiceOption, flag, intListOption, intOption, parse, requireString, stringOption, UsageError,
} from './args';
import { BACKENDS, MODEL_OPTIONS, printJson, warningLine } from './common';
import { LoadProgress } from './load-progress';
import { ProgressBar } from './progress';
import { onnxruntimeVersion } from '../backends/onnxruntime';

const C = 'bench';

function packageVersion(name: string): string | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return null;
  }
}

function gpuFacts(index: number): DeviceFacts {
  const info = deviceInfo();
  const d = info.devices.find((x) => x.index === index) ?? info.devices[0];
  return {
    kind: 'gpu',
    name: d?.name ?? 'unknown GPU',
    computeCapability: d ? d.computeCapability.join('.') : null,
    totalMemory: d?.totalMemory ?? null,
    driverVersion: info.cudaDriverVersion,
  };
}

function cpuFacts(): DeviceFacts {
  const cpus = os.cpus();
  return { kind: 'cpu', name: cpus[0]?.model.trim() ?? 'unknown CPU', cpus: cpus.length };
}

/** "random" when the ONNX metadata says so or the user does (--random-weights). */
function weightsLabel(model: ModelInfo, userSaysRandom: boolean): string {
  if (userSaysRandom || model.randomWeights) return 'random';
  return 'unspecified';
}

function modelBytes(model: ModelInfo): number {
  let bytes = fs.statSync(model.path).size;
  // External data (weights > 2 GB) sits next to the graph; count what the graph references.
  const dir = path.dirname(model.path);
  for (const f of fs.readdirSync(dir)) {
    if (f.startsWith(path.basename(model.path)) && f !== path.basename(model.path)) bytes += fs.statSync(path.join(dir, f)).size;
  }
  return bytes;
}

interface BenchInput {
  bytes: Buffer;
  /** A file the peer can read: the user's image, or the synthetic PNG written to a temp file. */
  file: string | undefined;
  facts: BenchDocument['input'];
  cleanup(): void;
}

async function prepareInput(image: string | undefined, needFile: boolean): Promise<BenchInput> {
  if (image !== undefined) {
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(image);
    } catch (err) {
      throw new ImageError(`cannot read ${image}: ${(err as Error).message}`);
    }
    let meta: sharp.Metadata;
    try {
      meta = await sharp(bytes).metadata();
    } catch (err) {
      throw new ImageError(`${image}: not a decodable image: ${(err as Error).message}`);
    }
    // EXIF orientations 5-8 swap the sides, as the decoder does.
    const swap = (meta.orientation ?? 1) >= 5;
    const width = swap ? meta.height! : meta.width!;
    const height = swap ? meta.width! : meta.height!;
    return { bytes, file: image, facts: { source: 'file', path: path.resolve(image), width, height }, cleanup: () => {} };
  }
  const bytes = await syntheticPng();
  let file: string | undefined;
  if (needFile) {
    file = path.join(os.tmpdir(), `lotus-bench-${process.pid}-${Date.now()}.png`);
    await fs.promises.writeFile(file, bytes);
  }
  return {
    bytes,
    file,
    facts: { source: 'synthetic', path: null, width: SYNTHETIC_WIDTH, height: SYNTHETIC_HEIGHT },
    cleanup: () => {
      if (file) fs.rmSync(file, { force: true });
    },
  };
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parse(C, argv, {
    ...MODEL_OPTIONS,
    resolutions: { type: 'string' },
    batch: { type: 'string' },
    concurrency: { type: 'string' },
    iterations: { type: 'string' },
    warmup: { type: 'string' },
    image: { type: 'string' },
    seed: { type: 'string' },
    'peer-checkpoint': { type: 'string' },
    python: { type: 'string' },
    'peer-device': { type: 'string' },
    'random-weights': { type: 'boolean' },
  }, false);
  const modelPath = requireString(C, values, 'model');
  const backend = choiceOption(C, values, 'backend', BACKENDS) ?? 'auto';
  const resolutions = intListOption(C, values, 'resolutions', { min: 0, max: MAX_IMAGE_SIDE }) ?? [768];
  const concurrency = intListOption(C, values, 'concurrency', { min: 1, max: 256 }) ?? [1];
  const batch = intOption(C, values, 'batch', { min: 1, max: 1024 }) ?? 1;
  const iterations = intOption(C, values, 'iterations', { min: 1, max: 1_000_000 }) ?? 20;
  const warmup = intOption(C, values, 'warmup', { min: 0, max: 1_000_000 }) ?? 3;
  const seed = intOption(C, values, 'seed', { min: 0, max: 0xffffffff }) ?? 0;
  const cacheDir = stringOption(values, 'cache-dir');
  const peerCheckpoint = stringOption(values, 'peer-checkpoint');
  const python = stringOption(values, 'python') ?? defaultPython();
  const peerDevice = choiceOption(C, values, 'peer-device', ['auto', 'cuda', 'cpu'] as const);
  const randomWeights = flag(values, 'random-weights');
  const json = flag(values, 'json');
  if (peerCheckpoint !== undefined && !fs.existsSync(peerCheckpoint)) {
    throw new UsageError(`--peer-checkpoint: no such folder: ${peerCheckpoint}`, C);
  }

  const model = readModelInfo(modelPath);
  const loadAverage = os.loadavg()[0]!; // before we add load: how busy the machine already was
  const input = await prepareInput(stringOption(values, 'image'), peerCheckpoint !== undefined);
  try {
    const progress = new ProgressBar();
    let built = false;
    const loading = new LoadProgress(progress);
    const loadStart = performance.now();
    const estimator = await createEstimator(modelPath, {
      backend,
      // A batch needs an engine whose profile takes it (a different engine, cached apart).
      cpu: {
        maxBatch: batch,
        ...(cacheDir !== undefined ? { cacheDir } : {}),
        onProgress: loading.update,
      },
      tensorrt: {
        ...(batch > 1 ? { maxBatch: batch } : {}),
        ...(cacheDir !== undefined ? { cacheDir } : {}),
        onProgress: (phase, step, steps) => {
          built = true;
          progress.update(`building TensorRT engine: ${phase}`, step, steps);
        },
      },
      onWarning: (message) => progress.log(warningLine(message)),
    });
    const loadMs = performance.now() - loadStart;
    if (built) progress.done();
    loading.done();

    let run;
    let pools;
    try {
      run = await runBenchmark(estimator, input.bytes, {
        resolutions, concurrency, iterations, warmup, seed, batch,
        onProgress: (phase, step, steps) => progress.update(phase, step, steps),
      });
      pools = estimator.gpuMemoryStats();
    } finally {
      progress.done();
      await estimator.close(); // free the GPU / cores before the peer runs
    }

    const trt = tensorrtInfo();
    const doc: BenchDocument = {
      schema: SCHEMA,
      tool: 'lotus-trt',
      timestamp: new Date().toISOString(),
      device: estimator.backend === 'tensorrt' ? gpuFacts(0) : cpuFacts(),
      host: { os: `${os.type()} ${os.release()}`, cpu: os.cpus()[0]?.model.trim() ?? 'unknown', cpus: os.cpus().length, loadAverage1m: loadAverage },
      backend: estimator.backend,
      // TensorRT engines are always built FP16 (lib/backends/tensorrt.ts buildSettings).
      precision: estimator.backend === 'tensorrt' ? 'fp16' : model.precision,
      versions: {
        node: process.version,
        lotusTrt: packageVersion('../..'),
        onnxruntime: estimator.backend === 'cpu' ? onnxruntimeVersion() : null,
        tensorrt: estimator.backend === 'tensorrt' ? trt.libraryVersion : null,
      },
      model: {
        path: model.path,
        task: model.task,
        mode: model.mode,
        disparity: model.disparity,
        precision: model.precision,
        processingResolution: model.processingResolution,
        source: model.source,
        sizeBytes: modelBytes(model),
        weights: weightsLabel(model, randomWeights),
      },
      input: input.facts,
      settings: { resolutions, concurrency, batch, iterations, warmup, seed },
      load: { ms: loadMs, engine: estimator.backend === 'tensorrt' ? (built ? 'built' : 'cached') : null },
      cold: run.cold,
      results: run.results.map((r) => {
        const size = processingSize(input.facts.width, input.facts.height, r.resolution, model.sizeMultiple);
        return { ...r, networkWidth: size.resizedWidth, networkHeight: size.resizedHeight };
      }),
      ...(pools ? {
        gpuMemory: {
          devicePeakBytes: pools.device.peakBytes,
          deviceCachedBytes: pools.device.bytesCached,
          pinnedPeakBytes: pools.pinned.peakBytes,
          pinnedCachedBytes: pools.pinned.bytesCached,
        },
      } : {}),
    };

    if (peerCheckpoint !== undefined) {
      progress.log(`running the PyTorch peer (${python} scripts/bench_pytorch.py) on ${peerCheckpoint} ...`);
      const outcome = await runPeer({
        checkpoint: peerCheckpoint,
        python,
        task: model.task,
        resolutions,
        iterations,
        warmup,
        seed,
        batch,
        image: input.file!,
        device: peerDevice ?? (estimator.backend === 'tensorrt' ? 'cuda' : 'cpu'),
        randomWeights,
        onLog: (line) => progress.log(line),
      });
      if (outcome.ok) {
        doc.peer = { available: true, wallMs: outcome.wallMs, document: outcome.document };
        doc.ratios = computeRatios(doc.results, outcome.document);
      } else {
        doc.peer = { available: false, reason: outcome.reason };
        progress.log(`lotus: the PyTorch peer did not run: ${outcome.reason}`);
      }
    }

    if (json) printJson(roundNumbers(doc));
    else process.stdout.write(`${formatReport(doc)}\n`);
    return 0;
  } finally {
    input.cleanup();
  }
}
