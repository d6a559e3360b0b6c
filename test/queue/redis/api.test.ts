// The queue API against a real redis-server, in process: producer and worker objects, returned
// outputs, http inputs, a job that vanished from Redis, queue-stats and the worker's metrics.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createEstimator, openQueueProducer, readQueueStats, returnedOutput, startQueueWorker,
  type DepthResult, type LotusEstimator, type LotusQueueWorker, type QueueWorkerEvent,
} from '../../../lib/index';
import { DEPTH_MODEL, RESOLUTION, RedisServer, findRedisServer, jsonResult, lotus, until } from './harness';

const REDIS = findRedisServer();
const describeRedis = REDIS ? describe : describe.skip;
if (!REDIS) console.warn('queue API tests skipped: redis-server not found (apt-get install redis-server; .ci/run installs it)');

const IMAGE = path.join(__dirname, '..', '..', 'fixtures', 'images', 'gradient-64x48.png');

let redis: RedisServer;
let estimator: LotusEstimator;
let expected: DepthResult;
let work: string;
let server: http.Server;
let httpBase: string;

beforeAll(async () => {
  if (!REDIS) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-queue-api-'));
  redis = await RedisServer.start(REDIS);
  estimator = await createEstimator(DEPTH_MODEL, { backend: 'cpu', cpu: { intraOpThreads: 1 }, onWarning: () => undefined });
  expected = (await estimator.estimate(IMAGE, { processingResolution: RESOLUTION })) as DepthResult;
  server = http.createServer((req, res) => {
    if (req.url === '/gradient.png') fs.createReadStream(IMAGE).pipe(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  httpBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
  await estimator?.close();
  await redis?.dispose();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

async function withWorker<T>(queue: string, run: (worker: LotusQueueWorker, events: QueueWorkerEvent[]) => Promise<T>): Promise<T> {
  const events: QueueWorkerEvent[] = [];
  const worker = await startQueueWorker({
    redis: redis.url, queue, model: estimator, concurrency: 2, onEvent: (e) => events.push(e), outputRoot: work,
  });
  try {
    return await run(worker, events);
  } finally {
    const report = await worker.close();
    expect(report).toEqual({ drained: true, handedBack: 0 });
  }
}

describeRedis('queue API (real redis-server)', () => {
  test('returned outputs, http and file: inputs, output root: results equal estimate()', async () => {
    const producer = await openQueueProducer({ redis: redis.url, queue: 'api', attempts: 2, backoffMs: 50 });
    try {
      await withWorker('api', async (worker) => {
        const options = { processingResolution: RESOLUTION };
        const jobs = await producer.submit([
          { task: 'depth', input: fs.readFileSync(IMAGE), outputs: [{ format: 'npy' }, { format: 'color' }], options },
          { task: 'depth', input: `${httpBase}/gradient.png`, outputs: [{ format: 'npy', path: path.join(work, 'http.npy') }], options },
          { task: 'depth', input: `file://${IMAGE}`, outputs: [{ format: 'png16' }], options },
          { task: 'depth', input: `${httpBase}/missing.png`, outputs: [{ format: 'npy' }], options },
          { task: 'depth', input: IMAGE, outputs: [{ format: 'npy', path: '/tmp/outside-the-root.npy' }], options },
        ]);
        const settled: string[] = [];
        const { outcomes } = await producer.wait(jobs, { onSettled: (o) => settled.push(o.id), timeoutMs: 60_000 });
        expect(settled.sort()).toEqual(jobs.map((j) => j.id).sort());
        const [bytes, fromHttp, fromFile, missing, outside] = outcomes;
        expect(bytes!.state).toBe('completed');
        if (bytes!.state === 'completed') {
          expect(returnedOutput(bytes!.result, 'npy')!.equals(expected.toNpy())).toBe(true);
          expect(returnedOutput(bytes!.result, 'color')!.equals(await expected.toColorizedPng())).toBe(true);
          expect(bytes!.result).toMatchObject({ width: 64, height: 48, worker: worker.name, backend: 'cpu' });
        }
        expect(fromHttp!.state).toBe('completed');
        expect(fs.readFileSync(path.join(work, 'http.npy')).equals(expected.toNpy())).toBe(true);
        expect(fromFile!.state === 'completed' && returnedOutput(fromFile!.result, 'png16')!.equals(await expected.to16BitPng())).toBe(true);
        expect(missing).toMatchObject({ state: 'failed', attempts: 2, failure: { code: 'ERR_LOTUS_INPUT_MISSING' } });
        expect(outside).toMatchObject({ state: 'failed', attempts: 1, failure: { code: 'ERR_LOTUS_JOB_INVALID' } });
        // The worker counts a job after BullMQ recorded it, which the producer may hear of first.
        await until('the worker counted every job', () => worker.stats().completed + worker.stats().failed === 5, 5000);
        expect(worker.stats()).toMatchObject({ completed: 3, failed: 2, retried: 1, active: 0 });
        expect(worker.stats().failuresByReason).toEqual({ ERR_LOTUS_INPUT_MISSING: 1, ERR_LOTUS_JOB_INVALID: 1 });
      });
    } finally {
      await producer.close();
    }
  });

  test('a job that vanished from Redis is added again by the waiting producer', async () => {
    const producer = await openQueueProducer({ redis: redis.url, queue: 'vanish' });
    const queue = new Queue('vanish', { connection: { url: redis.url } });
    try {
      const jobs = await producer.submit([0, 1, 2].map(() => ({
        task: 'depth' as const, input: IMAGE, outputs: [{ format: 'npy' as const }], options: { processingResolution: RESOLUTION },
      })));
      // As a Redis crash without fsync would: the job is gone before any worker saw it.
      expect(await queue.remove(jobs[1]!.id)).toBe(1);
      const report = await withWorker('vanish', () => producer.wait(jobs, { reconcileMs: 200, timeoutMs: 60_000 }));
      expect(report.resubmitted).toBe(1);
      expect(report.outcomes.map((o) => o.state)).toEqual(['completed', 'completed', 'completed']);
    } finally {
      await queue.close();
      await producer.close();
    }
  });

  test('submitting again with the same batch id adds nothing and finds the outcomes', async () => {
    const producer = await openQueueProducer({ redis: redis.url, queue: 'again' });
    try {
      const requests = [0, 1].map(() => ({
        task: 'depth' as const, input: IMAGE, outputs: [{ format: 'npy' as const }], options: { processingResolution: RESOLUTION },
      }));
      const first = await withWorker('again', async () => {
        const jobs = await producer.submit(requests, { batchId: 'fixed' });
        return producer.wait(jobs, { timeoutMs: 60_000 });
      });
      expect(first.outcomes.map((o) => o.state)).toEqual(['completed', 'completed']);
      // No worker now: only the jobs already completed can settle.
      const jobs = await producer.submit(requests, { batchId: 'fixed' });
      expect(jobs.map((j) => j.id)).toEqual(['fixed-0', 'fixed-1']);
      const report = await producer.wait(jobs, { timeoutMs: 10_000 });
      expect(report.outcomes.map((o) => o.state)).toEqual(['completed', 'completed']);
      const stats = await readQueueStats({ redis: redis.url, queue: 'again', sampleMs: 0 });
      expect(stats.counts).toMatchObject({ waiting: 0, completed: 2 });
    } finally {
      await producer.close();
    }
  });

  test('queue-stats and metrics report depth, rates and failures by reason', async () => {
    const producer = await openQueueProducer({ redis: redis.url, queue: 'stats', attempts: 1 });
    try {
      // Queued with no worker: depth shows as waiting.
      const jobs = await producer.submit([
        ...Array.from({ length: 6 }, () => ({ task: 'depth' as const, input: IMAGE, outputs: [{ format: 'npy' as const }], options: { processingResolution: RESOLUTION } })),
        { task: 'depth', input: Buffer.from('garbage'), outputs: [{ format: 'npy' }] },
      ]);
      const waiting = await readQueueStats({ redis: redis.url, queue: 'stats', sampleMs: 0 });
      expect(waiting.counts).toMatchObject({ waiting: 7, active: 0, completed: 0, failed: 0 });
      expect(waiting.workers).toBe(0);

      await withWorker('stats', async (worker) => {
        await producer.wait(jobs, { timeoutMs: 60_000 });
        await until('the worker counted every job', () => worker.stats().completed + worker.stats().failed === 7, 5000);
        const metrics = await worker.metrics.registry.metrics();
        expect(metrics).toMatch(/^lotus_queue_jobs\{state="completed",queue="stats"\} 6$/m);
        expect(metrics).toMatch(/^lotus_queue_job_failures_total\{reason="ERR_LOTUS_IMAGE",final="true",queue="stats"\} 1$/m);
        const run = await jsonResult(lotus(['queue-stats', '--redis', redis.url, '--queue', 'stats', '--sample', '200', '--json']), 30_000);
        expect(run.code).toBe(0);
        expect(run.doc).toMatchObject({
          counts: { waiting: 0, completed: 6, failed: 1 },
          workers: 1,
          totals: { completed: 6, failed: 1 },
          failuresByReason: { ERR_LOTUS_IMAGE: 1 },
          scanned: 1,
          now: { completedPerS: 0, failedPerS: 0 },
        });
        const text = lotus(['queue-stats', '--redis', redis.url, '--queue', 'stats', '--sample', '0']);
        expect(await text.exited).toBe(0);
        expect(text.stdout()).toMatch(/waiting 0, prioritized 0, delayed \(retry backoff\) 0, active 0, completed 6, failed 1/);
        expect(text.stdout()).toMatch(/failures by reason \(newest 1 failed jobs\):\n {4}ERR_LOTUS_IMAGE 1/);
      });
    } finally {
      await producer.close();
    }
  });
});
