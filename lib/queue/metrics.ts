// Prometheus metrics of one queue worker (prom-client), and the small HTTP server that exposes
// them. Per-process counters (completed, failures by reason) add up across a fleet in Prometheus;
// the queue-wide job counts are read from Redis at scrape time.
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { JobFailureCode } from './errors';

/** Queue-wide counts by state, as BullMQ's getJobCounts() returns them. */
export type JobCountsReader = () => Promise<Record<string, number>>;

export const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly completed: Counter;
  readonly failures: Counter<'reason' | 'final'>;
  readonly duration: Histogram;
  readonly active: Gauge;
  readonly info: Gauge<'worker' | 'model' | 'task' | 'backend' | 'concurrency'>;

  constructor(queue: string, readCounts: JobCountsReader) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ queue });
    this.completed = new Counter({
      name: 'lotus_queue_jobs_completed_total',
      help: 'Jobs this worker completed',
      registers,
    });
    this.failures = new Counter({
      name: 'lotus_queue_job_failures_total',
      help: 'Failed job attempts of this worker by reason (job failure code); final="true" when the job went to the failed set',
      labelNames: ['reason', 'final'],
      registers,
    });
    this.duration = new Histogram({
      name: 'lotus_queue_job_duration_seconds',
      help: 'Time from taking a job to finishing it (read input, inference, encode, write), completed jobs',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.active = new Gauge({
      name: 'lotus_queue_jobs_active',
      help: 'Jobs this worker is processing now',
      registers,
    });
    this.info = new Gauge({
      name: 'lotus_queue_worker_info',
      help: 'Constant 1, labelled with what this worker runs',
      labelNames: ['worker', 'model', 'task', 'backend', 'concurrency'],
      registers,
    });
    new Gauge({
      name: 'lotus_queue_jobs',
      help: 'Jobs in the queue by state (whole queue, read from Redis at scrape time; absent when Redis cannot be reached)',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        let counts: Record<string, number>;
        try {
          counts = await readCounts();
        } catch {
          return; // Redis unreachable: no samples, rather than stale ones.
        }
        for (const state of JOB_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
  }

  recordFailure(code: JobFailureCode, final: boolean): void {
    this.failures.inc({ reason: code, final: final ? 'true' : 'false' });
  }
}

/** Serves GET /metrics from `registry`; resolves once listening. */
export async function serveMetrics(registry: Registry, port: number, host: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
