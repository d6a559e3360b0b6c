// Reads a job's input into memory: base64 bytes in the job, an absolute path or file: URL on storage
// every worker can reach, or an http(s) URL. Sizes are bounded before anything large is read, and
// every failure is a JobError whose code says whether another attempt could help.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REGULAR_FILE_OPEN_FLAGS } from '../io/regular-file';
import { JobError } from './errors';
import { base64Bytes, type JobInput } from './job';

export interface InputLimits {
  /** Largest input accepted, in bytes. */
  maxBytes: number;
  /** When set, path and file: inputs must lie inside this folder. */
  root?: string;
  /** Timeout of an http(s) download in milliseconds. */
  timeoutMs: number;
}

/** True when `file` is `root` or inside it (lexically, after resolving `.` and `..`). */
export function isInside(root: string, file: string): boolean {
  const rel = path.relative(path.resolve(root), path.resolve(file));
  return rel === '' || (rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel));
}

function tooLarge(what: string, size: number, max: number): JobError {
  return new JobError('ERR_LOTUS_INPUT_TOO_LARGE', `${what} holds ${size} bytes; this worker accepts at most ${max}`);
}

async function readLocal(file: string, parameter: string, limits: InputLimits): Promise<Buffer> {
  if (limits.root !== undefined && !isInside(limits.root, file)) {
    throw new JobError('ERR_LOTUS_JOB_INVALID', `${parameter}: ${file} is outside the worker's input root ${limits.root}`, { parameter });
  }
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, REGULAR_FILE_OPEN_FLAGS); // a FIFO is refused below, not read
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new JobError('ERR_LOTUS_INPUT_MISSING', `${parameter}: no such file: ${file}`, { cause: error, parameter });
    }
    throw new JobError('ERR_LOTUS_INPUT_READ', `${parameter}: cannot open ${file}: ${(error as Error).message}`, { cause: error, parameter });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new JobError('ERR_LOTUS_JOB_INVALID', `${parameter}: ${file} is not a regular file`, { parameter });
    }
    if (stat.size > limits.maxBytes) throw tooLarge(file, stat.size, limits.maxBytes);
    const data = await handle.readFile();
    // The file may have grown since stat().
    if (data.length > limits.maxBytes) throw tooLarge(file, data.length, limits.maxBytes);
    return data;
  } catch (error) {
    if (error instanceof JobError) throw error;
    throw new JobError('ERR_LOTUS_INPUT_READ', `${parameter}: cannot read ${file}: ${(error as Error).message}`, { cause: error, parameter });
  } finally {
    await handle.close();
  }
}

async function download(url: string, limits: InputLimits, signal: AbortSignal | undefined): Promise<Buffer> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, redirect: 'follow' });
  } catch (error) {
    throw new JobError('ERR_LOTUS_INPUT_READ', `job.input.url: fetching ${url} failed: ${(error as Error).message}`, { cause: error, parameter: 'job.input.url' });
  }
  if (response.status === 404 || response.status === 410) {
    await response.body?.cancel();
    throw new JobError('ERR_LOTUS_INPUT_MISSING', `job.input.url: ${url} answered HTTP ${response.status}`, { parameter: 'job.input.url' });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new JobError('ERR_LOTUS_INPUT_READ', `job.input.url: ${url} answered HTTP ${response.status}`, { parameter: 'job.input.url' });
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limits.maxBytes) {
    await response.body.cancel();
    throw tooLarge(url, declared, limits.maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      size += chunk.length;
      if (size > limits.maxBytes) {
        await response.body.cancel().catch(() => undefined);
        throw tooLarge(url, size, limits.maxBytes);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof JobError) throw error;
    throw new JobError('ERR_LOTUS_INPUT_READ', `job.input.url: reading ${url} failed: ${(error as Error).message}`, { cause: error, parameter: 'job.input.url' });
  }
  return Buffer.concat(chunks, size);
}

/** The encoded image of a (validated) job input. */
export async function loadInput(input: JobInput, limits: InputLimits, signal?: AbortSignal): Promise<Buffer> {
  if ('bytes' in input) {
    const size = base64Bytes(input.bytes);
    if (size > limits.maxBytes) throw tooLarge('job.input.bytes', size, limits.maxBytes);
    return Buffer.from(input.bytes, 'base64');
  }
  if ('path' in input) return readLocal(input.path, 'job.input.path', limits);
  const url = new URL(input.url);
  if (url.protocol === 'file:') {
    let file: string;
    try {
      file = fileURLToPath(url);
    } catch (error) {
      throw new JobError('ERR_LOTUS_JOB_INVALID', `job.input.url: ${(error as Error).message}`, { cause: error, parameter: 'job.input.url' });
    }
    return readLocal(file, 'job.input.url', limits);
  }
  return download(input.url, limits, signal);
}
