// The producer: checks job requests, enqueues them with deterministic ids (a retried add after a
// lost reply cannot duplicate a job), and waits for their outcomes from BullMQ's event stream,
// with a reconciliation pass that reads job states directly when events go quiet (missed events,
// a Redis restart) and re-adds a job that vanished (a Redis crash that lost writes).
import crypto from 'node:crypto';
import { Job, Queue, QueueEvents, type JobsOptions } from 'bullmq';
import { QueueError } from '../errors';
import { invalid, optionalInteger, optionsObject } from '../validate';
import { checkQueueName, checkRedisUrl, connectWithin, probeRedis, redisConnection, within } from './connection';
import { parseFailedReason, type JobFailure } from './errors';
import type { LotusJobData, LotusJobResult } from './job';
import { buildJobData, type JobRequest } from './request';

export interface ProducerOptions {
  redis: string;
  queue: string;
  /** Attempts per job (first run included) for failures that may be transient. Default 3. */
  attempts?: number;
  /** First retry delay; doubles each attempt. Default 1,000 ms. */
  backoffMs?: number;
  /** Completed jobs (and their results) stay in Redis this long. Default 1 day. */
  keepCompletedS?: number;
  /** Failed jobs stay in Redis this long. Default 7 days. */
  keepFailedS?: number;
  /** Largest image sent as bytes in a job. Default 16 MiB. */
  maxInputBytes?: number;
  /** How long open() waits for Redis. Default 10,000 ms. */
  connectTimeoutMs?: number;
}

export interface SubmittedJob {
  id: string;
  name: string | undefined;
}

export type JobOutcome =
  | { id: string; name: string | undefined; state: 'completed'; result: LotusJobResult }
  | { id: string; name: string | undefined; state: 'failed'; failure: JobFailure; attempts: number }
  /** Only when wait() timed out. */
  | { id: string; name: string | undefined; state: 'pending' };

export interface WaitOptions {
  /** Called once per job as it settles, with the running count. */
  onSettled?: (outcome: JobOutcome, settled: number, total: number) => void;
  /** Give up after this long; the unsettled jobs come back as 'pending'. Default: wait forever. */
  timeoutMs?: number;
  /** First quiet period after which job states are read directly (doubles up to 30 s while nothing settles). Default 2,000 ms. */
  reconcileMs?: number;
}

export interface WaitReport {
  outcomes: JobOutcome[];
  /** Jobs that vanished from Redis and were added again. */
  resubmitted: number;
}

const MiB = 1024 * 1024;
const ADD_CHUNK = 200;
const STATE_CHUNK = 100;
/** Jobs checked per reconciliation pass (the oldest pending first), so a huge backlog stays cheap. */
const RECONCILE_MAX = 5000;
/** How long submit() keeps retrying an add while Redis is unreachable. */
const ADD_RETRY_MS = 120_000;
const OPTION_KEYS = ['redis', 'queue', 'attempts', 'backoffMs', 'keepCompletedS', 'keepFailedS', 'maxInputBytes', 'connectTimeoutMs'] as const;

const sleep = (ms: number) => new Promise<void>((resolve) => { setTimeout(resolve, ms); });

export class LotusProducer {
  readonly queueName: string;
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly jobOptions: JobsOptions;
  private readonly maxInputBytes: number;
  /** Data of the jobs this producer added, for re-adding one that vanished. */
  private readonly sent = new Map<string, { name: string; data: LotusJobData }>();
  private reconnected = false;

  private constructor(options: ProducerOptions) {
    this.queueName = options.queue;
    this.maxInputBytes = options.maxInputBytes ?? 16 * MiB;
    this.jobOptions = {
      attempts: options.attempts ?? 3,
      backoff: { type: 'exponential', delay: options.backoffMs ?? 1000 },
      removeOnComplete: { age: options.keepCompletedS ?? 86_400 },
      removeOnFail: { age: options.keepFailedS ?? 7 * 86_400 },
    };
    const connection = redisConnection(options.redis);
    this.queue = new Queue(options.queue, { connection });
    this.events = new QueueEvents(options.queue, { connection });
    // Errors repeat while Redis is down; ioredis reconnects by itself. After a reconnect the next
    // wait() pass reads states directly instead of trusting that no event was missed.
    this.queue.on('error', () => { this.reconnected = true; });
    this.events.on('error', () => { this.reconnected = true; });
  }

