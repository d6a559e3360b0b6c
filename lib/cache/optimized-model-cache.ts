// The CPU backend's cache of onnxruntime-optimised models (docs/design.md, "CPU backend: load").
// onnxruntime's full graph optimisation of the 3.6 GB Lotus graph (NCHWc conv weight reorders,
// fusions) takes ~10 s on every load; its result is saved once, next to the TensorRT engines, and
// later loads read it with optimisation off. Keyed like the engine cache: the ONNX content digest
// (memoized by file stats) plus everything the optimised graph depends on.
//
// <cacheDir>/cpu/<key>/model.onnx        the optimised graph
// <cacheDir>/cpu/<key>/model.onnx.data   its weights (external data, mmapped by onnxruntime)
// <cacheDir>/cpu/<key>.json              sidecar: the key's facts and the files' sizes; written last
// <cacheDir>/cpu/<key>.lock              held while an entry is committed or removed
// <cacheDir>/cpu/staging-*/              an entry being written (renamed into place when complete)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonicalJson, defaultCacheDir, onnxHashMemoDir, sha256, type OnnxDigest } from './engine-cache';
import { acquireLock, type LockOptions } from './file-lock';
import { writeFileAtomic } from '../io/atomic-file';

/** Bump when the layout or the key's recipe changes: old entries then simply miss. */
export const OPTIMIZED_CACHE_FORMAT_VERSION = 1;

export const OPTIMIZED_MODEL_FILE = 'model.onnx';
export const OPTIMIZED_DATA_FILE = 'model.onnx.data';

/** What an optimised graph depends on besides the ONNX: it is only valid for the same facts. */
export interface OptimizedModelEnvironment {
  /** onnxruntime-node version: optimisers and contrib op versions change between releases. */
  onnxruntime: string;
  platform: string;
  arch: string;
  /** The CPU model and a digest of its feature flags: the NCHWc layout depends on the vector ISA. */
  cpu: string;
  cpuFlags: string;
  /** onnxruntime graph optimisation level the graph was optimised with. */
  optimizationLevel: string;
}

export interface OptimizedModelSidecar {
  formatVersion: number;
  key: string;
  onnx: OnnxDigest;
  environment: OptimizedModelEnvironment;
  /** Name and size of every file of the entry. */
  files: { name: string; size: number }[];
  createdAt: string;
}

/** The CPU's feature flags (Linux: /proc/cpuinfo), digested; the model name elsewhere. */
function cpuFlagsDigest(): string {
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const flags = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(info)?.[1]?.trim().split(/\s+/).sort().join(' ');
    if (flags) return sha256(flags).slice(0, 16);
  } catch {
    // not Linux: fall through
  }
  return 'unknown';
}

export function optimizedModelEnvironment(onnxruntime: string, optimizationLevel: string): OptimizedModelEnvironment {
  return {
    onnxruntime,
    platform: process.platform,
    arch: process.arch,
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpuFlags: cpuFlagsDigest(),
    optimizationLevel,
  };
}

/** The cache key: sha256 of the canonical JSON of everything that makes an optimised graph valid. */
export function optimizedModelKey(onnx: OnnxDigest, environment: OptimizedModelEnvironment): string {
  return sha256(canonicalJson({ formatVersion: OPTIMIZED_CACHE_FORMAT_VERSION, onnx: onnx.sha256, environment }));
}

export interface OptimizedModelEntry {
  /** The optimised model to load (its data file sits next to it). */
  modelPath: string;
  sidecar: OptimizedModelSidecar;
}

export interface OptimizedLookup {
  entry?: OptimizedModelEntry;
  /** Why an existing entry was rejected (and deleted); undefined on a hit or a plain miss. */
  rejected?: string;
}

export class OptimizedModelCache {
  readonly dir: string;
  private readonly lockOptions: LockOptions;

  /** `cacheDir` is the engine cache's folder; entries live in its `cpu/` subfolder. */
  constructor(cacheDir: string = defaultCacheDir(), lockOptions: LockOptions = {}) {
    this.dir = path.join(path.resolve(cacheDir), 'cpu');
    this.lockOptions = lockOptions;
  }

  /** Where the ONNX digest memo lives: shared with the engine cache. */
  get memoDir(): string {
    return onnxHashMemoDir(path.dirname(this.dir));
  }

  entryDir(key: string): string {
    return path.join(this.dir, key);
  }

  sidecarPath(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }

  lockPath(key: string): string {
    return path.join(this.dir, `${key}.lock`);
  }

  /** A committed entry whose files are all there with their recorded sizes; an invalid one is deleted. */
  async lookup(key: string): Promise<OptimizedLookup> {
    const checked = await this.verify(key);
    if (checked.invalid === undefined) return checked.entry ? { entry: checked.entry } : {};
    const lock = await acquireLock(this.lockPath(key), this.lockOptions);
    try {
      // Re-check under the lock: another process may have replaced the entry meanwhile.
      const again = await this.verify(key);
      if (again.entry) return { entry: again.entry };
      if (again.invalid !== undefined) await this.removeUnlocked(key);
    } finally {
      await lock.release();
    }
    return { rejected: checked.invalid };
  }

