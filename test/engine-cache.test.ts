// Engine cache: key, ONNX digest memo, sidecar verification, corruption, atomic writes, locks.
// Real files in a temp dir; no GPU or TensorRT needed (plans here are arbitrary bytes).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  canonicalJson,
  clearOnnxHashMemo,
  EngineCache,
  engineCacheKey,
  type EngineBuildSettings,
  type EngineEnvironment,
  hashOnnx,
} from '../lib/cache/engine-cache';
import { acquireLock } from '../lib/cache/file-lock';
import { writeFileAtomic } from '../lib/io/atomic-file';
import type { DeviceInfo, DeviceProperties, TensorRTInfo } from '../lib/addon/info';
import { environmentFor } from '../lib/backends/tensorrt';
import { externalDataFiles } from '../lib/model/external-data';

// ---- a minimal ONNX protobuf writer: enough for a graph whose initializers live in external files ----
function varint(value: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0);
  return Buffer.from(bytes);
}
const field = (number: number, payload: Buffer) => Buffer.concat([varint(number * 8 + 2), varint(payload.length), payload]);
const intField = (number: number, value: number) => Buffer.concat([varint(number * 8), varint(value)]);
const text = (value: string) => Buffer.from(value, 'utf8');

function externalTensor(name: string, location: string, rawBytes = 0): Buffer {
  return Buffer.concat([
    intField(1, 4), // dims
    intField(2, 1), // data_type FLOAT
    field(8, text(name)),
    ...(rawBytes ? [field(9, Buffer.alloc(rawBytes, 7))] : []), // raw_data, skipped by the scanner
    field(13, Buffer.concat([field(1, text('location')), field(2, text(location))])),
    field(13, Buffer.concat([field(1, text('offset')), field(2, text('0'))])),
    intField(14, 1), // data_location EXTERNAL
  ]);
}

function onnxModel(locations: string[], extra = ''): Buffer {
  const graph = Buffer.concat([
    field(1, Buffer.concat([field(1, text('image')), field(2, text('prediction')), field(4, text('Identity'))])),
    field(2, text(`graph${extra}`)),
    ...locations.map((location, i) => field(5, externalTensor(`w${i}`, location, i === 0 ? 100_000 : 0))),
  ]);
  return Buffer.concat([intField(1, 8), field(7, graph)]);
}

const environment: EngineEnvironment = {
  pluginVersion: '11.1.0',
  libraryVersion: '11.1.0',
  gpuName: 'NVIDIA H100 80GB HBM3',
  multiProcessorCount: 132,
  computeCapability: [9, 0],
  cudaRuntimeMajor: 13,
};

const settings: EngineBuildSettings = {
  profiles: [{ input: 'image', min: [1, 3, 256, 256], opt: [1, 3, 576, 768], max: [1, 3, 1024, 1024] }],
  lanes: 2,
  workspaceBytes: 0,
  optimizationLevel: 3,
  fp16: true,
};

let dir: string;
let onnxPath: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-engine-cache-'));
  onnxPath = path.join(dir, 'model.onnx');
  fs.writeFileSync(onnxPath, onnxModel(['weights.bin', 'more/weights2.bin', 'weights.bin']));
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(4096, 1));
  fs.mkdirSync(path.join(dir, 'more'));
  fs.writeFileSync(path.join(dir, 'more', 'weights2.bin'), Buffer.alloc(1024, 2));
  clearOnnxHashMemo();
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function keyOf(env = environment, s = settings): Promise<string> {
  const { digest } = await hashOnnx(onnxPath);
  return engineCacheKey(digest, env, s);
}

describe('external data discovery', () => {
  it('lists each referenced file once, resolved next to the model, skipping raw payloads', () => {
    expect(externalDataFiles(onnxPath)).toEqual([path.join(dir, 'more', 'weights2.bin'), path.join(dir, 'weights.bin')]);
  });

  it('returns nothing for a model without external data', () => {
    fs.writeFileSync(onnxPath, onnxModel([]));
    expect(externalDataFiles(onnxPath)).toEqual([]);
  });

  it('refuses locations outside the model directory', () => {
    fs.writeFileSync(onnxPath, onnxModel(['../escape.bin']));
    expect(() => externalDataFiles(onnxPath)).toThrow(/outside/);
  });

  it('rejects a file that is not a protobuf', () => {
    fs.writeFileSync(onnxPath, 'this is not an onnx model, just text that happens to be here');
    expect(() => externalDataFiles(onnxPath)).toThrow();
  });
});

