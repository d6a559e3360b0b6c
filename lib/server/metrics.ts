// GET /metrics: Prometheus text through prom-client, in a registry of the server's own (several
// servers in one process do not share series). Requests by route and status, latency, queue depth,
// admitted requests, images waiting in the batcher, batch sizes, per-device load and GPU pools, and
// the process's own metrics (resident memory, event loop lag, heap).
import client from 'prom-client';
import type { EstimatorStats } from '../estimator/estimator';

export class ServerMetrics {
  readonly registry = new client.Registry();
  readonly requests: client.Counter<'route' | 'status'>;
  readonly latency: client.Histogram<'route' | 'status'>;
  readonly batchSize: client.Histogram;
  readonly batchDuration: client.Histogram;
  private stats: () => EstimatorStats | undefined = () => undefined;

  constructor() {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    this.requests = new client.Counter({
      name: 'lotus_http_requests_total', help: 'HTTP requests answered, by route and status code', labelNames: ['route', 'status'], registers,
    });
    this.latency = new client.Histogram({
      name: 'lotus_http_request_duration_seconds',
      help: 'Time from a request\'s arrival to the end of its response, by route and status code',
      labelNames: ['route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60],
      registers,
    });
    this.batchSize = new client.Histogram({
      name: 'lotus_batch_size', help: 'Images per network call', buckets: [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64], registers,
    });
    this.batchDuration = new client.Histogram({
      name: 'lotus_batch_duration_seconds', help: 'Wall time of each network call (backend run)',
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30], registers,
    });
    const gauge = (name: string, help: string, read: (s: EstimatorStats) => number) => this.gaugeFrom(name, help, read);
    gauge('lotus_queue_depth', 'Requests waiting for admission (bounded by the max queue)', (s) => s.queued);
    gauge('lotus_requests_active', 'Requests admitted: decoding, waiting for company or a backend slot, or running', (s) => s.active);
    gauge('lotus_batching_pending_images', 'Images waiting in the batcher for company or a backend slot', (s) => s.batching);
    const stats = () => this.stats();
    new client.Gauge({
      name: 'lotus_device_in_flight', help: 'Network calls running or waiting for a lane, per device', labelNames: ['device'], registers,
      collect() {
        this.reset();
        for (const d of stats()?.devices ?? []) this.set({ device: String(d.device) }, d.inFlight);
      },
    });
    new client.Gauge({
      name: 'lotus_gpu_memory_bytes',
      help: 'TensorRT buffer pools per device: bytes leased (in_use) and kept idle for reuse (cached), device and pinned host pools',
      labelNames: ['device', 'pool', 'state'],
      registers,
      collect() {
        this.reset();
        for (const d of stats()?.devices ?? []) {
          if (!d.memory) continue;
          for (const pool of ['device', 'pinned'] as const) {
            this.set({ device: String(d.device), pool, state: 'in_use' }, d.memory[pool].bytesInUse);
            this.set({ device: String(d.device), pool, state: 'cached' }, d.memory[pool].bytesCached);
          }
        }
      },
    });
  }

  /** Where the estimator gauges read from (undefined until the model has loaded). */
  watch(stats: () => EstimatorStats | undefined): void {
    this.stats = stats;
  }

  private gaugeFrom(name: string, help: string, read: (s: EstimatorStats) => number): client.Gauge {
    const stats = () => this.stats();
    return new client.Gauge({
      name, help, registers: [this.registry],
      collect() {
        const current = stats();
        this.set(current ? read(current) : 0);
      },
    });
  }
}
