// The TensorRT engine cache (docs/design.md, "Engine cache"; docs/tensorrt.md for the key).
// Native code only builds and deserializes plans; choosing, verifying and storing them is here.
//
// <cacheDir>/<key>.plan   the serialized engine
// <cacheDir>/<key>.json   sidecar: the facts the key was made of + the plan's size and sha256
// <cacheDir>/<key>.lock   held while one process builds that engine
// <cacheDir>/onnx-hash/   memo of ONNX digests by (path, size, mtime, inode, ctime)
// <cacheDir>/timing-*.cache  TensorRT timing caches (written by the plugin)
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NativeShapeProfile } from '../../binding';
import { acquireLock, type HeldLock, type LockOptions } from './file-lock';
import { writeFileAtomic } from '../io/atomic-file';
import { externalDataFiles } from '../model/external-data';
import { EngineCacheError, ModelError } from '../errors';
import { describeFileKind, REGULAR_FILE_OPEN_FLAGS } from '../io/regular-file';

/** Bump when the layout or the key's recipe changes: old entries then simply miss. */
export const CACHE_FORMAT_VERSION = 1;

/** The build options that change the engine (all of them go into the key). */
export interface EngineBuildSettings {
  profiles: NativeShapeProfile[];
  lanes: number;
  workspaceBytes: number;
  optimizationLevel: number;
  fp16: boolean;
}

/**
 * What the engine was built with and for: a plan is only valid for the same facts. It depends on the
 * GPU model, not on the individual GPU (TensorRT: engines are specific to the device type they were
 * built on): every GPU of one model (name, compute capability, SM count) shares one engine, so an
 * 8-GPU machine builds it once, not once per GPU UUID.
 */
export interface EngineEnvironment {
  /** TensorRT version the plugin was compiled against ("11.1.0"). */
  pluginVersion: string;
  /** Version of the libnvinfer that loaded ("11.1.0"). */
  libraryVersion: string;
  gpuName: string;
  computeCapability: [number, number];
  /** Streaming multiprocessors: tells apart cut-down variants and MIG slices of one name. */
  multiProcessorCount: number;
  cudaRuntimeMajor: number;
}

export interface OnnxFileFact {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface OnnxDigest {
  /** sha256 over the ONNX bytes and every external data file it references. */
  sha256: string;
  files: OnnxFileFact[];
}

export interface EngineSidecar {
  formatVersion: number;
  key: string;
  planSha256: string;
  planSize: number;
  onnx: OnnxDigest;
  environment: EngineEnvironment;
  settings: EngineBuildSettings;
  createdAt: string;
}

/** `$LOTUS_CACHE_DIR`, else `$XDG_CACHE_HOME/lotus-trt`, else `~/.cache/lotus-trt`. */
export function defaultCacheDir(): string {
  if (process.env.LOTUS_CACHE_DIR) return path.resolve(process.env.LOTUS_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'lotus-trt');
}

/** JSON with object keys sorted at every level and undefined members dropped: a stable digest input. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('canonicalJson: non-finite number');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, member]) => member !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(',')}}`;
}

/** The memo of ONNX digests in a cache folder, shared by the engine cache and the CPU cache. */
export function onnxHashMemoDir(cacheDir: string): string {
  return path.join(cacheDir, 'onnx-hash');
}

export function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** The cache key: sha256 of the canonical JSON of everything that makes a plan valid. */
export function engineCacheKey(onnx: OnnxDigest, environment: EngineEnvironment, settings: EngineBuildSettings): string {
  return sha256(canonicalJson({ formatVersion: CACHE_FORMAT_VERSION, onnx: onnx.sha256, environment, settings }));
}

/**
 * Hashes a regular file's bytes up to the size fstat reports: opened non-blocking and checked on
 * the same descriptor, so a FIFO or device swapped in never blocks or streams forever.
 */
async function hashFileInto(hash: crypto.Hash, file: string, onChunk?: (bytes: number) => void): Promise<void> {
  const handle = await fs.promises.open(file, REGULAR_FILE_OPEN_FLAGS);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new ModelError(`cannot hash ${file}: it is ${describeFileKind(stat)}, not a regular file`);
    const chunk = Buffer.allocUnsafe(Math.min(4 << 20, Math.max(stat.size, 1)));
    for (let position = 0; position < stat.size;) {
      const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, stat.size - position), position);
      if (bytesRead === 0) break;
      hash.update(chunk.subarray(0, bytesRead));
      onChunk?.(bytesRead);
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  await hashFileInto(hash, file);
  return hash.digest('hex');
}

