// Hostile ONNX files and metadata for createEstimator(), and engine-cache sabotage (the cache code
// the TensorRT backend runs, with plans that are plain bytes: no GPU needed).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { clearOnnxHashMemo, EngineCache, hashOnnx, type EngineBuildSettings, type EngineEnvironment } from '../../lib/cache/engine-cache';
import { createEstimator } from '../../lib/index';
import { bytesField, identityLotusModel, intField, lotusMetadata, onnxModel, varint } from '../helpers/onnx-writer';
import type { Case, Expectation } from './harness';

/** createEstimator on the CPU, closed again when it loads. */
async function load(modelPath: string, options: Record<string, unknown> = {}): Promise<void> {
  const estimator = await createEstimator(modelPath, { backend: 'cpu', onWarning: () => undefined, ...options });
  await estimator.close();
}

export function modelCases(dir: string, fixtureModel: string): Case[] {
  const cases: Case[] = [];
  const add = (group: string, name: string, expect: Expectation, run: () => Promise<unknown>) => cases.push({ group, name, expect, run });
  const file = (name: string, content: Buffer | string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
  };
  const withMetadata = (name: string, expect: Expectation, metadata: Record<string, string | undefined>, options?: Record<string, unknown>) => {
    const p = file(`meta-${cases.length}.onnx`, identityLotusModel({ metadata }));
    add('onnx metadata', name, expect, () => load(p, options));
  };

  withMetadata('a valid identity model', 'result', {});
  for (const key of Object.keys(lotusMetadata())) withMetadata(`without ${key}`, key.match(/latent_scale|timestep|source|exporter/) ? 'result' : 'error', { [key]: undefined });
  const badValues: [string, string][] = [
    ['lotus.format_version', '2'], ['lotus.format_version', ''], ['lotus.task', 'segmentation'], ['lotus.task', 'DEPTH'],
    ['lotus.mode', 'both'], ['lotus.disparity', '1'], ['lotus.processing_resolution', '-5'], ['lotus.processing_resolution', '1e3'],
    ['lotus.processing_resolution', '99999999999999999999'], ['lotus.processing_resolution', '768 '], ['lotus.size_multiple', '7'],
    ['lotus.size_multiple', '4096'], ['lotus.precision', 'bf16'], ['lotus.task', 'depth\0'], ['lotus.mode', '\u202egeneration'],
  ];
  for (const [key, value] of badValues) withMetadata(`${key} = ${JSON.stringify(value)}`, 'error', { [key]: value });
  withMetadata('lotus.processing_resolution = 16384 (a default no budget fits)', 'error', { 'lotus.processing_resolution': '16384' });
  withMetadata('lotus.processing_resolution = 16384 with the caller\'s own resolution', 'result', { 'lotus.processing_resolution': '16384' }, { processingResolution: 64 });
  withMetadata('lotus.processing_resolution = 0 (native)', 'result', { 'lotus.processing_resolution': '0' });
  withMetadata('a 2 MiB user metadata value', 'result', { 'user.notes': 'x'.repeat(2 * 2 ** 20) });
  withMetadata('a 2 MiB lotus.source', 'error', { 'lotus.source': 'x'.repeat(2 * 2 ** 20) });
  withMetadata('10,000 metadata entries', 'result', Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, `v${i}`])));

  // Graph I/O that breaks the contract.
  const io: [string, Parameters<typeof onnxModel>[0]][] = [
    ['no prediction output', { inputs: [{ name: 'image' }], outputs: [{ name: 'out' }], nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['out'] }] }],
    ['int64 image input', { inputs: [{ name: 'image', elemType: 7 }], outputs: [{ name: 'prediction', elemType: 7 }], nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['prediction'] }] }],
    ['rank-3 image', { inputs: [{ name: 'image', dims: [3, 'H', 'W'] }], outputs: [{ name: 'prediction', dims: [3, 'H', 'W'] }], nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['prediction'] }] }],
    ['regression model with a noise input', { inputs: [{ name: 'image' }, { name: 'noise' }], outputs: [{ name: 'prediction' }], nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['prediction'] }] }],
    ['unknown operator', { inputs: [{ name: 'image' }], outputs: [{ name: 'prediction' }], nodes: [{ op: 'NoSuchOp', inputs: ['image'], outputs: ['prediction'] }] }],
    ['node output never produced', { inputs: [{ name: 'image' }], outputs: [{ name: 'prediction' }], nodes: [] }],
  ];
  for (const [name, spec] of io) {
    const p = file(`io-${cases.length}.onnx`, onnxModel({ ...spec, metadata: lotusMetadata() }));
    add('onnx graph', name, 'error', () => load(p));
  }

  // Not protobuf, or broken protobuf.
  const valid = identityLotusModel();
  const broken: [string, Buffer][] = [
    ['empty file', Buffer.alloc(0)],
    ['one byte', Buffer.from([8])],
    ['truncated in half', valid.subarray(0, valid.length >> 1)],
    ['truncated by one byte', valid.subarray(0, valid.length - 1)],
    ['a PNG', Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')],
    ['JSON', Buffer.from('{"ir_version": 8}')],
    ['a varint that never ends', Buffer.alloc(64, 0xff)],
    ['a length of 2^62', Buffer.concat([Buffer.from([7 * 8 + 2]), varint(2 ** 62)])],
    ['wire type 3 (groups)', Buffer.from([7 * 8 + 3, 0])],
    ['field number 0', Buffer.from([0, 0])],
    ['graph nested 100,000 deep', Buffer.concat([intField(1, 8), nestedGraph(100_000)])],
    ['random 4 KiB', crypto.randomBytes(4096)],
    ['valid model + trailing garbage', Buffer.concat([valid, crypto.randomBytes(100)])],
  ];
  for (const [name, bytes] of broken) {
    const p = file(`broken-${cases.length}.onnx`, bytes);
    add('onnx bytes', name, 'error', () => load(p));
  }
  add('onnx paths', 'missing file', 'error', () => load(path.join(dir, 'missing.onnx')));
  add('onnx paths', 'a directory', 'error', () => load(dir));
  add('onnx paths', 'modelPath 42', 'error', () => load(42 as never));
  if (process.platform === 'linux') {
    const fifo = path.join(dir, 'model-fifo.onnx');
    spawnSync('mkfifo', [fifo]);
    add('onnx paths', 'a FIFO', 'error', () => load(fifo));
    const zero = path.join(dir, 'model-zero.onnx');
    fs.symlinkSync('/dev/zero', zero);
    add('onnx paths', 'a symlink to /dev/zero', 'error', () => load(zero));
  }
  add('onnx paths', 'the tiny fixture', 'result', () => load(fixtureModel, { processingResolution: 64 }));

  // Options of createEstimator.
  const options: [string, Record<string, unknown>][] = [
    ['memoryBudget 0', { memoryBudget: 0 }], ['memoryBudget -1', { memoryBudget: -1 }], ['maxInputPixels 0', { maxInputPixels: 0 }],
    ['maxInputPixels 2^40', { maxInputPixels: 2 ** 40 }], ['inputFormats ["bmp"]', { inputFormats: ['bmp'] }], ['inputFormats []', { inputFormats: [] }],
    ['inputFormats "png"', { inputFormats: 'png' }], ['backend "gpu"', { backend: 'gpu' }], ['cpu.maxBatch 0', { cpu: { maxBatch: 0 } }],
    ['tensorrt.maxSize [1, 2, 3]', { tensorrt: { maxSize: [1, 2, 3] } }], ['processingResolution 1e9', { processingResolution: 1e9 }],
  ];
  for (const [name, value] of options) add('estimator options', name, 'error', () => load(fixtureModel, value));
  return cases;
}