describe('cache key', () => {
  it('is stable for the same inputs and independent of key order', async () => {
    const a = await keyOf();
    clearOnnxHashMemo();
    const reordered = { fp16: true, optimizationLevel: 3, workspaceBytes: 0, lanes: 2, profiles: settings.profiles };
    expect(await keyOf(environment, reordered)).toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(canonicalJson({ b: 1, a: [1, { d: 2, c: undefined }] })).toBe('{"a":[1,{"d":2}],"b":1}');
  });

  it('changes when any input changes', async () => {
    const base = await keyOf();
    const variants: [string, EngineEnvironment, EngineBuildSettings][] = [
      ['pluginVersion', { ...environment, pluginVersion: '10.16.0' }, settings],
      ['libraryVersion', { ...environment, libraryVersion: '11.1.1' }, settings],
      ['gpuName', { ...environment, gpuName: 'NVIDIA L4' }, settings],
      ['multiProcessorCount', { ...environment, multiProcessorCount: 114 }, settings],
      ['computeCapability', { ...environment, computeCapability: [8, 9] }, settings],
      ['cudaRuntimeMajor', { ...environment, cudaRuntimeMajor: 12 }, settings],
      ['lanes', environment, { ...settings, lanes: 3 }],
      ['workspaceBytes', environment, { ...settings, workspaceBytes: 1 << 30 }],
      ['optimizationLevel', environment, { ...settings, optimizationLevel: 5 }],
      ['fp16', environment, { ...settings, fp16: false }],
      ['profiles', environment, { ...settings, profiles: [{ ...settings.profiles[0], max: [1, 3, 1024, 1032] }] }],
    ];
    const keys = new Set([base]);
    for (const [name, env, s] of variants) {
      const key = await keyOf(env, s);
      expect(key, name).not.toBe(base);
      keys.add(key);
    }
    expect(keys.size).toBe(variants.length + 1);

    // ONNX bytes, then external data bytes (same size: only the content differs).
    fs.writeFileSync(onnxPath, onnxModel(['weights.bin', 'more/weights2.bin'], 'x'));
    const onnxChanged = await keyOf();
    expect(onnxChanged).not.toBe(base);
    fs.writeFileSync(path.join(dir, 'more', 'weights2.bin'), Buffer.alloc(1024, 3));
    const dataChanged = await keyOf();
    expect(dataChanged).not.toBe(onnxChanged);
  });
});

describe('ONNX digest memo', () => {
  it('reuses the digest while files are unchanged and re-hashes after any change', async () => {
    const memoDir = path.join(dir, 'memo');
    const first = await hashOnnx(onnxPath, memoDir);
    expect(first.memoized).toBe(false);
    expect(first.digest.files.map((f) => path.basename(f.path))).toEqual(['model.onnx', 'weights2.bin', 'weights.bin']);
    const second = await hashOnnx(onnxPath, memoDir);
    expect(second).toEqual({ digest: first.digest, memoized: true });

    // A new process has an empty memory memo: the on-disk memo answers.
    clearOnnxHashMemo();
    expect((await hashOnnx(onnxPath, memoDir)).memoized).toBe(true);

    // Same size, mtime restored: the inode/ctime still reveal the rewrite of the external data.
    const weights = path.join(dir, 'weights.bin');
    const { atime, mtime } = fs.statSync(weights);
    fs.writeFileSync(weights, Buffer.alloc(4096, 9));
    fs.utimesSync(weights, atime, mtime);
    const third = await hashOnnx(onnxPath, memoDir);
    expect(third.memoized).toBe(false);
    expect(third.digest.sha256).not.toBe(first.digest.sha256);
  });
});

