// The distributed work queue (docs/queue.md), as exported by lib/index.ts. The worker, producer
// and stats functions load BullMQ on first use, so the rest of the API does not pay for it.
import type { LotusProducer, ProducerOptions } from './producer';
import type { QueueStats, QueueStatsOptions } from './stats';
import type { LotusQueueWorker, QueueWorkerOptions } from './worker';

/** Starts a queue worker: loads the model, connects to Redis and takes jobs. */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<LotusQueueWorker> {
  const { startWorker } = await import('./worker.js');
  return startWorker(options);
}

/** Connects a producer that enqueues jobs and waits for their outcomes. */
export async function openQueueProducer(options: ProducerOptions): Promise<LotusProducer> {
  const { openProducer } = await import('./producer.js');
  return openProducer(options);
}

/** Job counts, workers, throughput and failures by reason of one queue. */
export async function readQueueStats(options: QueueStatsOptions): Promise<QueueStats> {
  const stats = await import('./stats.js');
  return stats.readQueueStats(options);
}

export type { LotusProducer, ProducerOptions, JobOutcome, SubmittedJob, WaitOptions, WaitReport } from './producer';
export type { QueueStats, QueueStatsOptions } from './stats';
export type { CloseReport, LotusQueueWorker, QueueWorkerEvent, QueueWorkerOptions, QueueWorkerStats } from './worker';
export { buildJobData, returnedOutput } from './request';
export type { JobRequest } from './request';
export { JOB_FORMAT_VERSION, INPUT_URL_SCHEMES, validateJobData } from './job';
export type { JobEstimateOptions, JobInput, JobOutput, LotusJobData, LotusJobResult } from './job';
export { JobError, parseFailedReason } from './errors';
export type { JobFailure, JobFailureCode } from './errors';
export { DEFAULT_FORMATS, FORMATS } from '../io/output-formats';
export type { OutputFormat } from '../io/output-formats';
export type { Task as QueueTask } from '../model/metadata';
