// Typed errors of the public API. Every error thrown by lotus-trt is a LotusError with a stable
// `code`; native errors carry the same codes and are mapped here by fromNativeError().

export type LotusErrorCode =
  | 'ERR_LOTUS_INVALID_ARGUMENT'
  | 'ERR_LOTUS_IMAGE'
  | 'ERR_LOTUS_MODEL'
  | 'ERR_LOTUS_BACKEND_UNAVAILABLE'
  | 'ERR_LOTUS_CUDA'
  | 'ERR_LOTUS_TENSORRT'
  | 'ERR_LOTUS_DISPOSED'
  | 'ERR_LOTUS_ENGINE_CACHE'
  | 'ERR_LOTUS_BUSY'
  | 'ERR_LOTUS_ABORTED'
  | 'ERR_LOTUS_TIMEOUT'
  | 'ERR_LOTUS_INTERNAL'
  | 'ERR_LOTUS_QUEUE';

export class LotusError extends Error {
  readonly code: LotusErrorCode;

  constructor(code: LotusErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A bad argument or option; `parameter` names it (e.g. `options.processingResolution`). */
export class InvalidArgumentError extends LotusError {
  readonly parameter: string;

  constructor(parameter: string, message: string, options?: ErrorOptions) {
    super('ERR_LOTUS_INVALID_ARGUMENT', message, options);
    this.parameter = parameter;
  }
}

/** The image could not be read or decoded, or has unsupported dimensions. */
export class ImageError extends LotusError {
  /** The argument that held the image, when known. */
  readonly parameter: string | undefined;

  constructor(message: string, options?: ErrorOptions & { parameter?: string }) {
    super('ERR_LOTUS_IMAGE', message, options);
    this.parameter = options?.parameter;
  }
}

/** The model file is missing, is not ONNX, or does not follow the lotus-trt ONNX contract. */
export class ModelError extends LotusError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_LOTUS_MODEL', message, options);
  }
}

/** The requested backend cannot run here; the message says why. */
export class BackendUnavailableError extends LotusError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_LOTUS_BACKEND_UNAVAILABLE', message, options);
  }
}

export class CudaError extends LotusError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_LOTUS_CUDA', message, options);
  }
}

export class TensorRTError extends LotusError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_LOTUS_TENSORRT', message, options);
  }
}

/** The estimator (or backend) was closed. */
export class DisposedError extends LotusError {
  constructor(message = 'the estimator has been closed', options?: ErrorOptions) {
    super('ERR_LOTUS_DISPOSED', message, options);
  }
}

/**
 * The TensorRT engine cache cannot be used: its folder is a file or unwritable, an entry or lock
 * path is a directory, a lock was not freed in time. An estimator then runs TensorRT uncached
 * (with a warning); `lotus build`, whose job is the cache, fails with it.
 */
export class EngineCacheError extends LotusError {
  /** The cache file or folder that failed. */
  readonly path: string;

  constructor(path: string, message: string, options?: ErrorOptions) {
    super('ERR_LOTUS_ENGINE_CACHE', message, options);
    this.path = path;
  }
}

/**
 * The estimator's queue is full (`options.maxQueue` requests already wait): the request was refused
 * at once, without waiting. Retry later (a server answers 429).
 */
export class BusyError extends LotusError {
  /** Requests waiting when this one was refused. */
  readonly queued: number;
  /** The estimator's options.maxQueue. */
  readonly maxQueue: number;

  constructor(queued: number, maxQueue: number, options?: ErrorOptions) {
    super('ERR_LOTUS_BUSY', `the estimator is busy: ${queued} requests already wait (options.maxQueue = ${maxQueue}); retry later`, options);
    this.queued = queued;
    this.maxQueue = maxQueue;
  }
}

/** The request's `signal` aborted it; `cause` is the signal's reason. */
export class AbortedError extends LotusError {
  constructor(message = 'the request was aborted', options?: ErrorOptions) {
    super('ERR_LOTUS_ABORTED', message, options);
  }
}

/** The request did not finish within its `timeoutMs`. */
export class TimeoutError extends LotusError {
  readonly timeoutMs: number;

  constructor(timeoutMs: number, options?: ErrorOptions) {
    super('ERR_LOTUS_TIMEOUT', `the request did not finish within timeoutMs = ${timeoutMs} ms`, options);
    this.timeoutMs = timeoutMs;
  }
}

/** An unexpected native failure (out of host memory, or a bug in lotus-trt: please report it). */
export class InternalError extends LotusError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_LOTUS_INTERNAL', message, options);
  }
}

/** The job queue (Redis) cannot be reached or did not answer in time (lib/queue). */
export class QueueError extends LotusError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_LOTUS_QUEUE', message, options);
  }
}

/**
 * Maps an error thrown by the native addon (a plain Error with a `code` property, and `parameter`
 * for argument errors) to its LotusError class. LotusErrors and errors without a lotus code are
 * returned unchanged.
 */
export function fromNativeError(error: unknown): unknown {
  if (error instanceof LotusError || !(error instanceof Error)) return error;
  const { code, parameter } = error as Error & { code?: unknown; parameter?: unknown };
  const options = { cause: error };
  switch (code) {
    case 'ERR_LOTUS_INVALID_ARGUMENT':
      return new InvalidArgumentError(typeof parameter === 'string' ? parameter : 'unknown', error.message, options);
    case 'ERR_LOTUS_IMAGE':
      return new ImageError(error.message, options);
    case 'ERR_LOTUS_MODEL':
      return new ModelError(error.message, options);
    case 'ERR_LOTUS_BACKEND_UNAVAILABLE':
      return new BackendUnavailableError(error.message, options);
    case 'ERR_LOTUS_CUDA':
      return new CudaError(error.message, options);
    case 'ERR_LOTUS_TENSORRT':
      return new TensorRTError(error.message, options);
    case 'ERR_LOTUS_DISPOSED':
      return new DisposedError(error.message, options);
    case 'ERR_LOTUS_INTERNAL':
      return new InternalError(error.message, options);
    default:
      return error;
  }
}

/** Runs a native call, rethrowing its errors as LotusErrors. */
export async function callNative<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw fromNativeError(error);
  }
}
