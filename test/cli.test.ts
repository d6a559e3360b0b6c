// The `lotus` command as users run it: `node dist/cli.js` (built by `npx tsc -p .`, which
// `npm test` runs first). Exit codes, usage on stderr, files written, JSON documents.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseInteger, parseSize, UsageError } from '../lib/cli/args';
import { LoadProgress } from '../lib/cli/load-progress';
import { ProgressBar } from '../lib/cli/progress';
import { tensorrtInfo } from '../lib/addon/info';
import { decodeNpy } from '../lib/io/npy';
import { caseOutput, hasFixtures, manifest, maxAbsDiff } from './helpers/fixtures';
import { CLI, lotus, ROOT, type CliRun } from './helpers/lotus-cli';

const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const IMAGE = path.join(FIXTURES, 'images', 'gradient-64x48.png');

/** The tiny fixture model of a task (test/fixtures/tiny-*<task>*.onnx), fp32 preferred for the CPU. */
function fixtureModel(task: 'depth' | 'normal'): string | undefined {
  const names = fs.existsSync(FIXTURES) ? fs.readdirSync(FIXTURES) : [];
  const matches = names.filter((n) => n.startsWith('tiny-') && n.includes(task) && n.endsWith('.onnx')).sort();
  const pick = matches.find((n) => !n.includes('fp16')) ?? matches[0];
  return pick ? path.join(FIXTURES, pick) : undefined;
}
const DEPTH_MODEL = fixtureModel('depth');
const NORMAL_MODEL = fixtureModel('normal');

let tmp: string;
beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npx tsc -p ." first`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-cli-test-'));
});
afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function expectUsageError(run: CliRun, message: RegExp, usageOf = /Usage: lotus/): void {
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(message);
  expect(run.stderr).toMatch(usageOf);
  expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(run.stdout).toBe('');
}