interface StatSignature {
  size: number;
  mtimeMs: number;
  ino: number;
  ctimeMs: number;
}

function signature(stat: fs.Stats): StatSignature {
  return { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, ctimeMs: stat.ctimeMs };
}

interface MemoEntry {
  formatVersion: number;
  files: { path: string; stat: StatSignature }[];
  digest: OnnxDigest;
}

const memory = new Map<string, MemoEntry>();

async function memoStillValid(entry: MemoEntry): Promise<boolean> {
  for (const file of entry.files) {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(file.path);
    } catch {
      return false;
    }
    if (canonicalJson(signature(stat)) !== canonicalJson(file.stat)) return false;
  }
  return entry.files.length > 0;
}

export interface HashOnnxResult {
  digest: OnnxDigest;
  /** True when the digest came from the memo (no file was read). */
  memoized: boolean;
}

/**
 * Digest of an ONNX model and its external data. Full-size models are GBs, so the digest is
 * memoized in memory and, with `memoDir`, on disk, keyed by each file's size, mtime, inode and
 * ctime: any change to any of the files re-hashes. `onProgress(hashed, total)` follows a re-hash.
 */
export async function hashOnnx(
  onnxPath: string,
  memoDir?: string,
  onProgress?: (hashedBytes: number, totalBytes: number) => void,
): Promise<HashOnnxResult> {
  const absolute = path.resolve(onnxPath);
  const memoFile = memoDir ? path.join(memoDir, `${sha256(absolute)}.json`) : undefined;
  let entry = memory.get(absolute);
  if (!entry && memoFile) {
    try {
      const parsed = JSON.parse(await fs.promises.readFile(memoFile, 'utf8')) as MemoEntry;
      if (parsed.formatVersion === CACHE_FORMAT_VERSION) entry = parsed;
    } catch {
      entry = undefined; // missing or unreadable memo: hash again
    }
  }
  if (entry && (await memoStillValid(entry))) {
    memory.set(absolute, entry);
    return { digest: entry.digest, memoized: true };
  }

  // External data as real paths: regular files inside the model's folder (ModelError otherwise).
  const files = [absolute, ...externalDataFiles(absolute)];
  const realDir = await fs.promises.realpath(path.dirname(absolute));
  const before = await Promise.all(files.map((file) => fs.promises.stat(file)));
  const hash = crypto.createHash('sha256');
  const totalBytes = before.reduce((sum, stat) => sum + stat.size, 0);
  let hashedBytes = 0;
  for (let i = 0; i < files.length; i++) {
    // Name (relative to the model) and size frame each file, so moving bytes between files changes the digest.
    hash.update(`${i === 0 ? '' : path.relative(realDir, files[i])}\0${before[i].size}\0`);
    await hashFileInto(hash, files[i], onProgress && ((bytes) => onProgress((hashedBytes += bytes), totalBytes)));
  }
  const after = await Promise.all(files.map((file) => fs.promises.stat(file)));
  const digest: OnnxDigest = {
    sha256: hash.digest('hex'),
    files: files.map((file, i) => ({ path: file, size: before[i].size, mtimeMs: before[i].mtimeMs })),
  };
  const stable = files.every((_, i) => canonicalJson(signature(before[i])) === canonicalJson(signature(after[i])));
  if (stable) {
    // A file that changed while being hashed is not memoized: the next call hashes it again.
    const fresh: MemoEntry = {
      formatVersion: CACHE_FORMAT_VERSION,
      files: files.map((file, i) => ({ path: file, stat: signature(before[i]) })),
      digest,
    };
    memory.set(absolute, fresh);
    if (memoFile) await writeFileAtomic(memoFile, JSON.stringify(fresh)).catch(() => undefined);
  }
  return { digest, memoized: false };
}

/** Forgets in-memory ONNX digests (tests; the on-disk memo is checked against file stats anyway). */
export function clearOnnxHashMemo(): void {
  memory.clear();
}

/** True for the native error of a plan TensorRT refused (stale version, corrupt bytes). */
export function isDeserializeFailure(error: unknown): boolean {
  return error instanceof Error && /deserialize failed/.test(error.message);
}

