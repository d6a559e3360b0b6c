// Why a queued job failed: a typed code, whether another attempt could help, and the text BullMQ
// stores as the job's failedReason ("<code>: <message>"), which every worker, the producer and
// `lotus queue-stats` parse back.
import { LotusError, type LotusErrorCode } from '../errors';

export type JobFailureCode =
  | LotusErrorCode
  /** The job payload does not follow the job format (docs/queue.md), or names a path outside the worker's roots. */
  | 'ERR_LOTUS_JOB_INVALID'
  /** The input path or URL does not exist (retried: shared storage may lag behind the producer). */
  | 'ERR_LOTUS_INPUT_MISSING'
  /** Reading the input failed (I/O error, HTTP error, timeout): retried. */
  | 'ERR_LOTUS_INPUT_READ'
  | 'ERR_LOTUS_INPUT_TOO_LARGE'
  /** Writing an output file failed (retried). */
  | 'ERR_LOTUS_OUTPUT_WRITE'
  /** The outputs to return in the job result exceed the worker's limit. */
  | 'ERR_LOTUS_RESULT_TOO_LARGE'
  /** BullMQ gave up on the job after it stalled (its worker died) more than maxStalledCount times. */
  | 'ERR_LOTUS_JOB_STALLED'
  /** A failedReason that lotus-trt did not write (a job failed by other code). */
  | 'ERR_LOTUS_UNKNOWN';

/** Codes for which another attempt cannot succeed: the job fails at once, whatever its attempts. */
const PERMANENT: ReadonlySet<JobFailureCode> = new Set<JobFailureCode>([
  'ERR_LOTUS_JOB_INVALID',
  'ERR_LOTUS_INVALID_ARGUMENT',
  'ERR_LOTUS_IMAGE',
  'ERR_LOTUS_MODEL',
  'ERR_LOTUS_INPUT_TOO_LARGE',
  'ERR_LOTUS_RESULT_TOO_LARGE',
]);

export function isPermanent(code: JobFailureCode): boolean {
  return PERMANENT.has(code);
}

/** A job failure raised by the worker; `parameter` names the offending job field when there is one. */
export class JobError extends Error {
  readonly code: JobFailureCode;
  readonly permanent: boolean;
  readonly parameter: string | undefined;

  constructor(code: JobFailureCode, message: string, options?: ErrorOptions & { parameter?: string }) {
    super(message, options);
    this.name = 'JobError';
    this.code = code;
    this.permanent = isPermanent(code);
    this.parameter = options?.parameter;
  }
}

/** Library errors keep their code; Node system errors and anything else are retried as internal. */
export function toJobError(error: unknown): JobError {
  if (error instanceof JobError) return error;
  if (error instanceof LotusError) {
    const parameter = (error as LotusError & { parameter?: unknown }).parameter;
    return new JobError(error.code, error.message, {
      cause: error,
      ...(typeof parameter === 'string' ? { parameter } : {}),
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new JobError('ERR_LOTUS_INTERNAL', message, { cause: error });
}

/** The failedReason text stored with the job. */
export function formatFailedReason(error: JobError): string {
  return `${error.code}: ${error.message}`;
}

export interface JobFailure {
  code: JobFailureCode;
  message: string;
}

const REASON = /^(ERR_LOTUS_[A-Z_]+): ([\s\S]*)$/;

/** Reads a job's failedReason back into code + message. */
export function parseFailedReason(failedReason: string | undefined | null): JobFailure {
  const text = failedReason ?? '';
  const m = REASON.exec(text);
  if (m) return { code: m[1] as JobFailureCode, message: m[2]! };
  // BullMQ's own texts for jobs whose workers died too often ("job stalled more than allowable limit").
  if (/stalled more than allowable limit|started more than allowable limit/.test(text)) {
    return { code: 'ERR_LOTUS_JOB_STALLED', message: text };
  }
  return { code: 'ERR_LOTUS_UNKNOWN', message: text };
}