  static async open(options: ProducerOptions): Promise<LotusProducer> {
    const o = optionsObject(options, 'options', OPTION_KEYS) as unknown as ProducerOptions;
    checkRedisUrl(o.redis, 'options.redis');
    checkQueueName(o.queue, 'options.queue');
    optionalInteger(o.attempts, 'options.attempts', { min: 1, max: 1000 });
    optionalInteger(o.backoffMs, 'options.backoffMs', { min: 0 });
    optionalInteger(o.keepCompletedS, 'options.keepCompletedS', { min: 1 });
    optionalInteger(o.keepFailedS, 'options.keepFailedS', { min: 1 });
    optionalInteger(o.maxInputBytes, 'options.maxInputBytes', { min: 1 });
    optionalInteger(o.connectTimeoutMs, 'options.connectTimeoutMs', { min: 1 });
    const connectTimeoutMs = o.connectTimeoutMs ?? 10_000;
    await probeRedis(o.redis, connectTimeoutMs);
    const producer = new LotusProducer(o);
    try {
      await connectWithin(
        Promise.all([producer.queue.waitUntilReady(), producer.events.waitUntilReady()]),
        o.redis,
        connectTimeoutMs,
      );
    } catch (error) {
      await producer.close();
      throw error;
    }
    return producer;
  }