export interface CacheReadResult {
  plan?: Buffer;
  sidecar?: EngineSidecar;
  /** Why an existing entry was rejected (and deleted); undefined on a hit or a plain miss. */
  rejected?: string;
}

export interface ObtainRequest<T> {
  key: string;
  onnx: OnnxDigest;
  environment: EngineEnvironment;
  settings: EngineBuildSettings;
  /** Builds the plan (called with this engine's lock held: no other process builds it meanwhile). */
  build(): Promise<Buffer>;
  /** Turns a plan into the usable object; throwing a "deserialize failed" error triggers a rebuild. */
  load(plan: Buffer): T | Promise<T>;
  /** Told when an entry is rejected (hash mismatch, corrupt sidecar, deserialize failure). */
  onRejected?(reason: string): void;
  /**
   * Told when the cache cannot be used (EngineCacheError); the engine is then built and loaded
   * without it. Without this callback obtain() rejects with the EngineCacheError instead.
   */
  onCacheUnusable?(error: EngineCacheError): void;
}

/** A file-system failure inside the cache, as the typed EngineCacheError naming the path. */
function cacheError(what: string, file: string, error: unknown): EngineCacheError {
  if (error instanceof EngineCacheError) return error;
  return new EngineCacheError(file, `engine cache: cannot ${what} ${file}: ${(error as Error)?.message ?? error}`, { cause: error });
}

export interface ObtainResult<T> {
  value: T;
  source: 'cache' | 'built';
}

export class EngineCache {
  readonly dir: string;
  private readonly lockOptions: LockOptions;

  constructor(dir: string = defaultCacheDir(), lockOptions: LockOptions = {}) {
    this.dir = path.resolve(dir);
    this.lockOptions = lockOptions;
  }

  planPath(key: string): string {
    return path.join(this.dir, `${key}.plan`);
  }

  sidecarPath(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }

  lockPath(key: string): string {
    return path.join(this.dir, `${key}.lock`);
  }

  get memoDir(): string {
    return onnxHashMemoDir(this.dir);
  }

  /** One timing cache per GPU model and TensorRT version: entries are only reusable there. */
  timingCachePath(environment: EngineEnvironment): string {
    const gpu = `${environment.gpuName}-sm${environment.computeCapability.join('')}`.replace(/[^A-Za-z0-9._-]+/g, '_');
    return path.join(this.dir, `timing-${gpu}-trt${environment.libraryVersion}.cache`);
  }

  /** The key of a model + environment + settings (hashing the ONNX through the memo). */
  async key(onnxPath: string, environment: EngineEnvironment, settings: EngineBuildSettings) {
    const { digest } = await hashOnnx(onnxPath, this.memoDir);
    return { key: engineCacheKey(digest, environment, settings), onnx: digest };
  }

