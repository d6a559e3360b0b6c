// A queue worker: one estimator, a BullMQ Worker that runs `concurrency` jobs through it at once
// (concurrent estimate() calls, which the estimator's lanes and batching serve), Prometheus
// metrics, and a graceful close that finishes or hands back the jobs in flight.
//
// Delivery is at-least-once: a job whose worker dies (lock not renewed for lockDuration) is
// moved back to wait by any worker's stalled checker and runs again elsewhere; outputs are
// written atomically, so running a job twice leaves the same files.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { MetricsTime, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { createEstimator, LotusEstimator } from '../estimator/estimator';
import type { EstimatorOptions } from '../estimator/options';
import { invalid, nonEmptyString, optionalInteger, optionsObject } from '../validate';
import { checkQueueName, checkRedisUrl, connectWithin, probeRedis, redisConnection, within } from './connection';
import { formatFailedReason, parseFailedReason, toJobError, type JobFailureCode } from './errors';
import type { LotusJobResult } from './job';
import { JOB_STATES, WorkerMetrics } from './metrics';
import { processJob, type JobContext } from './process-job';

export interface QueueWorkerOptions {
  /** redis:// or rediss:// URL. */
  redis: string;
  queue: string;
  /** An ONNX model path (the worker creates and closes its estimator) or an estimator to use. */
  model: string | LotusEstimator;
  /** createEstimator() options when `model` is a path. */
  estimatorOptions?: EstimatorOptions;
  /** Jobs processed at once (concurrent estimate() calls). Default 2. */
  concurrency?: number;
  /** Lock time of a job; a worker silent this long is presumed dead. Default 30,000 ms. */
  lockDurationMs?: number;
  /** How often this worker looks for jobs of dead workers. Default 30,000 ms. */
  stalledIntervalMs?: number;
  /** Stall recoveries a job gets before it fails with ERR_LOTUS_JOB_STALLED. Default 1. */
  maxStalledCount?: number;
  /** Largest input image in bytes. Default 16 MiB. */
  maxInputBytes?: number;
  /** Largest total of outputs returned in a job result, in bytes. Default 16 MiB. */
  maxResultBytes?: number;
  /** Timeout of an http(s) input download. Default 30,000 ms. */
  fetchTimeoutMs?: number;
  /** When set, path inputs must lie in this folder. */
  inputRoot?: string;
  /** When set, output paths must lie in this folder. */
  outputRoot?: string;
  /** Recorded on jobs and results. Default `<hostname>:<pid>`. */
  name?: string;
  /** How long start() waits for Redis. Default 10,000 ms. */
  connectTimeoutMs?: number;
  /** How long close() waits for jobs in flight before handing them back. Default 30,000 ms. */
  shutdownTimeoutMs?: number;
  /** Job and connection events, for logs. */
  onEvent?: (event: QueueWorkerEvent) => void;
}

export type QueueWorkerEvent =
  | { type: 'active'; jobId: string; attempt: number }
  | { type: 'completed'; jobId: string; attempt: number; ms: number }
  | { type: 'failed'; jobId: string; attempt: number; code: JobFailureCode; message: string; final: boolean }
  | { type: 'stalled'; jobId: string }
  | { type: 'error'; message: string };

export interface QueueWorkerStats {
  completed: number;
  /** Jobs that ended in the failed set through this worker. */
  failed: number;
  /** Failed attempts that will be retried. */
  retried: number;
  active: number;
  failuresByReason: Partial<Record<JobFailureCode, number>>;
}

export interface CloseReport {
  /** True when every job in flight finished before the shutdown timeout. */
  drained: boolean;
  /** Jobs moved back to wait, for another worker, because they did not finish in time. */
  handedBack: number;
}

const MiB = 1024 * 1024;
const OPTION_KEYS = [
  'redis', 'queue', 'model', 'estimatorOptions', 'concurrency', 'lockDurationMs', 'stalledIntervalMs', 'maxStalledCount',
  'maxInputBytes', 'maxResultBytes', 'fetchTimeoutMs', 'inputRoot', 'outputRoot', 'name', 'connectTimeoutMs',
  'shutdownTimeoutMs', 'onEvent',
] as const;

/** The attempt a job is starting: counts retries after failures and runs after stalls and hand-backs. */
function attemptOf(job: Job): number {
  return Math.max(job.attemptsStarted ?? 0, job.attemptsMade + 1, 1);
}

export class LotusQueueWorker {
  readonly name: string;
  readonly queue: string;
  readonly estimator: LotusEstimator;
  readonly concurrency: number;
  readonly metrics: WorkerMetrics;
  private readonly worker: Worker<unknown, LotusJobResult>;
  private readonly ownsEstimator: boolean;
  private readonly shutdownTimeoutMs: number;
  private readonly onEvent: (event: QueueWorkerEvent) => void;
  private readonly inFlight = new Map<string, { job: Job; token: string | undefined }>();
  private readonly counts: QueueWorkerStats = { completed: 0, failed: 0, retried: 0, active: 0, failuresByReason: {} };
  private readonly redisUrl: string;
  private countsQueue: Queue | undefined;
  private running: Promise<void> | undefined;
  private closing: Promise<CloseReport> | undefined;

