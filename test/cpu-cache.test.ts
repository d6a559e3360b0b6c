// The CPU backend's optimised-model cache: cold (optimise + cache) then warm (load the cache) on a
// real Lotus-shaped graph (the tiny G fixture, forced through the cache), identical predictions,
// rejection of corrupt entries, and the fall-back when the cache folder is unusable.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCpuSession, type CpuSessionOptions } from '../lib/backends/cpu-session';
import type { OnnxDigest } from '../lib/cache/engine-cache';
import {
  OPTIMIZED_DATA_FILE,
  OPTIMIZED_MODEL_FILE,
  OptimizedModelCache,
  optimizedModelEnvironment,
  optimizedModelKey,
} from '../lib/cache/optimized-model-cache';
import { createEstimator } from '../lib/index';
import { readModelInfo } from '../lib/model/metadata';
import { fixturesDir } from './helpers/fixtures';
import { tempFolder } from './helpers/temp-folder';

const { dir } = tempFolder('lotus-cpu-cache-');
const fixture = path.join(fixturesDir, 'tiny-depth-g.onnx');
const model = readModelInfo(fixture);
const image = { data: Uint8Array.from({ length: 40 * 24 * 3 }, (_, i) => (i * 37) % 256), width: 40, height: 24, channels: 3 as const };

function options(cacheDir: string, warnings: string[] = []): CpuSessionOptions {
  return { arena: false, prepack: true, cache: true, cacheDir, onWarning: (m) => warnings.push(m) };
}

async function sourceOf(cacheDir: string, warnings: string[] = []) {
  const { session, source } = await createCpuSession(model, options(cacheDir, warnings));
  await session.release();
  return source;
}

function onlyEntry(cacheDir: string): string {
  const cpu = path.join(cacheDir, 'cpu');
  const entries = fs.readdirSync(cpu).filter((name) => fs.statSync(path.join(cpu, name)).isDirectory());
  expect(entries).toHaveLength(1);
  return path.join(cpu, entries[0]!);
}

async function depth(cpu: Record<string, unknown>): Promise<Float32Array> {
  const estimator = await createEstimator(fixture, { backend: 'cpu', processingResolution: 0, cpu });
  try {
    return (await estimator.estimate(image, { seed: 3 })).data as Float32Array;
  } finally {
    await estimator.close();
  }
}

