// Regression tests of the adversarial review's engine-cache and exit findings (issue 12, items 5,
// 6, 9): real files, a real child process; the TensorRT build itself is in test/gpu/tensorrt.test.ts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { clearOnnxHashMemo, EngineCache, hashOnnx, type EngineBuildSettings, type EngineEnvironment } from '../lib/cache/engine-cache';
import { EngineCacheError, ModelError } from '../lib/errors';
import { externalDataFiles } from '../lib/model/external-data';
import { bytesField, intField } from './helpers/onnx-writer';
import { nestedGraph } from './adversarial/model-cases';
import { tempFolder } from './helpers/temp-folder';

const { dir: root } = tempFolder('lotus-hardening-cache-');

/** An ONNX graph whose one initializer lives in the external file `location`. */
function modelWithExternalData(location: string): Buffer {
  const entry = (key: string, value: string) => bytesField(13, Buffer.concat([bytesField(1, key), bytesField(2, value)]));
  const tensor = Buffer.concat([intField(1, 4), intField(2, 1), bytesField(8, 'w'), entry('location', location), entry('offset', '0'), intField(14, 1)]);
  const graph = Buffer.concat([bytesField(2, 'g'), bytesField(5, tensor)]);
  return Buffer.concat([intField(1, 8), bytesField(7, graph)]);
}

const environment: EngineEnvironment = {
  pluginVersion: '11.1.0', libraryVersion: '11.1.0', gpuName: 'Test GPU', computeCapability: [9, 0], multiProcessorCount: 132, cudaRuntimeMajor: 13,
};
const settings: EngineBuildSettings = {
  profiles: [{ input: 'image', min: [1, 3, 256, 256], opt: [1, 3, 576, 768], max: [1, 3, 1024, 1024] }],
  lanes: 2, workspaceBytes: 0, optimizationLevel: 3, fp16: true,
};

let dir: string;
let onnxPath: string;
let counter = 0;
beforeEach(() => {
  dir = path.join(root, `case-${++counter}`);
  fs.mkdirSync(dir);
  onnxPath = path.join(dir, 'model.onnx');
  fs.writeFileSync(onnxPath, modelWithExternalData('weights.bin'));
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(64, 1));
  clearOnnxHashMemo();
});

/** Settles within `ms` or fails (a hang would otherwise stall the suite). */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

describe('item 5: external data is hashed by real path, regular files inside the folder only', () => {
  it.runIf(process.platform === 'linux')('a symlink to /dev/zero -> ModelError at once (hashing it never ended)', async () => {
    fs.rmSync(path.join(dir, 'weights.bin'));
    fs.symlinkSync('/dev/zero', path.join(dir, 'weights.bin'));
    await expect(within(5000, hashOnnx(onnxPath))).rejects.toThrow(ModelError);
    await expect(within(5000, hashOnnx(onnxPath))).rejects.toThrow(/leads outside .* \(to \/dev\/zero\) through a symlink/);
  });

  it.runIf(process.platform === 'linux')('a FIFO as external data inside the folder -> ModelError, not a hang', async () => {
    fs.rmSync(path.join(dir, 'weights.bin'));
    spawnSync('mkfifo', [path.join(dir, 'weights.bin')]);
    await expect(within(5000, hashOnnx(onnxPath))).rejects.toThrow(/"weights\.bin" is a FIFO \(named pipe\) or pipe, not a regular file/);
  });

  it('a symlink escaping the model folder -> ModelError (onnxruntime refuses it too)', () => {
    const outside = path.join(root, `outside-${counter}.bin`);
    fs.writeFileSync(outside, Buffer.alloc(64, 2));
    fs.rmSync(path.join(dir, 'weights.bin'));
    fs.symlinkSync(outside, path.join(dir, 'weights.bin'));
    expect(() => externalDataFiles(onnxPath)).toThrow(ModelError);
    expect(() => externalDataFiles(onnxPath)).toThrow(/leads outside .* through a symlink/);
  });

  it('subgraphs nested 100,000 deep -> ModelError (the recursive scan overflowed the stack)', () => {
    fs.writeFileSync(onnxPath, Buffer.concat([intField(1, 8), nestedGraph(100_000)]));
    expect(() => externalDataFiles(onnxPath)).toThrow(ModelError);
    expect(() => externalDataFiles(onnxPath)).toThrow(/nested deeper than 32/);
  });

  it('a symlink inside the folder is followed to its real path', () => {
    fs.renameSync(path.join(dir, 'weights.bin'), path.join(dir, 'real-weights.bin'));
    fs.symlinkSync('real-weights.bin', path.join(dir, 'weights.bin'));
    expect(externalDataFiles(onnxPath)).toEqual([fs.realpathSync(path.join(dir, 'real-weights.bin'))]);
  });

  it.runIf(process.platform === 'linux')('a FIFO as the model -> ModelError, not a hang', async () => {
    const fifo = path.join(dir, 'fifo.onnx');
    spawnSync('mkfifo', [fifo]);
    await expect(within(5000, hashOnnx(fifo))).rejects.toThrow(/FIFO.*not a regular file/);
  });
});