/**
 * A graph `depth` subgraphs deep (graph > node > attribute > g > graph ...): a stack-depth attack on
 * recursive parsers. Built inside out in O(depth): each level is three tag + length prefixes.
 */
export function nestedGraph(depth: number): Buffer {
  const prefixes: Buffer[] = [];
  let length = 0;
  for (let i = 0; i < depth; i++) {
    for (const field of [6, 5, 1]) { // attribute.g, node.attribute, graph.node
      const prefix = Buffer.concat([varint(field * 8 + 2), varint(length)]);
      prefixes.push(prefix);
      length += prefix.length;
    }
  }
  return Buffer.concat([varint(7 * 8 + 2), varint(length), ...prefixes.reverse()]);
}

const environment: EngineEnvironment = {
  pluginVersion: '11.1.0', libraryVersion: '11.1.0', gpuName: 'Replay GPU', computeCapability: [9, 0], multiProcessorCount: 132, cudaRuntimeMajor: 13,
};
const settings: EngineBuildSettings = {
  profiles: [{ input: 'image', min: [1, 3, 256, 256], opt: [1, 3, 576, 768], max: [1, 3, 1024, 1024] }],
  lanes: 2, workspaceBytes: 0, optimizationLevel: 3, fp16: true,
};

/** An ONNX graph whose one initializer lives in the external file `location`. */
function externalModel(location: string): Buffer {
  const entry = (key: string, value: string) => bytesField(13, Buffer.concat([bytesField(1, key), bytesField(2, value)]));
  const tensor = Buffer.concat([intField(1, 4), intField(2, 1), bytesField(8, 'w'), entry('location', location), intField(14, 1)]);
  return Buffer.concat([intField(1, 8), bytesField(7, Buffer.concat([bytesField(2, 'g'), bytesField(5, tensor)]))]);
}

