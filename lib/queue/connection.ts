// Redis connection settings shared by the worker, the producer and queue-stats: a checked
// redis:// or rediss:// URL, a reconnect schedule that notices a restarted server within
// seconds, and a bounded wait for the first connection (a wrong URL fails instead of hanging).
import type { ConnectionOptions } from 'bullmq';
import { QueueError } from '../errors';
import { invalid, nonEmptyString } from '../validate';

/** Reconnect delays: 100, 200, 400 ... ms, at most 2 s, forever (a restarted Redis is found quickly). */
export function reconnectDelay(times: number): number {
  return Math.min(100 * 2 ** Math.min(times - 1, 10), 2000);
}

export function checkRedisUrl(value: unknown, parameter: string): string {
  const text = nonEmptyString(value, parameter);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(parameter, 'a redis:// or rediss:// URL', text);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw invalid(parameter, 'a redis:// or rediss:// URL', text);
  }
  return text;
}

export function checkQueueName(value: unknown, parameter: string): string {
  const name = nonEmptyString(value, parameter);
  if (name.includes(':') || name.length > 256) throw invalid(parameter, 'a queue name without ":" of at most 256 characters', name);
  return name;
}

/** The URL without its password, for messages. */
export function redactRedisUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return text;
  }
}

/** BullMQ connection options for a URL. */
export function redisConnection(url: string): ConnectionOptions {
  return { url, retryStrategy: reconnectDelay };
}

/** Waits for `promise` at most `ms`: its value, or undefined on timeout (waits on Redis stay bounded). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(resolve, ms, undefined); });
  try {
    return await Promise.race([promise.then((value) => ({ value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One connection and PING without reconnects, before any BullMQ object exists: a refused or silent
 * server fails here at once (or after `timeoutMs`) with a QueueError. BullMQ's own connections retry
 * forever and cannot be closed before they first connect.
 */
export async function probeRedis(url: string, timeoutMs: number): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
  });
  let lastError: Error | undefined;
  client.on('error', (error: Error) => { lastError = error; });
  try {
    await connectWithin(client.connect().then(() => client.ping()), url, timeoutMs);
  } catch (error) {
    // "Connection is closed" hides the cause (ECONNREFUSED, ENOTFOUND, ...) that the error event had.
    const cause = lastError ?? error;
    if (error instanceof QueueError && lastError === undefined) throw error;
    throw new QueueError(`cannot reach Redis at ${redactRedisUrl(url)}: ${(cause as Error).message}`, { cause });
  } finally {
    client.disconnect();
  }
}

/** Resolves when `ready` does; rejects with QueueError after `timeoutMs`. */
export async function connectWithin<T>(ready: Promise<T>, url: string, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new QueueError(`cannot reach Redis at ${redactRedisUrl(url)} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([ready, timeout]);
  } catch (error) {
    if (error instanceof QueueError) throw error;
    throw new QueueError(`Redis at ${redactRedisUrl(url)}: ${(error as Error).message}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