  /** Checks every request (nothing is enqueued when one is bad), then adds them in chunks. */
  async submit(requests: readonly JobRequest[], options: { batchId?: string } = {}): Promise<SubmittedJob[]> {
    if (!Array.isArray(requests)) throw invalid('requests', 'an array of job requests', requests);
    const batchId = options.batchId ?? crypto.randomBytes(6).toString('hex');
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(batchId)) throw invalid('options.batchId', 'letters, digits, - or _ (at most 64)', batchId);
    const jobs = requests.map((request, i) => {
      const data = buildJobData(request, `requests[${i}]`, this.maxInputBytes);
      return { id: `${batchId}-${i}`, name: data.task, data };
    });
    for (let start = 0; start < jobs.length; start += ADD_CHUNK) {
      const chunk = jobs.slice(start, start + ADD_CHUNK);
      await this.addWithRetry(chunk);
      for (const job of chunk) this.sent.set(job.id, { name: job.name, data: job.data });
    }
    return jobs.map((job) => ({ id: job.id, name: job.data.name }));
  }

  /** Ids are deterministic, so adding a chunk again after an unanswered add creates no duplicates. */
  private async addWithRetry(chunk: { id: string; name: string; data: LotusJobData }[]): Promise<void> {
    const deadline = Date.now() + ADD_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.queue.addBulk(chunk.map((job) => ({ name: job.name, data: job.data, opts: { ...this.jobOptions, jobId: job.id } })));
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new QueueError(`adding jobs to ${this.queueName} failed for ${ADD_RETRY_MS / 1000} s: ${(error as Error).message}`, { cause: error });
        }
        await sleep(Math.min(200 * attempt, 2000));
      }
    }
  }

  /** Resolves when every job has completed or failed for good (or at the timeout). */
  async wait(jobs: readonly SubmittedJob[], options: WaitOptions = {}): Promise<WaitReport> {
    const total = jobs.length;
    const pending = new Map(jobs.map((job) => [job.id, job]));
    const outcomes = new Map<string, JobOutcome>();
    let resubmitted = 0;
    let wake: (() => void) | undefined;
    let lastSettled = Date.now();

    const settle = (outcome: JobOutcome) => {
      if (!pending.delete(outcome.id)) return;
      this.sent.delete(outcome.id);
      outcomes.set(outcome.id, outcome);
      lastSettled = Date.now();
      options.onSettled?.(outcome, outcomes.size, total);
      if (pending.size === 0) wake?.();
    };
    const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
      const job = pending.get(jobId);
      if (job) settle({ id: jobId, name: job.name, state: 'completed', result: returnvalue as LotusJobResult });
    };
    const onFailed = ({ jobId, failedReason }: { jobId: string; failedReason: string }) => {
      const job = pending.get(jobId);
      // The event does not say how many attempts were made; the job does.
      if (job) {
        void Job.fromId(this.queue, jobId).then(
          (j) => settle({ id: jobId, name: job.name, state: 'failed', failure: parseFailedReason(failedReason), attempts: j?.attemptsMade ?? 0 }),
          () => settle({ id: jobId, name: job.name, state: 'failed', failure: parseFailedReason(failedReason), attempts: 0 }),
        );
      }
    };
    this.events.on('completed', onCompleted);
    this.events.on('failed', onFailed);

    const reconcileFirst = options.reconcileMs ?? 2000;
    let quiet = reconcileFirst;
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    try {
      // Events settle most jobs; a pass over the states runs after a quiet period, after a reconnect,
      // and once at the start (jobs that finished before the event stream was read).
      let reconcileNow = true;
      while (pending.size > 0 && Date.now() < deadline) {
        if (reconcileNow || this.reconnected) {
          this.reconnected = false;
          const found = await this.reconcile(pending, settle);
          resubmitted += found.resubmitted;
          quiet = found.settled > 0 ? reconcileFirst : Math.min(quiet * 2, 30_000);
        }
        if (pending.size === 0) break;
        const until = Math.min(lastSettled + quiet, deadline);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.max(50, Math.min(until - Date.now(), 1000)));
        });
        wake = undefined;
        reconcileNow = Date.now() - lastSettled >= quiet;
      }
    } finally {
      this.events.off('completed', onCompleted);
      this.events.off('failed', onFailed);
    }
    const all = jobs.map((job) => outcomes.get(job.id) ?? { id: job.id, name: job.name, state: 'pending' as const });
    return { outcomes: all, resubmitted };
  }

  /** Reads the state of each pending job; settles finished ones, re-adds vanished ones. */
  private async reconcile(
    pending: Map<string, SubmittedJob>,
    settle: (outcome: JobOutcome) => void,
  ): Promise<{ settled: number; resubmitted: number }> {
    let settled = 0;
    let resubmitted = 0;
    try {
      const ids: string[] = [];
      for (const id of pending.keys()) {
        if (ids.length >= RECONCILE_MAX) break;
        ids.push(id);
      }
      for (let start = 0; start < ids.length; start += STATE_CHUNK) {
        const chunk = ids.slice(start, start + STATE_CHUNK);
        // State first, then the job: a job read as finished has its result or reason stored.
        const states = await Promise.all(chunk.map((id) => this.queue.getJobState(id)));
        const missing: string[] = [];
        await Promise.all(chunk.map(async (id, i) => {
          const state = states[i];
          const submitted = pending.get(id);
          if (submitted === undefined) return;
          if (state === 'unknown') {
            missing.push(id);
            return;
          }
          if (state !== 'completed' && state !== 'failed') return;
          const job = await Job.fromId<LotusJobData, LotusJobResult>(this.queue, id);
          if (job === undefined) return; // removed meanwhile; the next pass decides
          if (state === 'completed') {
            settle({ id, name: submitted.name, state: 'completed', result: job.returnvalue });
          } else {
            settle({ id, name: submitted.name, state: 'failed', failure: parseFailedReason(job.failedReason), attempts: job.attemptsMade });
          }
          settled++;
        }));
        const lost = missing.flatMap((id) => {
          const sent = this.sent.get(id);
          return sent ? [{ id, ...sent }] : [];
        });
        if (lost.length > 0) {
          await this.addWithRetry(lost);
          resubmitted += lost.length;
        }
      }
    } catch {
      // Redis unreachable: the next pass tries again.
      this.reconnected = true;
    }
    return { settled, resubmitted };
  }

  /** Closes the connections (bounded: a connection to a server that went away cannot hang it). */
  async close(): Promise<void> {
    await within(Promise.allSettled([this.events.close(), this.queue.close()]), 5000);
  }
}

export function openProducer(options: ProducerOptions): Promise<LotusProducer> {
  return LotusProducer.open(options);
}