  /** Reads and checks an entry without changing anything. */
  private async verify(key: string): Promise<{ entry?: OptimizedModelEntry; invalid?: string }> {
    let text: string;
    try {
      text = await fs.promises.readFile(this.sidecarPath(key), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      return {};
    }
    let sidecar: OptimizedModelSidecar;
    try {
      sidecar = JSON.parse(text) as OptimizedModelSidecar;
    } catch {
      return { invalid: 'sidecar is not valid JSON' };
    }
    if (sidecar.formatVersion !== OPTIMIZED_CACHE_FORMAT_VERSION || sidecar.key !== key || !Array.isArray(sidecar.files) ||
        !sidecar.files.some((file) => file.name === OPTIMIZED_MODEL_FILE)) {
      return { invalid: 'sidecar does not describe this key' };
    }
    for (const file of sidecar.files) {
      let size: number;
      try {
        size = (await fs.promises.stat(path.join(this.entryDir(key), file.name))).size;
      } catch {
        return { invalid: `${file.name} is missing` };
      }
      if (size !== file.size) return { invalid: `${file.name} has ${size} bytes, the sidecar says ${file.size}` };
    }
    return { entry: { modelPath: path.join(this.entryDir(key), OPTIMIZED_MODEL_FILE), sidecar } };
  }

  /** A fresh folder for onnxruntime to write an optimised model into (commit() or discard() it). */
  async staging(): Promise<string> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    await this.sweepStaging();
    return fs.promises.mkdtemp(path.join(this.dir, 'staging-'));
  }

  /** Removes staging folders a crashed process left behind (older than `maxAgeMs`; writers take minutes at most). */
  async sweepStaging(maxAgeMs = 6 * 3600_000): Promise<void> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.dir);
    } catch {
      return;
    }
    for (const name of names.filter((n) => n.startsWith('staging-'))) {
      const folder = path.join(this.dir, name);
      try {
        if (Date.now() - (await fs.promises.stat(folder)).mtimeMs > maxAgeMs) await this.discard(folder);
      } catch {
        // removed by another process meanwhile
      }
    }
  }

  async discard(staging: string): Promise<void> {
    await fs.promises.rm(staging, { recursive: true, force: true });
  }

  /**
   * Moves a complete staging folder into place and writes the sidecar that commits it. When another
   * process committed the same key meanwhile, its entry is kept and the staging folder removed.
   */
  async commit(key: string, staging: string, facts: { onnx: OnnxDigest; environment: OptimizedModelEnvironment }): Promise<OptimizedModelEntry> {
    const names = (await fs.promises.readdir(staging)).sort();
    if (!names.includes(OPTIMIZED_MODEL_FILE)) throw new Error(`${staging}: onnxruntime wrote no ${OPTIMIZED_MODEL_FILE}`);
    const files: { name: string; size: number }[] = [];
    for (const name of names) {
      const file = path.join(staging, name);
      const handle = await fs.promises.open(file, 'r');
      try {
        await handle.sync(); // onnxruntime does not fsync; the sidecar must never commit unflushed data
        files.push({ name, size: (await handle.stat()).size });
      } finally {
        await handle.close();
      }
    }
    const lock = await acquireLock(this.lockPath(key), this.lockOptions);
    try {
      const existing = await this.verify(key);
      if (existing.entry) {
        await this.discard(staging);
        return existing.entry;
      }
      // An invalid entry, or a folder without a sidecar (a commit that never finished).
      await this.removeUnlocked(key);
      await fs.promises.rename(staging, this.entryDir(key));
      const sidecar: OptimizedModelSidecar = {
        formatVersion: OPTIMIZED_CACHE_FORMAT_VERSION,
        key,
        onnx: facts.onnx,
        environment: facts.environment,
        files,
        createdAt: new Date().toISOString(),
      };
      await writeFileAtomic(this.sidecarPath(key), `${JSON.stringify(sidecar, null, 2)}\n`);
      return { modelPath: path.join(this.entryDir(key), OPTIMIZED_MODEL_FILE), sidecar };
    } finally {
      await lock.release();
    }
  }

  /** Deletes an entry, e.g. one onnxruntime refused to load. */
  async remove(key: string): Promise<void> {
    const lock = await acquireLock(this.lockPath(key), this.lockOptions);
    try {
      await this.removeUnlocked(key);
    } finally {
      await lock.release();
    }
  }

  /** Sidecar first, so that no reader trusts a half-deleted folder. */
  private async removeUnlocked(key: string): Promise<void> {
    await fs.promises.rm(this.sidecarPath(key), { force: true });
    await fs.promises.rm(this.entryDir(key), { recursive: true, force: true });
  }
}