describe('EngineCache storage', () => {
  it('round-trips a plan with its sidecar', async () => {
    const cache = new EngineCache(path.join(dir, 'cache'));
    const { key, onnx } = await cache.key(onnxPath, environment, settings);
    expect(await cache.read(key)).toEqual({});
    const plan = Buffer.from('plan bytes '.repeat(1000));
    await cache.write(key, plan, { onnx, environment, settings });
    const read = await cache.read(key);
    expect(read.plan?.equals(plan)).toBe(true);
    expect(read.sidecar).toMatchObject({ key, planSize: plan.length, environment, settings, onnx });
    expect(fs.readdirSync(cache.dir).sort()).toEqual([`${key}.json`, `${key}.plan`, 'onnx-hash'].sort());
  });

  it('detects a corrupt plan (same size, one byte flipped) and removes the entry', async () => {
    const cache = new EngineCache(path.join(dir, 'cache'));
    const { key, onnx } = await cache.key(onnxPath, environment, settings);
    await cache.write(key, Buffer.alloc(2048, 5), { onnx, environment, settings });
    const bytes = fs.readFileSync(cache.planPath(key));
    bytes[1000] ^= 0xff;
    fs.writeFileSync(cache.planPath(key), bytes);
    const read = await cache.read(key);
    expect(read.plan).toBeUndefined();
    expect(read.rejected).toMatch(/sha256/);
    expect(fs.existsSync(cache.planPath(key))).toBe(false);
    expect(fs.existsSync(cache.sidecarPath(key))).toBe(false);
  });

  it('rejects truncated plans, bad sidecars and plans without sidecars', async () => {
    const cache = new EngineCache(path.join(dir, 'cache'));
    const { key, onnx } = await cache.key(onnxPath, environment, settings);
    const facts = { onnx, environment, settings };

    await cache.write(key, Buffer.alloc(100, 1), facts);
    fs.truncateSync(cache.planPath(key), 50);
    expect((await cache.read(key)).rejected).toMatch(/size/);

    await cache.write(key, Buffer.alloc(100, 1), facts);
    fs.writeFileSync(cache.sidecarPath(key), '{ not json');
    expect((await cache.read(key)).rejected).toMatch(/JSON/);

    await cache.write(key, Buffer.alloc(100, 1), facts);
    const sidecar = JSON.parse(fs.readFileSync(cache.sidecarPath(key), 'utf8'));
    fs.writeFileSync(cache.sidecarPath(key), JSON.stringify({ ...sidecar, key: 'f'.repeat(64) }));
    expect((await cache.read(key)).rejected).toMatch(/key/);

    await cache.write(key, Buffer.alloc(100, 1), facts);
    fs.rmSync(cache.sidecarPath(key));
    expect((await cache.read(key)).rejected).toMatch(/without sidecar/);
    expect(fs.existsSync(cache.planPath(key))).toBe(false);
  });

  it('issue 12 item 17: every GPU of one model shares one key (an 8-GPU machine builds once); another model or SM count does not', async () => {
    const trt: TensorRTInfo = {
      available: true, reason: null, pluginPath: '/x/lotus_tensorrt11.so', compiledVersion: '11.1.0', libraryVersion: '11.1.0',
      onnxParser: { available: true, reason: null }, pluginLibrary: { available: true, reason: null },
    };
    const gpu = (index: number, name = 'NVIDIA H100 80GB HBM3', multiProcessorCount = 132): DeviceProperties => ({
      index, name, uuid: `GPU-${String(index).padStart(8, '0')}-1111-2222-3333-444444444444`,
      computeCapability: [9, 0], totalMemory: 80 * 2 ** 30, multiProcessorCount,
    });
    const machine = (devices: DeviceProperties[]): DeviceInfo => ({
      cudaRuntimeVersion: 13000, cudaDriverVersion: 13000, driverRelease: '580.65.06',
      requiredDriver: { cudaVersion: 13000, release: '580.65.06' }, usable: true, reason: null, devices,
    });
    const eight = machine([0, 1, 2, 3, 4, 5, 6, 7].map((i) => gpu(i)));
    const keys = new Set<string>();
    for (let device = 0; device < 8; device++) keys.add(await keyOf(environmentFor(trt, eight, device)));
    // Before: the environment held each GPU's UUID, so eight keys, eight builds of one engine.
    expect(keys.size).toBe(1);
    expect(environmentFor(trt, eight, 3)).not.toHaveProperty('gpuUuid');

    const mixed = machine([gpu(0), gpu(1, 'NVIDIA H100 80GB HBM3', 114), gpu(2, 'NVIDIA L4', 58)]);
    const mixedKeys = [0, 1, 2].map((device) => keyOf(environmentFor(trt, mixed, device)));
    expect(new Set([...keys, ...(await Promise.all(mixedKeys))]).size).toBe(3);
  });

  it('names the timing cache by GPU model and TensorRT version', () => {
    const cache = new EngineCache(dir);
    expect(path.basename(cache.timingCachePath(environment))).toBe('timing-NVIDIA_H100_80GB_HBM3-sm90-trt11.1.0.cache');
  });
});