export function cacheCases(root: string): Case[] {
  const cases: Case[] = [];
  const add = (name: string, expect: Expectation, run: () => Promise<unknown>) => cases.push({ group: 'engine cache', name, expect, run });
  let n = 0;
  const modelDir = (weights: (dir: string) => void, location = 'weights.bin') => {
    const dir = path.join(root, `cache-case-${++n}`);
    fs.mkdirSync(dir);
    const onnx = path.join(dir, 'model.onnx');
    fs.writeFileSync(onnx, externalModel(location));
    weights(dir);
    return { dir, onnx };
  };
  const regular = (dir: string) => fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(64, 1));

  /** obtain() the way the TensorRT backend does (onCacheUnusable: warn and go on uncached). */
  const obtain = async (cacheDir: string, onnx: string, sabotage: (cacheDir: string, key: string) => void, withFallback: boolean) => {
    clearOnnxHashMemo();
    const probe = new EngineCache(cacheDir);
    const { key, onnx: digest } = await probe.key(onnx, environment, settings);
    sabotage(cacheDir, key);
    const cache = new EngineCache(cacheDir, { pollMs: 10, timeoutMs: 500 });
    const request = { key, onnx: digest, environment, settings, build: async () => Buffer.from('plan'), load: (plan: Buffer) => plan.toString() };
    const result = await cache.obtain(withFallback ? { ...request, onCacheUnusable: () => undefined } : request);
    if (result.value !== 'plan') throw new Error('wrong plan');
  };
  const sabotages: [string, (cacheDir: string, key: string) => void][] = [
    ['cache folder is a file', (c) => { fs.rmSync(c, { recursive: true, force: true }); fs.writeFileSync(c, 'x'); }],
    ['sidecar is a directory', (c, k) => fs.mkdirSync(path.join(c, `${k}.json`), { recursive: true })],
    ['lock path is a directory', (c, k) => fs.mkdirSync(path.join(c, `${k}.lock`), { recursive: true })],
    ['plan is a directory', (c, k) => fs.mkdirSync(path.join(c, `${k}.plan`, 'x'), { recursive: true })],
    ['sidecar is garbage', (c, k) => { fs.mkdirSync(c, { recursive: true }); fs.writeFileSync(path.join(c, `${k}.json`), '{not json'); }],
    ['plan without sidecar', (c, k) => { fs.mkdirSync(c, { recursive: true }); fs.writeFileSync(path.join(c, `${k}.plan`), 'stale'); }],
    ['lock held by a live process elsewhere', (c, k) => {
      fs.mkdirSync(c, { recursive: true });
      fs.writeFileSync(path.join(c, `${k}.lock`), JSON.stringify({ pid: 1, host: 'another-host', token: 't' }));
    }],
  ];
  for (const [name, sabotage] of sabotages) {
    add(`${name}: TensorRT goes on uncached`, 'result', () => {
      const { dir, onnx } = modelDir(regular);
      return obtain(path.join(dir, 'cache'), onnx, sabotage, true);
    });
    add(`${name}: without a fallback`, 'either', () => {
      const { dir, onnx } = modelDir(regular);
      return obtain(path.join(dir, 'cache'), onnx, sabotage, false);
    });
  }
  if (process.platform === 'linux') {
    add('unwritable cache folder (/sys/kernel)', 'result', async () => {
      const { onnx } = modelDir(regular);
      await obtain('/sys/kernel/lotus-replay-cache', onnx, () => undefined, true);
    });
    add('external data: symlink to /dev/zero', 'error', () => hashOnnx(modelDir((d) => fs.symlinkSync('/dev/zero', path.join(d, 'weights.bin'))).onnx));
    add('external data: a FIFO', 'error', () => hashOnnx(modelDir((d) => spawnSync('mkfifo', [path.join(d, 'weights.bin')])).onnx));
  }
  add('external data: symlink escaping the folder', 'error', () => {
    const outside = path.join(root, `outside-${n}.bin`);
    fs.writeFileSync(outside, 'x');
    return hashOnnx(modelDir((d) => fs.symlinkSync(outside, path.join(d, 'weights.bin'))).onnx);
  });
  add('external data: ../ location', 'error', () => hashOnnx(modelDir(regular, '../weights.bin').onnx));
  add('external data: absolute location', 'error', () => hashOnnx(modelDir(regular, '/etc/passwd').onnx));
  add('external data: missing', 'error', () => hashOnnx(modelDir(() => undefined).onnx));
  add('external data: a directory', 'error', () => hashOnnx(modelDir((d) => fs.mkdirSync(path.join(d, 'weights.bin'))).onnx));
  add('external data: regular file', 'result', () => hashOnnx(modelDir(regular).onnx));
  add('subgraphs nested 100,000 deep', 'error', () => {
    const dir = path.join(root, `cache-case-${++n}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'model.onnx'), Buffer.concat([intField(1, 8), nestedGraph(100_000)]));
    return hashOnnx(path.join(dir, 'model.onnx'));
  });
  return cases;
}