  private constructor(options: QueueWorkerOptions, estimator: LotusEstimator, ownsEstimator: boolean) {
    this.name = options.name ?? `${os.hostname()}:${process.pid}`;
    this.queue = options.queue;
    this.estimator = estimator;
    this.ownsEstimator = ownsEstimator;
    this.concurrency = options.concurrency ?? 2;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? 30_000;
    this.onEvent = options.onEvent ?? (() => undefined);
    this.redisUrl = options.redis;
    const context: JobContext = {
      estimator,
      worker: this.name,
      input: {
        maxBytes: options.maxInputBytes ?? 16 * MiB,
        timeoutMs: options.fetchTimeoutMs ?? 30_000,
        ...(options.inputRoot !== undefined ? { root: options.inputRoot } : {}),
      },
      ...(options.outputRoot !== undefined ? { outputRoot: options.outputRoot } : {}),
      maxResultBytes: options.maxResultBytes ?? 16 * MiB,
    };

    this.metrics = new WorkerMetrics(this.queue, () => this.readJobCounts());
    this.metrics.info.set({
      worker: this.name,
      model: estimator.model.path,
      task: estimator.model.task,
      backend: estimator.backend,
      concurrency: String(this.concurrency),
    }, 1);

    // Three parameters: BullMQ then passes an AbortSignal (Worker.cancelJob), which aborts an http input download.
    const processor = async (job: Job, token?: string, signal?: AbortSignal): Promise<LotusJobResult> => {
      const id = job.id!;
      this.inFlight.set(id, { job, token });
      this.counts.active++;
      this.metrics.active.inc();
      const started = performance.now();
      try {
        const result = await processJob(context, { id, data: job.data, attempt: attemptOf(job) }, signal);
        this.metrics.duration.observe((performance.now() - started) / 1000);
        return result;
      } catch (error) {
        const failure = toJobError(error);
        const message = formatFailedReason(failure);
        // UnrecoverableError: BullMQ skips the remaining attempts.
        throw failure.permanent ? new UnrecoverableError(message) : new Error(message);
      } finally {
        this.inFlight.delete(id);
        this.counts.active--;
        this.metrics.active.dec();
      }
    };

    this.worker = new Worker<unknown, LotusJobResult>(this.queue, processor, {
      connection: redisConnection(options.redis),
      autorun: false,
      name: this.name,
      concurrency: this.concurrency,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      maxStalledCount: options.maxStalledCount ?? 1,
      // Per-minute completed/failed counts in Redis, read by `lotus queue-stats`.
      metrics: { maxDataPoints: MetricsTime.ONE_WEEK },
    });
    this.attachEvents();
  }

  /** Creates the estimator (when given a path), connects to Redis and starts taking jobs. */
  static async start(options: QueueWorkerOptions): Promise<LotusQueueWorker> {
    const o = checkOptions(options);
    const connectTimeoutMs = o.connectTimeoutMs ?? 10_000;
    await probeRedis(o.redis, connectTimeoutMs);
    const ownsEstimator = typeof o.model === 'string';
    const estimator = typeof o.model === 'string' ? await createEstimator(o.model, o.estimatorOptions) : o.model;
    let worker: LotusQueueWorker | undefined;
    try {
      worker = new LotusQueueWorker(o, estimator, ownsEstimator);
      await connectWithin(worker.worker.waitUntilReady(), o.redis, connectTimeoutMs);
    } catch (error) {
      if (worker) await within(worker.worker.close(true), 2000);
      if (ownsEstimator) await estimator.close();
      throw error;
    }
    worker.running = worker.worker.run().catch((error: Error) => {
      worker.onEvent({ type: 'error', message: error.message });
    });
    return worker;
  }

  stats(): QueueWorkerStats {
    return { ...this.counts, failuresByReason: { ...this.counts.failuresByReason } };
  }