describe('optimised-model cache (CPU backend)', () => {
  it('optimises and caches on the first load, loads the cache after; predictions are identical to a direct load', async () => {
    const cacheDir = path.join(dir, 'a');
    expect(await sourceOf(cacheDir)).toBe('optimized');
    const entry = onlyEntry(cacheDir);
    expect(fs.existsSync(path.join(entry, OPTIMIZED_MODEL_FILE))).toBe(true);
    expect(fs.existsSync(path.join(entry, OPTIMIZED_DATA_FILE))).toBe(true);
    const sidecar = JSON.parse(fs.readFileSync(`${entry}.json`, 'utf8'));
    expect(sidecar.key).toBe(path.basename(entry));
    expect(sidecar.environment.optimizationLevel).toBe('all');
    expect(fs.readdirSync(path.join(cacheDir, 'onnx-hash'))).toHaveLength(1); // the engine cache's digest memo
    expect(await sourceOf(cacheDir)).toBe('cache');

    const cached = await depth({ cache: true, cacheDir });
    const direct = await depth({ cache: false });
    const previous = await depth({ cache: false, arena: true, prepack: true }); // the settings before the cache
    expect(cached).toEqual(direct);
    // Pre-packed MatMul weights sum in another order: last-bit differences only.
    expect(Math.max(...cached.map((v, i) => Math.abs(v - previous[i]!)))).toBeLessThan(1e-5);
  });

  it('small models skip the cache unless asked', async () => {
    const cacheDir = path.join(dir, 'small');
    const { session, source } = await createCpuSession(model, { ...options(cacheDir), cache: undefined });
    await session.release();
    expect(source).toBe('direct');
    expect(fs.existsSync(cacheDir)).toBe(false);
  });

  it('a truncated entry is dropped and rebuilt, with a warning', async () => {
    const cacheDir = path.join(dir, 'b');
    expect(await sourceOf(cacheDir)).toBe('optimized');
    const data = path.join(onlyEntry(cacheDir), OPTIMIZED_DATA_FILE);
    fs.truncateSync(data, fs.statSync(data).size - 4);
    const warnings: string[] = [];
    expect(await sourceOf(cacheDir, warnings)).toBe('optimized');
    expect(warnings.join('\n')).toMatch(/dropped a cached optimised model.*model\.onnx\.data has/);
    expect(await sourceOf(cacheDir)).toBe('cache');
  });

  it('an entry onnxruntime refuses is removed and rebuilt', async () => {
    const cacheDir = path.join(dir, 'c');
    expect(await sourceOf(cacheDir)).toBe('optimized');
    const graph = path.join(onlyEntry(cacheDir), OPTIMIZED_MODEL_FILE);
    fs.writeFileSync(graph, Buffer.alloc(fs.statSync(graph).size, 0xff)); // same size: passes the sidecar check
    const warnings: string[] = [];
    expect(await sourceOf(cacheDir, warnings)).toBe('optimized');
    expect(warnings.join('\n')).toMatch(/refused the cached optimised model/);
    expect(await sourceOf(cacheDir)).toBe('cache');
  });

  it('an unusable cache folder falls back to a direct load, with a warning', async () => {
    const blocker = path.join(dir, 'not-a-folder');
    fs.writeFileSync(blocker, 'x');
    const warnings: string[] = [];
    expect(await sourceOf(path.join(blocker, 'cache'), warnings)).toBe('direct');
    expect(warnings.join('\n')).toMatch(/optimising .* in memory instead/);
  });

  it('a model that does not load is a ModelError, and leaves no staging folder', async () => {
    const cacheDir = path.join(dir, 'bad');
    const broken = path.join(dir, 'broken.onnx');
    fs.writeFileSync(broken, fs.readFileSync(fixture).subarray(0, 200_000));
    await expect(createEstimator(broken, { backend: 'cpu', cpu: { cache: true, cacheDir } })).rejects.toMatchObject({ code: 'ERR_LOTUS_MODEL' });
    const cpu = path.join(cacheDir, 'cpu');
    expect(fs.existsSync(cpu) ? fs.readdirSync(cpu).filter((n) => n.startsWith('staging-')) : []).toEqual([]);
  });

  it('keys change with the model digest and the environment; a second commit keeps the first entry', async () => {
    const digest = (sha256: string): OnnxDigest => ({ sha256, files: [] });
    const environment = optimizedModelEnvironment('1.30.0', 'all');
    const key = optimizedModelKey(digest('a'), environment);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(optimizedModelKey(digest('b'), environment)).not.toBe(key);
    expect(optimizedModelKey(digest('a'), { ...environment, onnxruntime: '1.31.0' })).not.toBe(key);
    expect(optimizedModelKey(digest('a'), { ...environment, cpuFlags: 'other' })).not.toBe(key);

    const cache = new OptimizedModelCache(path.join(dir, 'd'));
    const stage = async (content: string) => {
      const staging = await cache.staging();
      fs.writeFileSync(path.join(staging, OPTIMIZED_MODEL_FILE), content);
      return staging;
    };
    const first = await cache.commit(key, await stage('first'), { onnx: digest('a'), environment });
    const secondStaging = await stage('second!');
    const second = await cache.commit(key, secondStaging, { onnx: digest('a'), environment });
    expect(second.modelPath).toBe(first.modelPath);
    expect(fs.readFileSync(first.modelPath, 'utf8')).toBe('first');
    expect(fs.existsSync(secondStaging)).toBe(false);
    expect((await cache.lookup(key)).entry?.sidecar.files).toEqual([{ name: OPTIMIZED_MODEL_FILE, size: 5 }]);
    fs.writeFileSync(cache.sidecarPath(key), '{not json');
    expect(await cache.lookup(key)).toEqual({ rejected: 'sidecar is not valid JSON' });
    expect(fs.existsSync(cache.entryDir(key))).toBe(false);
  });
});
