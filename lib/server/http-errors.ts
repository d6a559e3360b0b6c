// How an error of a request becomes an HTTP answer: the status code and a JSON body carrying the
// typed error (`code`, `message`, `parameter` where there is one).
import { LotusError } from '../errors';

export interface ErrorAnswer {
  status: number;
  body: { error: { code: string; message: string; parameter?: string } };
  /** Seconds, for a Retry-After header (busy, timed out, shutting down). */
  retryAfter?: number;
}

const STATUS: Partial<Record<string, number>> = {
  ERR_LOTUS_INVALID_ARGUMENT: 400, // a bad option or query parameter
  ERR_LOTUS_IMAGE: 400, // an image that cannot be read, or is too large or too small
  ERR_LOTUS_BUSY: 429, // the queue is full
  ERR_LOTUS_TIMEOUT: 503, // not served within the request timeout
  ERR_LOTUS_DISPOSED: 503, // shutting down
};

export function errorAnswer(error: unknown, retryAfterSeconds: number): ErrorAnswer {
  if (error instanceof LotusError) {
    const status = STATUS[error.code] ?? 500;
    const parameter = (error as { parameter?: unknown }).parameter;
    return {
      status,
      body: { error: { code: error.code, message: error.message, ...(typeof parameter === 'string' ? { parameter } : {}) } },
      ...(status === 429 || status === 503 ? { retryAfter: retryAfterSeconds } : {}),
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: 500, body: { error: { code: 'ERR_LOTUS_INTERNAL', message } } };
}

export function simpleAnswer(status: number, code: string, message: string, retryAfter?: number): ErrorAnswer {
  return { status, body: { error: { code, message } }, ...(retryAfter === undefined ? {} : { retryAfter }) };
}