describe('EngineCache.obtain', () => {
  it('builds on a miss, serves the cache after, and rebuilds a plan TensorRT refuses', async () => {
    const cache = new EngineCache(path.join(dir, 'cache'));
    const { key, onnx } = await cache.key(onnxPath, environment, settings);
    let builds = 0;
    let refuse = false;
    const rejected: string[] = [];
    const request = {
      key,
      onnx,
      environment,
      settings,
      build: async () => Buffer.from(`plan #${++builds}`),
      load: (plan: Buffer) => {
        if (refuse) {
          refuse = false;
          throw Object.assign(new Error('deserialize failed: Serialization assertion failed'), { code: 'ERR_LOTUS_TENSORRT' });
        }
        return plan.toString();
      },
      onRejected: (reason: string) => rejected.push(reason),
    };
    expect(await cache.obtain(request)).toEqual({ value: 'plan #1', source: 'built' });
    expect(await cache.obtain(request)).toEqual({ value: 'plan #1', source: 'cache' });
    expect(builds).toBe(1);

    refuse = true;
    expect(await cache.obtain(request)).toEqual({ value: 'plan #2', source: 'built' });
    expect(rejected).toEqual(['deserialize failed: Serialization assertion failed']);
    expect(builds).toBe(2);

    // Other load errors are not a reason to throw the plan away.
    await expect(cache.obtain({ ...request, load: () => { throw new Error('out of memory'); } })).rejects.toThrow('out of memory');
    expect(fs.existsSync(cache.planPath(key))).toBe(true);
  });

  it('builds once when two callers want the same engine at the same time', async () => {
    const cache = new EngineCache(path.join(dir, 'cache'), { pollMs: 10 });
    const { key, onnx } = await cache.key(onnxPath, environment, settings);
    let builds = 0;
    const request = {
      key,
      onnx,
      environment,
      settings,
      build: async () => {
        builds++;
        await new Promise((resolve) => setTimeout(resolve, 200));
        return Buffer.from('the plan');
      },
      load: (plan: Buffer) => plan.toString(),
    };
    const results = await Promise.all([cache.obtain(request), cache.obtain(request), cache.obtain(request)]);
    expect(builds).toBe(1);
    expect(results.map((r) => r.source).sort()).toEqual(['built', 'cache', 'cache']);
    expect(fs.existsSync(cache.lockPath(key))).toBe(false);
  });

  it('does not cache a failed build and releases the lock', async () => {
    const cache = new EngineCache(path.join(dir, 'cache'));
    const { key, onnx } = await cache.key(onnxPath, environment, settings);
    const failing = { key, onnx, environment, settings, build: async (): Promise<Buffer> => { throw new Error('parse failed'); }, load: (p: Buffer) => p };
    await expect(cache.obtain(failing)).rejects.toThrow('parse failed');
    expect(fs.existsSync(cache.planPath(key))).toBe(false);
    expect(fs.existsSync(cache.lockPath(key))).toBe(false);
  });
});

describe('atomic writes and locks', () => {
  it('replaces a file by rename: an open reader keeps the old bytes, no temp file is left', async () => {
    const target = path.join(dir, 'out.bin');
    fs.writeFileSync(target, 'old content');
    const fd = fs.openSync(target, 'r');
    await writeFileAtomic(target, Buffer.from('new content, longer'));
    const old = Buffer.alloc(64);
    const n = fs.readSync(fd, old, 0, 64, 0);
    fs.closeSync(fd);
    expect(old.subarray(0, n).toString()).toBe('old content');
    expect(fs.readFileSync(target, 'utf8')).toBe('new content, longer');
    expect(fs.readdirSync(dir).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });

  it('excludes a second holder until release, and times out while held', async () => {
    const lockPath = path.join(dir, 'x.lock');
    const first = await acquireLock(lockPath, { pollMs: 10 });
    await expect(acquireLock(lockPath, { pollMs: 10, timeoutMs: 150 })).rejects.toThrow(/timed out/);
    const waiting = acquireLock(lockPath, { pollMs: 10, timeoutMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await first.release();
    const second = await waiting;
    expect(JSON.parse(fs.readFileSync(lockPath, 'utf8')).pid).toBe(process.pid);
    await second.release();
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  it('breaks a lock whose holder process died, and one nobody refreshed for staleMs', async () => {
    const lockPath = path.join(dir, 'y.lock');
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(child.stdout.toString());
    fs.writeFileSync(lockPath, JSON.stringify({ pid: deadPid, host: os.hostname(), token: 'dead' }));
    const lock = await acquireLock(lockPath, { pollMs: 10, timeoutMs: 2000 });
    await lock.release();

    fs.writeFileSync(lockPath, JSON.stringify({ pid: process.ppid, host: 'another-host', token: 'old' }));
    const old = new Date(Date.now() - 10_000);
    fs.utimesSync(lockPath, old, old);
    const again = await acquireLock(lockPath, { pollMs: 10, timeoutMs: 2000, staleMs: 5000 });
    await again.release();
  });

  it('keeps a held lock fresh with its heartbeat', async () => {
    const lockPath = path.join(dir, 'z.lock');
    const held = await acquireLock(lockPath, { staleMs: 200, heartbeatMs: 40 });
    await new Promise((resolve) => setTimeout(resolve, 400));
    // Older than staleMs since creation, but refreshed: a waiter must still time out.
    await expect(acquireLock(lockPath, { staleMs: 200, pollMs: 10, timeoutMs: 150 })).rejects.toThrow(/timed out/);
    await held.release();
  });
});