describe('item 9: engine-cache failures are typed, and an unusable cache does not stop TensorRT', () => {
  const request = async (cache: EngineCache, events: string[]) => {
    const { key, onnx } = await cache.key(onnxPath, environment, settings);
    return {
      key,
      onnx,
      environment,
      settings,
      build: async () => {
        events.push('build');
        return Buffer.from('plan');
      },
      load: (plan: Buffer) => plan.toString(),
      onCacheUnusable: (error: EngineCacheError) => events.push(`unusable: ${error.code}`),
    };
  };

  const sabotage: [string, (cacheDir: string, key: string) => void][] = [
    ['the cache folder is a file', (cacheDir) => {
      fs.rmSync(cacheDir, { recursive: true, force: true });
      fs.writeFileSync(cacheDir, 'not a folder');
    }],
    ['a sidecar is a directory', (cacheDir, key) => fs.mkdirSync(path.join(cacheDir, `${key}.json`), { recursive: true })],
    ['a lock path is a directory', (cacheDir, key) => fs.mkdirSync(path.join(cacheDir, `${key}.lock`), { recursive: true })],
    ['the plan path is a directory', (cacheDir, key) => fs.mkdirSync(path.join(cacheDir, `${key}.plan`, 'x'), { recursive: true })],
  ];

  it.each(sabotage)('%s: built and loaded uncached, the failure reported as EngineCacheError', async (_, breakIt) => {
    const cacheDir = path.join(dir, 'cache');
    const events: string[] = [];
    const probe = new EngineCache(cacheDir);
    const { key } = await probe.key(onnxPath, environment, settings);
    breakIt(cacheDir, key);
    const cache = new EngineCache(cacheDir, { pollMs: 10, timeoutMs: 2000 });
    const result = await within(10_000, cache.obtain(await request(cache, events)));
    expect(result.value).toBe('plan');
    expect(events).toContain('build');
    expect(events).toContain('unusable: ERR_LOTUS_ENGINE_CACHE');
  });

  it.each(sabotage)('%s: without onCacheUnusable obtain() rejects with EngineCacheError naming the path', async (_, breakIt) => {
    const cacheDir = path.join(dir, 'cache');
    const probe = new EngineCache(cacheDir);
    const { key } = await probe.key(onnxPath, environment, settings);
    breakIt(cacheDir, key);
    const cache = new EngineCache(cacheDir, { pollMs: 10, timeoutMs: 2000 });
    const { onCacheUnusable: _unused, ...plain } = await request(cache, []);
    const error = await within(10_000, cache.obtain(plain).then(() => undefined, (e: unknown) => e));
    expect(error).toBeInstanceOf(EngineCacheError);
    expect((error as EngineCacheError).path.startsWith(cacheDir)).toBe(true);
    expect((error as Error).message).toMatch(/^engine cache: cannot /);
  });

  it('a lock held by a live process past timeoutMs -> EngineCacheError, and the uncached build still runs', async () => {
    const cacheDir = path.join(dir, 'cache');
    const cache = new EngineCache(cacheDir, { pollMs: 10, timeoutMs: 200 });
    const req = await request(cache, []);
    fs.mkdirSync(cacheDir, { recursive: true });
    fs.writeFileSync(cache.lockPath(req.key), JSON.stringify({ pid: process.pid === 1 ? 2 : 1, host: 'another-host', token: 'x' }));
    const events: string[] = [];
    const result = await within(10_000, cache.obtain({ ...req, onCacheUnusable: (e) => events.push(e.message) }));
    expect(result.value).toBe('plan');
    expect(events[0]).toMatch(/cannot lock .*timed out waiting for lock/);
  });

  it.runIf(process.platform === 'linux')('an unwritable cache folder: checkWritable() says so (lotus build fails with it)', async () => {
    // /sys/kernel refuses new entries even to root.
    await expect(new EngineCache('/sys/kernel/lotus-cache').checkWritable()).rejects.toThrow(EngineCacheError);
    await expect(new EngineCache(path.join(dir, 'fine')).checkWritable()).resolves.toBeUndefined();
  });
});

describe('item 6: process.exit() cancels engine builds in flight', () => {
  it('the exit handler cancels every tracked build (through its cancel(), as the progress monitor polls)', () => {
    const script = `
      const { trackBuild, activeBuildCount } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'backends', 'active-builds.js'))});
      const fs = require('fs');
      const marker = ${JSON.stringify(path.join(root, 'cancelled.txt'))};
      trackBuild({ cancel: () => fs.appendFileSync(marker, 'a') });
      const done = trackBuild({ cancel: () => fs.appendFileSync(marker, 'b') });
      trackBuild({ cancel: () => { throw new Error('one failing cancel does not stop the others'); } });
      trackBuild({ cancel: () => fs.appendFileSync(marker, 'c') });
      done();
      console.log(activeBuildCount());
      process.exit(0);`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(child.status).toBe(0);
    expect(child.stdout.trim()).toBe('3');
    expect(fs.readFileSync(path.join(root, 'cancelled.txt'), 'utf8')).toBe('ac');
  });
});