  /** A verified plan, or nothing. An entry that fails verification is deleted. */
  async read(key: string): Promise<CacheReadResult> {
    let sidecarText: string;
    try {
      sidecarText = await fs.promises.readFile(this.sidecarPath(key), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw cacheError('read', this.sidecarPath(key), error);
      // A plan without a sidecar is a write that never committed.
      if (fs.existsSync(this.planPath(key))) return this.reject(key, 'plan without sidecar');
      return {};
    }
    let sidecar: EngineSidecar;
    try {
      sidecar = JSON.parse(sidecarText) as EngineSidecar;
    } catch {
      return this.reject(key, 'sidecar is not valid JSON');
    }
    if (sidecar.formatVersion !== CACHE_FORMAT_VERSION || sidecar.key !== key) {
      return this.reject(key, 'sidecar does not describe this key');
    }
    let plan: Buffer;
    try {
      plan = await fs.promises.readFile(this.planPath(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw cacheError('read', this.planPath(key), error);
      return this.reject(key, 'plan file missing');
    }
    if (plan.length !== sidecar.planSize) {
      return this.reject(key, `plan size ${plan.length} != ${sidecar.planSize} in the sidecar`);
    }
    const actual = crypto.createHash('sha256').update(plan).digest('hex');
    if (actual !== sidecar.planSha256) return this.reject(key, 'plan sha256 does not match the sidecar');
    return { plan, sidecar };
  }

  /** Stores a plan atomically: plan first, then the sidecar that commits it. */
  async write(
    key: string,
    plan: Uint8Array,
    facts: { onnx: OnnxDigest; environment: EngineEnvironment; settings: EngineBuildSettings },
  ): Promise<EngineSidecar> {
    const sidecar: EngineSidecar = {
      formatVersion: CACHE_FORMAT_VERSION,
      key,
      planSha256: crypto.createHash('sha256').update(plan).digest('hex'),
      planSize: plan.length,
      onnx: facts.onnx,
      environment: facts.environment,
      settings: facts.settings,
      createdAt: new Date().toISOString(),
    };
    await this.remove(key); // never a new plan under an old sidecar
    await writeFileAtomic(this.planPath(key), plan).catch((error: unknown) => {
      throw cacheError('write', this.planPath(key), error);
    });
    await writeFileAtomic(this.sidecarPath(key), `${JSON.stringify(sidecar, null, 2)}\n`).catch((error: unknown) => {
      throw cacheError('write', this.sidecarPath(key), error);
    });
    return sidecar;
  }

  async remove(key: string): Promise<void> {
    for (const file of [this.sidecarPath(key), this.planPath(key)]) {
      await fs.promises.rm(file, { force: true }).catch((error: unknown) => {
        throw cacheError('remove', file, error);
      });
    }
  }

  /** Throws EngineCacheError unless the cache folder exists (or can be made) and takes new files. */
  async checkWritable(): Promise<void> {
    const probe = path.join(this.dir, `.write-test-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
    try {
      await fs.promises.mkdir(this.dir, { recursive: true });
      await fs.promises.writeFile(probe, '', { flag: 'wx' });
      await fs.promises.rm(probe, { force: true });
    } catch (error) {
      throw cacheError('write to', this.dir, error);
    }
  }

  /**
   * The cached engine if it verifies and loads; otherwise builds it (one process at a time per
   * key), stores it and loads that. A cache that cannot be read, locked or written is reported to
   * onCacheUnusable and bypassed: the engine is built for this process only (an engine built
   * before the cache failed is still used).
   */
  async obtain<T>(request: ObtainRequest<T>): Promise<ObtainResult<T>> {
    const bypass = async (error: unknown): Promise<ObtainResult<T>> => {
      if (!(error instanceof EngineCacheError) || !request.onCacheUnusable) throw error;
      request.onCacheUnusable(error);
      return { value: await request.load(await request.build()), source: 'built' };
    };
    const fromCache = async (): Promise<ObtainResult<T> | undefined> => {
      const cached = await this.read(request.key);
      if (cached.rejected) request.onRejected?.(cached.rejected);
      if (!cached.plan) return undefined;
      try {
        return { value: await request.load(cached.plan), source: 'cache' };
      } catch (error) {
        if (!isDeserializeFailure(error)) throw error;
        await this.remove(request.key);
        request.onRejected?.((error as Error).message);
        return undefined;
      }
    };

    let lock: HeldLock;
    try {
      const hit = await fromCache();
      if (hit) return hit;
      lock = await this.lock(request.key);
    } catch (error) {
      return bypass(error);
    }
    let plan: Buffer;
    try {
      // Another process may have built it while we waited for the lock.
      let built: ObtainResult<T> | undefined;
      try {
        built = await fromCache();
      } catch (error) {
        if (!(error instanceof EngineCacheError)) throw error;
        await lock.release().catch(() => undefined);
        return await bypass(error);
      }
      if (built) return built;
      plan = await request.build();
      try {
        await this.write(request.key, plan, request);
      } catch (error) {
        // Minutes of build are not thrown away for a cache that cannot take the plan.
        if (!(error instanceof EngineCacheError) || !request.onCacheUnusable) throw error;
        request.onCacheUnusable(error);
        await this.remove(request.key).catch(() => undefined);
      }
    } finally {
      await lock.release().catch(() => undefined);
    }
    return { value: await request.load(plan), source: 'built' };
  }

  /** The build lock of a key, as an EngineCacheError when the folder or lock cannot be used. */
  private async lock(key: string): Promise<HeldLock> {
    try {
      await fs.promises.mkdir(this.dir, { recursive: true });
    } catch (error) {
      throw cacheError('create the folder', this.dir, error);
    }
    try {
      return await acquireLock(this.lockPath(key), this.lockOptions);
    } catch (error) {
      throw cacheError('lock', this.lockPath(key), error);
    }
  }

  private async reject(key: string, reason: string): Promise<CacheReadResult> {
    await this.remove(key);
    return { rejected: reason };
  }
}