describe('progress bar', () => {
  function sink(isTTY: boolean) {
    const chunks: string[] = [];
    return { chunks, stream: { isTTY, columns: 100, write: (c: string) => chunks.push(c) > 0 } };
  }

  test('TTY: redraws one line, ends it on done()', () => {
    const { chunks, stream } = sink(true);
    const bar = new ProgressBar(stream);
    bar.update('depth', 1, 4, 'a.png');
    bar.update('depth', 4, 4, 'd.png');
    bar.done();
    expect(chunks[0]).toMatch(/^\r\x1b\[2Kdepth \[#+-+\] 1\/4 /);
    expect(chunks[1]).toMatch(/\[#{30}\] 4\/4 .* d\.png$/);
    expect(chunks[2]).toBe('\n');
  });

  test('not a TTY: plain lines, only on a new phase or a new tenth', () => {
    const { chunks, stream } = sink(false);
    const bar = new ProgressBar(stream);
    for (let i = 1; i <= 100; i++) bar.update('res 64 x1', i, 100);
    bar.update('res 128 x1', 0, 100);
    expect(chunks.every((c) => !c.includes('\r') && c.endsWith('\n'))).toBe(true);
    // 1/100, then 10/100 ... 90/100, 100/100, then the next phase.
    expect(chunks).toHaveLength(12);
    expect(chunks[0]).toBe('res 64 x1: 1/100\n');
    expect(chunks[1]).toBe('res 64 x1: 10/100\n');
    expect(chunks[10]).toBe('res 64 x1: 100/100\n');
    expect(chunks[11]).toBe('res 128 x1: 0/100\n');
  });

  test('model load: a blocking phase is drawn at once, a streamed one only after a second, a quick load not at all', () => {
    const { chunks, stream } = sink(false);
    const quick = new LoadProgress(new ProgressBar(stream));
    quick.update('hashing model for the CPU cache', 10, 3600);
    quick.done();
    expect(chunks).toEqual([]);
    const slow = new LoadProgress(new ProgressBar(stream));
    slow.update('optimising model (first load; cached for the next)', 0, 1);
    slow.update('optimising model (first load; cached for the next)', 1, 1);
    slow.done();
    expect(chunks).toEqual(['optimising model (first load; cached for the next): 0/1\n', 'optimising model (first load; cached for the next): 1/1\n']);
  });
});

describe('argument helpers', () => {
  test('integers and sizes', () => {
    expect(parseInteger('bench', 'warmup', ' 3 ')).toBe(3);
    expect(() => parseInteger('bench', 'warmup', '3e2')).toThrow(UsageError);
    expect(() => parseInteger('bench', 'warmup', '9007199254740993')).toThrow(/out of range/);
    expect(parseSize('build', 'max', '1024x768')).toEqual({ width: 1024, height: 768 });
    expect(parseSize('build', 'max', '512')).toEqual({ width: 512, height: 512 });
    expect(() => parseSize('build', 'max', '0x5')).toThrow(/must be >= 1/);
  });
});

describe('argument errors: usage on stderr, exit code 2', () => {
  test('no arguments', async () => {
    expectUsageError(await lotus([]), /no command given/, /Commands:/);
  });

  test('unknown subcommand', async () => {
    expectUsageError(await lotus(['frobnicate']), /unknown command "frobnicate"/, /Commands:/);
  });

  test('missing --model', async () => {
    expectUsageError(await lotus(['depth', IMAGE]), /--model is required/, /Usage: lotus depth/);
    expectUsageError(await lotus(['bench']), /--model is required/, /Usage: lotus bench/);
    expectUsageError(await lotus(['build']), /--model is required/, /Usage: lotus build/);
  });

  test('bad numbers and choices', async () => {
    expectUsageError(await lotus(['bench', '--model', 'm.onnx', '--iterations', 'ten']), /--iterations must be an integer, got "ten"/);
    expectUsageError(await lotus(['bench', '--model', 'm.onnx', '--iterations', '0']), /--iterations must be >= 1/);
    expectUsageError(await lotus(['bench', '--model', 'm.onnx', '--resolutions', '384,,768']), /--resolutions must be a comma-separated list/);
    expectUsageError(await lotus(['bench', '--model', 'm.onnx', '--concurrency', '1.5']), /--concurrency must be an integer/);
    expectUsageError(await lotus(['depth', IMAGE, '--model', 'm.onnx', '--processing-resolution=-5']), /--processing-resolution must be >= 0/);
    expectUsageError(await lotus(['depth', IMAGE, '--model', 'm.onnx', '--format', 'npy,jpeg']), /--format: unknown value "jpeg"/);
    expectUsageError(await lotus(['depth', IMAGE, '--model', 'm.onnx', '--backend', 'gpu']), /--backend must be one of auto, tensorrt, cpu/);
    expectUsageError(await lotus(['build', '--model', 'm.onnx', '--min', '12y4']), /--min must be WIDTHxHEIGHT or N/);
  });

  test('unknown option and missing inputs', async () => {
    expectUsageError(await lotus(['info', '--bogus']), /Unknown option '--bogus'/, /Usage: lotus info/);
    expectUsageError(await lotus(['depth', '--model', 'm.onnx']), /no input images or folders given/);
  });

  test('--help prints usage on stdout and exits 0', async () => {
    const run = await lotus(['bench', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Usage: lotus bench/);
  });
});

describe('runtime errors: code and message, exit code 1, no stack', () => {
  test('missing image', async () => {
    const run = await lotus(['depth', path.join(tmp, 'nope.png'), '--model', 'm.onnx']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^lotus: ERR_LOTUS_IMAGE: no such file or folder: .*nope\.png/m);
    expect(run.stderr).not.toMatch(/Usage:|\n\s+at /);
  });

  test('missing model', async () => {
    const run = await lotus(['depth', IMAGE, '--model', path.join(tmp, 'missing.onnx')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^lotus: ERR_LOTUS_MODEL: /m);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('info', () => {
  test('--json: GPUs, driver, CUDA runtime, TensorRT, plugin, cache', async () => {
    const cacheDir = path.join(tmp, 'cache-empty');
    const run = await lotus(['info', '--json', '--cache-dir', cacheDir]);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(typeof doc.lotusTrt).toBe('string');
    expect(doc.cpu.cores).toBeGreaterThan(0);
    expect(doc.cuda).toHaveProperty('usable');
    expect(doc.cuda).toHaveProperty('driverVersion');
    expect(doc.cuda).toHaveProperty('runtimeVersion');
    expect(Array.isArray(doc.cuda.devices)).toBe(true);
    expect(doc.tensorrt).toHaveProperty('available');
    expect(doc.tensorrt).toHaveProperty('reason');
    expect(doc.tensorrt).toHaveProperty('pluginPath');
    expect(doc.tensorrt).toHaveProperty('libraryVersion');
    expect(doc.tensorrt.onnxParser).toEqual({ available: expect.any(Boolean), reason: doc.tensorrt.onnxParser.available ? null : expect.any(String) });
    if (!doc.tensorrt.available) expect(doc.tensorrt.reason).toMatch(/\S/);
    expect(doc.cache).toEqual({ dir: cacheDir, engines: [] });
  });

  test('names the build, the installed driver and the minimum driver this binary needs', async () => {
    const cacheDir = path.join(tmp, 'cache-driver');
    const doc = JSON.parse((await lotus(['info', '--json', '--cache-dir', cacheDir])).stdout);
    expect(doc.build).toHaveProperty('gpu');
    expect(doc.cuda).toHaveProperty('driverRelease');
    const text = (await lotus(['info', '--cache-dir', cacheDir])).stdout;
    expect(text).toMatch(/^Native addon: (GPU build \(CUDA \d+\.\d+, architectures .+\)|CPU-only \(.+\))$/m);
    if (doc.build.gpu) {
      expect(doc.cuda.requiredDriver).toEqual({ release: expect.stringMatching(/^\d+\.\d+/), cudaVersion: expect.stringMatching(/^\d+\.\d$/) });
      expect(text).toMatch(/^NVIDIA driver: .+; this binary needs \d+\.\d+\.\d+ or newer \(CUDA \d+\.\d\)$/m);
    } else {
      expect(text).toMatch(/^NVIDIA driver: /m);
    }
  });

  test('lists engines from sidecars in the cache folder', async () => {
    const cacheDir = path.join(tmp, 'cache-one');
    fs.mkdirSync(cacheDir);
    const key = 'a'.repeat(64);
    fs.writeFileSync(path.join(cacheDir, `${key}.plan`), Buffer.alloc(1000));
    fs.writeFileSync(path.join(cacheDir, `${key}.json`), JSON.stringify({
      formatVersion: 1, key, planSha256: 'b'.repeat(64), planSize: 1000,
      onnx: { sha256: 'c'.repeat(64), files: [{ path: '/models/lotus.onnx', size: 1, mtimeMs: 0 }] },
      environment: { pluginVersion: '10.9.0', libraryVersion: '10.9.0', gpuName: 'Test GPU', computeCapability: [9, 0], multiProcessorCount: 132, cudaRuntimeMajor: 12 },
      settings: { profiles: [], lanes: 2, workspaceBytes: 0, optimizationLevel: 3, fp16: true },
      createdAt: '2025-01-01T00:00:00.000Z',
    }));
    fs.writeFileSync(path.join(cacheDir, 'unrelated.json'), '{"x": 1}');
    const run = await lotus(['info', '--json', '--cache-dir', cacheDir]);
    expect(run.code).toBe(0);
    const engines = JSON.parse(run.stdout).cache.engines;
    expect(engines).toHaveLength(1);
    expect(engines[0]).toMatchObject({ key, planSize: 1000, planPresent: true, onnx: ['/models/lotus.onnx'], gpu: 'Test GPU', tensorrt: '10.9.0', precision: 'fp16', lanes: 2 });
    const text = await lotus(['info', '--cache-dir', cacheDir]);
    expect(text.stdout).toMatch(/Engine cache: .*\(1 engine\)/);
    expect(text.stdout).toMatch(/TensorRT: (available|unavailable: \S)/);
  });
});

describe.skipIf(!DEPTH_MODEL)(`with the fixture model ${DEPTH_MODEL ? path.basename(DEPTH_MODEL) : '(missing)'}`, () => {
  const model = DEPTH_MODEL!;

  test('depth writes the requested files where asked', async () => {
    const out = path.join(tmp, 'depth-out');
    const run = await lotus(['depth', IMAGE, '--model', model, '--backend', 'cpu', '--out', out,
      '--format', 'npy,png16,color', '--processing-resolution', '64']);
    expect(run.stderr).not.toMatch(/ERR_/);
    expect(run.code).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['gradient-64x48_depth.npy', 'gradient-64x48_depth16.png', 'gradient-64x48_depth_color.png']);
    expect(run.stderr).toContain(`lotus: warning: ${path.basename(model)} was exported from random weights`);

    const npyBytes = fs.readFileSync(path.join(out, 'gradient-64x48_depth.npy'));
    expect(npyBytes.subarray(0, 6)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]));
    const npy = decodeNpy(npyBytes);
    expect(npy.dtype).toBe('<f4');
    expect(npy.shape).toEqual([48, 64]);
    for (const v of npy.data as Float32Array) expect(v >= 0 && v <= 1).toBe(true);

    const png16 = await sharp(path.join(out, 'gradient-64x48_depth16.png')).metadata();
    expect([png16.width, png16.height, png16.channels, png16.depth]).toEqual([64, 48, 1, 'ushort']);
    const color = await sharp(path.join(out, 'gradient-64x48_depth_color.png')).metadata();
    expect([color.width, color.height, color.channels, color.depth]).toEqual([64, 48, 3, 'uchar']);
  });

  test('depth on a folder with --json: default formats next to nothing else, one entry per image', async () => {
    const dir = path.join(tmp, 'images');
    fs.mkdirSync(dir);
    for (const name of ['gradient-64x48.png', 'shapes-97x61-rgba.png', 'tall-40x120.png']) {
      fs.copyFileSync(path.join(FIXTURES, 'images', name), path.join(dir, name));
    }
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
    const out = path.join(tmp, 'folder-out');
    const run = await lotus(['depth', dir, '--model', model, '--backend', 'cpu', '--out', out, '--json', '--processing-resolution', '64']);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout);
    const images = fs.readdirSync(dir).filter((n) => n.endsWith('.png')).sort();
    expect(doc.outputs.map((o: { input: string }) => path.basename(o.input))).toEqual(images);
    expect(doc.failures).toBe(0);
    expect(doc.backend).toBe('cpu');
    for (const o of doc.outputs) {
      expect(Object.keys(o.files).sort()).toEqual(['color', 'npy']);
      expect(o.timings.total).toBeGreaterThan(0);
      expect(fs.existsSync(o.files.npy)).toBe(true);
    }
    // Progress goes to stderr, never into the JSON on stdout.
    expect(run.stderr).toMatch(/depth: 3\/3/);
  });

  test.skipIf(tensorrtInfo().available)('build without TensorRT: exit 1 with the reason', async () => {
    const run = await lotus(['build', '--model', model]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^lotus: ERR_LOTUS_BACKEND_UNAVAILABLE: cannot build a TensorRT engine: \S/m);
    expect(run.stderr).toContain(tensorrtInfo().reason!);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  test('normal refuses a depth model with a clear message', async () => {
    const run = await lotus(['normal', IMAGE, '--model', model, '--backend', 'cpu', '--out', path.join(tmp, 'refused')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/ERR_LOTUS_MODEL: .* is a depth model; use "lotus depth"/);
  });

  test('bench --json with the documented fields', async () => {
    const run = await lotus(['bench', '--model', model, '--backend', 'cpu', '--json', '--iterations', '2', '--warmup', '1', '--resolutions', '64']);
    expect(run.stderr).not.toMatch(/ERR_/);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(doc.schema).toBe('lotus-bench/1');
    expect(doc.tool).toBe('lotus-trt');
    expect(doc.backend).toBe('cpu');
    expect(doc.device.kind).toBe('cpu');
    expect(doc.device.name).toMatch(/\S/);
    expect(doc.host.cpus).toBeGreaterThan(0);
    // The fixture's export carries lotus.random_weights, so the report says so without --random-weights.
    expect(doc.model).toMatchObject({ path: path.resolve(model), task: 'depth', weights: 'random' });
    expect(doc.model.sizeBytes).toBeGreaterThan(0);
    expect(doc.input).toEqual({ source: 'synthetic', path: null, width: 1920, height: 1080 });
    expect(doc.settings).toEqual({ resolutions: [64], concurrency: [1], batch: 1, iterations: 2, warmup: 1, seed: 0 });
    expect(doc.load.ms).toBeGreaterThan(0);
    expect(doc.load.engine).toBeNull();
    expect(doc.cold.resolution).toBe(64);
    expect(doc.cold.ms).toBeGreaterThan(0);
    expect(doc.results).toHaveLength(1);
    const r = doc.results[0];
    expect(r).toMatchObject({ resolution: 64, concurrency: 1, batch: 1, iterations: 2, networkWidth: 64, networkHeight: 36 });
    expect(r.latency.count).toBe(2);
    for (const k of ['mean', 'min', 'max', 'p50', 'p90', 'p99']) expect(r.latency[k]).toBeGreaterThan(0);
    expect(r.latency.p50).toBeLessThanOrEqual(r.latency.p99);
    expect(r.throughput).toBeGreaterThan(0);
    for (const stage of ['decode', 'preprocess', 'inference', 'postprocess', 'copy', 'total']) {
      expect(r.stages[stage]).toHaveProperty('mean');
      expect(r.stages[stage]).toHaveProperty('p50');
    }
    expect(doc).not.toHaveProperty('peer');
    expect(doc).not.toHaveProperty('gpuMemory'); // TensorRT runs only
  });

  test('bench --batch 3: each request is one batch of 3, throughput counts images', async () => {
    const run = await lotus(['bench', '--model', model, '--backend', 'cpu', '--json', '--iterations', '2', '--warmup', '0', '--resolutions', '64', '--batch', '3']);
    expect(run.stderr).not.toMatch(/ERR_/);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(doc.settings.batch).toBe(3);
    const [r] = doc.results;
    expect(r).toMatchObject({ batch: 3, iterations: 2 });
    expect(r.throughput).toBeCloseTo((2 * 3 * 1000) / r.wallMs, 1);
  });

  test('bench with a peer that cannot run says why and prints no ratio', async () => {
    const checkpoint = path.join(tmp, 'checkpoint');
    fs.mkdirSync(checkpoint, { recursive: true });
    const run = await lotus(['bench', '--model', model, '--backend', 'cpu', '--json', '--iterations', '1', '--warmup', '0',
      '--resolutions', '64', '--peer-checkpoint', checkpoint, '--python', path.join(tmp, 'no-such-python')]);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(doc.peer).toEqual({ available: false, reason: expect.stringMatching(/not found/) });
    expect(doc).not.toHaveProperty('ratios');
  });
});

describe.skipIf(!hasFixtures)('reproducing an official Lotus run', () => {
  test('--noise and --no-auto-orient give what infer.py wrote for the same noise', async () => {
    const c = manifest.cases.find((x) => x.model === 'tiny-depth-g' && x.image.endsWith('.jpg') && x.files.noise && !x.auto_orient && x.processing_resolution === 768);
    expect(c, 'a G case on a JPEG at 768').toBeDefined();
    const out = path.join(tmp, 'official');
    const noise = path.join(FIXTURES, c!.dir, c!.files.noise!);
    const run = await lotus(['depth', path.join(FIXTURES, c!.image), '--model', path.join(FIXTURES, 'tiny-depth-g.onnx'), '--backend', 'cpu',
      '--noise', noise, '--no-auto-orient', '--processing-resolution', '768', '--out', out, '--format', 'npy']);
    expect(run.code, run.stderr).toBe(0);
    const depth = decodeNpy(fs.readFileSync(path.join(out, `${path.parse(c!.image).name}_depth.npy`)));
    expect(depth.shape).toEqual([c!.height, c!.width]);
    expect(maxAbsDiff(depth.data as Float32Array, await caseOutput(c!))).toBeLessThan(1e-4);
    // Two images cannot share one noise tensor (its shape is the image's latent).
    const two = await lotus(['depth', IMAGE, path.join(FIXTURES, c!.image), '--model', path.join(FIXTURES, 'tiny-depth-g.onnx'), '--noise', noise]);
    expectUsageError(two, /--noise takes one image/);
  });
});

describe.skipIf(!NORMAL_MODEL)('with the normal fixture model', () => {
  test('depth refuses a normal model; normal writes _normal.npy [H, W, 3] and _normal.png', async () => {
    const refused = await lotus(['depth', IMAGE, '--model', NORMAL_MODEL!, '--backend', 'cpu']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/ERR_LOTUS_MODEL: .* is a normal model; use "lotus normal"/);

    const out = path.join(tmp, 'normal-out');
    const run = await lotus(['normal', IMAGE, '--model', NORMAL_MODEL!, '--backend', 'cpu', '--out', out, '--processing-resolution', '64']);
    expect(run.code).toBe(0);
    const npy = decodeNpy(fs.readFileSync(path.join(out, 'gradient-64x48_normal.npy')));
    expect([npy.dtype, npy.shape]).toEqual(['<f4', [48, 64, 3]]);
    const png = await sharp(path.join(out, 'gradient-64x48_normal.png')).metadata();
    expect([png.width, png.height, png.channels]).toEqual([64, 48, 3]);
  });
});

// Runs the real PyTorch peer when pointed at one (slow: loads torch + diffusers):
//   LOTUS_PEER_PYTHON=/opt/lotus-venv/bin/python LOTUS_PEER_CHECKPOINT=<tiny-depth-g checkpoint> \
//   PYTHONPATH=<diffusers>/src npx vitest run test/cli.test.ts
const PEER_PYTHON = process.env.LOTUS_PEER_PYTHON;
const PEER_CHECKPOINT = process.env.LOTUS_PEER_CHECKPOINT;
describe.skipIf(!DEPTH_MODEL || !PEER_PYTHON || !PEER_CHECKPOINT)('bench against the PyTorch peer', () => {
  test('same run: peer document, ratio per resolution at concurrency 1', async () => {
    const run = await lotus(['bench', '--model', DEPTH_MODEL!, '--backend', 'cpu', '--json', '--iterations', '2', '--warmup', '1',
      '--resolutions', '64', '--peer-checkpoint', PEER_CHECKPOINT!, '--python', PEER_PYTHON!, '--random-weights']);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(doc.peer.available).toBe(true);
    const peer = doc.peer.document;
    expect(peer).toMatchObject({ schema: 'lotus-bench/1', tool: 'pytorch-reference', backend: 'pytorch-cpu', precision: 'fp32' });
    expect(peer.model.weights).toBe('random');
    expect(peer.results[0]).toMatchObject({ resolution: 64, concurrency: 1, iterations: 2 });
    expect(doc.ratios).toHaveLength(1);
    const ratio = doc.ratios[0];
    expect(ratio.resolution).toBe(64);
    expect(ratio.latencyP50).toBeCloseTo(peer.results[0].latency.p50 / doc.results[0].latency.p50, 2);
  }, 300_000);
});