  /**
   * Stops taking jobs, waits up to `timeoutMs` (or until `signal` aborts) for the jobs in flight,
   * hands back those that did not finish (they go back to wait, first in line, for another
   * worker), then closes the connections and the estimator it created. Safe to call again: later
   * calls return the first call's report.
   */
  close(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<CloseReport> {
    this.closing ??= this.shutdown(options.timeoutMs ?? this.shutdownTimeoutMs, options.signal);
    return this.closing;
  }

  private async shutdown(timeoutMs: number, signal: AbortSignal | undefined): Promise<CloseReport> {
    // close() without force stops fetching, waits for the jobs in flight, then closes the
    // connections. (Not pause(): it reconnects the blocking connection, racing a later close.)
    const closed = this.worker.close(false).then(() => 'closed' as const);
    const aborted = new Promise<'aborted'>((resolve) => {
      if (signal?.aborted) resolve('aborted');
      signal?.addEventListener('abort', () => resolve('aborted'), { once: true });
    });
    const drained = (await within(Promise.race([closed, aborted]), timeoutMs))?.value === 'closed';
    let handedBack = 0;
    if (!drained) {
      // The connections are still open (close() is waiting for these jobs): give them back, first
      // in line, for another worker. Their own ends here then fail to complete (lock gone), harmlessly.
      for (const { job, token } of [...this.inFlight.values()]) {
        if (token === undefined) continue;
        try {
          await job.moveToWait(token);
          handedBack++;
        } catch {
          // Lock already lost or Redis down: the stalled checkers recover the job instead.
        }
      }
      await within(closed, 10_000);
    }
    if (this.running) await within(this.running, 1000);
    if (this.countsQueue) await within(this.countsQueue.close(), 2000);
    if (this.ownsEstimator) await within(this.estimator.close(), 10_000);
    return { drained, handedBack };
  }

  private attachEvents(): void {
    const worker = this.worker;
    worker.on('active', (job: Job) => {
      this.onEvent({ type: 'active', jobId: job.id!, attempt: attemptOf(job) });
    });
    worker.on('completed', (job: Job) => {
      this.counts.completed++;
      this.metrics.completed.inc();
      const ms = job.finishedOn !== undefined && job.processedOn !== undefined ? job.finishedOn - job.processedOn : 0;
      this.onEvent({ type: 'completed', jobId: job.id!, attempt: job.attemptsStarted, ms });
    });
    worker.on('failed', (job: Job | undefined, error: Error) => {
      const { code, message } = parseFailedReason(error.message);
      // finishedOn is set only when the job went to the failed set (no attempts left).
      const final = job === undefined || job.finishedOn !== undefined;
      if (final) {
        this.counts.failed++;
        this.counts.failuresByReason[code] = (this.counts.failuresByReason[code] ?? 0) + 1;
      } else {
        this.counts.retried++;
      }
      this.metrics.recordFailure(code, final);
      this.onEvent({ type: 'failed', jobId: job?.id ?? '?', attempt: job?.attemptsStarted ?? 0, code, message, final });
    });
    worker.on('stalled', (jobId: string) => {
      this.onEvent({ type: 'stalled', jobId });
    });
    // Without a listener an 'error' event would throw. Connection errors repeat while Redis is
    // down; BullMQ reconnects by itself.
    worker.on('error', (error: Error) => {
      if (this.closing === undefined) this.onEvent({ type: 'error', message: error.message });
    });
  }

  private async readJobCounts(): Promise<Record<string, number>> {
    if (this.countsQueue === undefined) {
      this.countsQueue = new Queue(this.queue, { connection: redisConnection(this.redisUrl) });
      this.countsQueue.on('error', () => undefined); // a scrape without Redis reports no counts
    }
    const counts = await within(this.countsQueue.getJobCounts(...JOB_STATES), 2000);
    if (counts === undefined) throw new Error('Redis did not answer within 2 s');
    return counts.value;
  }
}

function checkOptions(options: QueueWorkerOptions): QueueWorkerOptions {
  const o = optionsObject(options, 'options', OPTION_KEYS) as unknown as QueueWorkerOptions;
  checkRedisUrl(o.redis, 'options.redis');
  checkQueueName(o.queue, 'options.queue');
  if (typeof o.model === 'string') nonEmptyString(o.model, 'options.model');
  else if (!(o.model instanceof LotusEstimator)) throw invalid('options.model', 'a model path or a LotusEstimator', o.model);
  optionalInteger(o.concurrency, 'options.concurrency', { min: 1, max: 1024 });
  optionalInteger(o.lockDurationMs, 'options.lockDurationMs', { min: 100 });
  optionalInteger(o.stalledIntervalMs, 'options.stalledIntervalMs', { min: 100 });
  optionalInteger(o.maxStalledCount, 'options.maxStalledCount', { min: 0, max: 1000 });
  optionalInteger(o.maxInputBytes, 'options.maxInputBytes', { min: 1 });
  optionalInteger(o.maxResultBytes, 'options.maxResultBytes', { min: 0 });
  optionalInteger(o.fetchTimeoutMs, 'options.fetchTimeoutMs', { min: 1 });
  optionalInteger(o.connectTimeoutMs, 'options.connectTimeoutMs', { min: 1 });
  optionalInteger(o.shutdownTimeoutMs, 'options.shutdownTimeoutMs', { min: 0 });
  if (o.inputRoot !== undefined) nonEmptyString(o.inputRoot, 'options.inputRoot');
  if (o.outputRoot !== undefined) nonEmptyString(o.outputRoot, 'options.outputRoot');
  if (o.name !== undefined) nonEmptyString(o.name, 'options.name');
  if (o.onEvent !== undefined && typeof o.onEvent !== 'function') throw invalid('options.onEvent', 'a function', o.onEvent);
  return o;
}

export function startWorker(options: QueueWorkerOptions): Promise<LotusQueueWorker> {
  return LotusQueueWorker.start(options);
}
