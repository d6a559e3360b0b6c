// Queue-wide figures for `lotus queue-stats`: job counts by state, connected workers, throughput
// (measured over a short sampling window, and per minute from BullMQ's metrics, which lotus
// workers record) and failures by reason (from the newest failed jobs' stored reasons).
import { Queue } from 'bullmq';
import { optionalInteger, optionsObject } from '../validate';
import { checkQueueName, checkRedisUrl, connectWithin, probeRedis, redisConnection, within } from './connection';
import { parseFailedReason, type JobFailureCode } from './errors';
import { JOB_STATES } from './metrics';

export interface QueueStatsOptions {
  redis: string;
  queue: string;
  /** Window over which the current rates are measured. 0 skips it. Default 2,000 ms. */
  sampleMs?: number;
  /** How many of the newest failed jobs to group by reason. Default 1,000. */
  scanFailed?: number;
  connectTimeoutMs?: number;
}

export interface QueueStats {
  queue: string;
  counts: Record<(typeof JOB_STATES)[number], number>;
  paused: boolean;
  /** Worker connections on the queue now. */
  workers: number;
  /** Jobs completed / failed since the queue's metrics began (recorded by the workers). */
  totals: { completed: number; failed: number };
  /** Rates over the sampling window (absent with sampleMs 0). */
  now?: { windowS: number; completedPerS: number; failedPerS: number };
  /** Average rates over the last finished minutes (up to 5), from BullMQ's per-minute metrics. */
  recent?: { minutes: number; completedPerS: number; failedPerS: number };
  /** Failed jobs grouped by reason, over the `scanned` newest of the failed set. */
  failuresByReason: Partial<Record<JobFailureCode, number>>;
  scanned: number;
}

const OPTION_KEYS = ['redis', 'queue', 'sampleMs', 'scanFailed', 'connectTimeoutMs'] as const;

async function totals(queue: Queue): Promise<{ completed: number; failed: number }> {
  const [completed, failed] = await Promise.all([queue.getMetrics('completed', 0, 0), queue.getMetrics('failed', 0, 0)]);
  return { completed: completed.meta.count, failed: failed.meta.count };
}

async function recentRates(queue: Queue): Promise<QueueStats['recent']> {
  const [completed, failed] = await Promise.all([queue.getMetrics('completed', 0, 4), queue.getMetrics('failed', 0, 4)]);
  const minutes = Math.max(completed.data.length, failed.data.length);
  if (minutes === 0) return undefined;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return { minutes, completedPerS: sum(completed.data) / (minutes * 60), failedPerS: sum(failed.data) / (minutes * 60) };
}

async function failureReasons(queue: Queue, scan: number): Promise<{ byReason: QueueStats['failuresByReason']; scanned: number }> {
  if (scan === 0) return { byReason: {}, scanned: 0 };
  const ids = await queue.getRanges(['failed'], 0, scan - 1, false);
  // Only the reason field: failed jobs may carry image bytes.
  const client = await queue.backend.client;
  const reasons = await Promise.all(ids.map((id) => client.hget(queue.toKey(id), 'failedReason')));
  const byReason: QueueStats['failuresByReason'] = {};
  for (const reason of reasons) {
    const { code } = parseFailedReason(reason);
    byReason[code] = (byReason[code] ?? 0) + 1;
  }
  return { byReason, scanned: ids.length };
}

export async function readQueueStats(options: QueueStatsOptions): Promise<QueueStats> {
  const o = optionsObject(options, 'options', OPTION_KEYS) as unknown as QueueStatsOptions;
  checkRedisUrl(o.redis, 'options.redis');
  checkQueueName(o.queue, 'options.queue');
  const sampleMs = optionalInteger(o.sampleMs, 'options.sampleMs', { min: 0, max: 600_000 }) ?? 2000;
  const scan = optionalInteger(o.scanFailed, 'options.scanFailed', { min: 0, max: 1_000_000 }) ?? 1000;
  const connectTimeoutMs = optionalInteger(o.connectTimeoutMs, 'options.connectTimeoutMs', { min: 1 }) ?? 10_000;
  await probeRedis(o.redis, connectTimeoutMs);
  const queue = new Queue(o.queue, { connection: redisConnection(o.redis) });
  queue.on('error', () => undefined);
  try {
    await connectWithin(queue.waitUntilReady(), o.redis, connectTimeoutMs);
    const before = sampleMs > 0 ? await totals(queue) : undefined;
    const started = Date.now();
    if (sampleMs > 0) await new Promise((resolve) => { setTimeout(resolve, sampleMs); });
    const [counts, paused, workers, after, recent, failures] = await Promise.all([
      queue.getJobCounts(...JOB_STATES),
      queue.isPaused(),
      queue.getWorkersCount(),
      totals(queue),
      recentRates(queue),
      failureReasons(queue, scan),
    ]);
    const stats: QueueStats = {
      queue: o.queue,
      counts: Object.fromEntries(JOB_STATES.map((s) => [s, counts[s] ?? 0])) as QueueStats['counts'],
      paused,
      workers,
      totals: after,
      failuresByReason: failures.byReason,
      scanned: failures.scanned,
    };
    if (before !== undefined) {
      const windowS = (Date.now() - started) / 1000;
      stats.now = {
        windowS,
        completedPerS: (after.completed - before.completed) / windowS,
        failedPerS: (after.failed - before.failed) / windowS,
      };
    }
    if (recent !== undefined) stats.recent = recent;
    return stats;
  } finally {
    await within(queue.close().catch(() => undefined), 5000);
  }
}
