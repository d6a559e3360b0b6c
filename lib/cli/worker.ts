// `lotus worker`: takes depth/normal jobs from a Redis queue until SIGTERM/SIGINT. The first
// signal finishes the jobs in flight (up to --shutdown-timeout), a second hands them back at once.
import path from 'node:path';
import { redactRedisUrl } from '../queue/connection';
import { startQueueWorker } from '../queue/index';
import type { QueueWorkerEvent } from '../queue/worker';
import { choiceOption, flag, intOption, parse, requireString, stringOption } from './args';
import { MAX_IMAGE_SIDE } from '../estimator/options';
import { BACKENDS, MODEL_OPTIONS, printWarning } from './common';

const COMMAND = 'worker';
/** Text mode prints a status line this often (when something changed). */
const STATUS_EVERY_MS = 10_000;
/** Repeated connection errors (Redis down) are printed at most this often. */
const ERROR_EVERY_MS = 5_000;

export async function workerCommand(argv: string[]): Promise<number> {
  const { values } = parse(COMMAND, argv, {
    ...MODEL_OPTIONS,
    redis: { type: 'string' },
    queue: { type: 'string' },
    concurrency: { type: 'string' },
    'processing-resolution': { type: 'string' },
    'cpu-threads': { type: 'string' },
    device: { type: 'string' },
    'metrics-port': { type: 'string' },
    'metrics-host': { type: 'string' },
    'lock-duration': { type: 'string' },
    'stalled-interval': { type: 'string' },
    'max-stalled': { type: 'string' },
    'max-input-bytes': { type: 'string' },
    'max-result-bytes': { type: 'string' },
    'input-root': { type: 'string' },
    'output-root': { type: 'string' },
    'shutdown-timeout': { type: 'string' },
    name: { type: 'string' },
    log: { type: 'string' },
  }, false);
  const redis = requireString(COMMAND, values, 'redis');
  const queue = requireString(COMMAND, values, 'queue');
  const model = requireString(COMMAND, values, 'model');
  const backend = choiceOption(COMMAND, values, 'backend', BACKENDS) ?? 'auto';
  const concurrency = intOption(COMMAND, values, 'concurrency', { min: 1, max: 1024 }) ?? 2;
  const processingResolution = intOption(COMMAND, values, 'processing-resolution', { min: 0, max: MAX_IMAGE_SIDE });
  const cpuThreads = intOption(COMMAND, values, 'cpu-threads', { min: 0, max: 1024 });
  const device = intOption(COMMAND, values, 'device', { min: 0, max: 1023 });
  const metricsPort = intOption(COMMAND, values, 'metrics-port', { min: 0, max: 65535 });
  const metricsHost = stringOption(values, 'metrics-host') ?? '127.0.0.1';
  const lockDurationMs = intOption(COMMAND, values, 'lock-duration', { min: 100 });
  const stalledIntervalMs = intOption(COMMAND, values, 'stalled-interval', { min: 100 });
  const maxStalledCount = intOption(COMMAND, values, 'max-stalled', { min: 0, max: 1000 });
  const maxInputBytes = intOption(COMMAND, values, 'max-input-bytes', { min: 1 });
  const maxResultBytes = intOption(COMMAND, values, 'max-result-bytes', { min: 0 });
  const shutdownTimeoutS = intOption(COMMAND, values, 'shutdown-timeout', { min: 0, max: 86_400 }) ?? 30;
  const inputRoot = stringOption(values, 'input-root');
  const outputRoot = stringOption(values, 'output-root');
  const cacheDir = stringOption(values, 'cache-dir');
  const name = stringOption(values, 'name');
  const log = choiceOption(COMMAND, values, 'log', ['text', 'json'] as const) ?? (flag(values, 'json') ? 'json' : 'text');

  const emit = log === 'json'
    ? (record: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`)
    : undefined;
  let lastError = { message: '', at: 0 };
  const onEvent = (event: QueueWorkerEvent) => {
    if (emit) {
      emit(event);
      return;
    }
    if (event.type === 'failed') {
      process.stderr.write(`lotus: job ${event.jobId} attempt ${event.attempt} failed${event.final ? '' : ' (will retry)'}: ${event.code}: ${event.message}\n`);
    } else if (event.type === 'stalled') {
      process.stderr.write(`lotus: job ${event.jobId} was stalled (its worker stopped) and is back in the queue\n`);
    } else if (event.type === 'error') {
      const now = Date.now();
      if (event.message !== lastError.message || now - lastError.at > ERROR_EVERY_MS) {
        process.stderr.write(`lotus: queue connection: ${event.message}\n`);
        lastError = { message: event.message, at: now };
      }
    }
  };

  // Before the worker takes jobs a signal just ends the process (a TensorRT build can take
  // minutes); after, the first one closes gracefully and a second hands the jobs back.
  const interrupt = new AbortController();
  let started = false;
  const stopRequested = new Promise<string>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (!started) {
        process.stderr.write(`lotus worker: ${signal} during startup\n`);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      signals++;
      if (signals === 1) resolve(signal);
      else interrupt.abort();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });

  const worker = await startQueueWorker({
    redis,
    queue,
    model,
    estimatorOptions: {
      backend,
      ...(processingResolution !== undefined ? { processingResolution } : {}),
      cpu: { ...(cpuThreads !== undefined ? { intraOpThreads: cpuThreads } : {}), ...(cacheDir !== undefined ? { cacheDir } : {}) },
      ...(device !== undefined ? { device } : {}),
      ...(cacheDir !== undefined ? { tensorrt: { cacheDir } } : {}),
      onWarning: printWarning,
    },
    concurrency,
    ...(lockDurationMs !== undefined ? { lockDurationMs } : {}),
    ...(stalledIntervalMs !== undefined ? { stalledIntervalMs } : {}),
    ...(maxStalledCount !== undefined ? { maxStalledCount } : {}),
    ...(maxInputBytes !== undefined ? { maxInputBytes } : {}),
    ...(maxResultBytes !== undefined ? { maxResultBytes } : {}),
    ...(inputRoot !== undefined ? { inputRoot: path.resolve(inputRoot) } : {}),
    ...(outputRoot !== undefined ? { outputRoot: path.resolve(outputRoot) } : {}),
    ...(name !== undefined ? { name } : {}),
    shutdownTimeoutMs: shutdownTimeoutS * 1000,
    onEvent,
  });

  started = true;
  let metricsUrl: string | undefined;
  let server: import('node:http').Server | undefined;
  try {
    if (metricsPort !== undefined) {
      const { collectDefaultMetrics } = await import('prom-client');
      const { serveMetrics } = await import('../queue/metrics.js');
      collectDefaultMetrics({ register: worker.metrics.registry });
      server = await serveMetrics(worker.metrics.registry, metricsPort, metricsHost);
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : metricsPort;
      metricsUrl = `http://${metricsHost.includes(':') ? `[${metricsHost}]` : metricsHost}:${port}/metrics`;
    }
  } catch (error) {
    await worker.close({ timeoutMs: 0 });
    throw error;
  }

  const m = worker.estimator.model;
  if (m.randomWeights) {
    printWarning(`${path.basename(model)} was exported from random weights (a test model): its predictions are noise.`);
  }
  const ready = {
    worker: worker.name, queue, redis: redactRedisUrl(redis), model: m.path, task: m.task,
    backend: worker.estimator.backend, concurrency, metrics: metricsUrl ?? null,
  };
  if (emit) emit({ type: 'ready', ...ready });
  else {
    process.stderr.write(`lotus worker ${worker.name}: queue "${queue}" on ${ready.redis}, ${m.task} model ${path.basename(m.path)} on ${ready.backend}, concurrency ${concurrency}${metricsUrl ? `, metrics at ${metricsUrl}` : ''}\n`);
  }

  // Status line in text mode.
  let lastStatus = { at: Date.now(), completed: 0, failed: 0 };
  const status = emit ? undefined : setInterval(() => {
    const s = worker.stats();
    if (s.completed === lastStatus.completed && s.failed === lastStatus.failed && s.active === 0) return;
    const now = Date.now();
    const rate = (s.completed - lastStatus.completed) / ((now - lastStatus.at) / 1000);
    process.stderr.write(`lotus worker ${worker.name}: ${s.completed} done, ${s.failed} failed, ${rate.toFixed(1)} jobs/s, ${s.active} active\n`);
    lastStatus = { at: now, completed: s.completed, failed: s.failed };
  }, STATUS_EVERY_MS);

  const signal = await stopRequested;
  const inFlight = worker.stats().active;
  if (emit) emit({ type: 'stopping', signal, inFlight });
  else if (inFlight > 0) {
    process.stderr.write(`lotus worker ${worker.name}: ${signal}: finishing ${inFlight} job(s) in flight (up to ${shutdownTimeoutS} s; send it again to hand them back now)\n`);
  }
  const report = await worker.close({ signal: interrupt.signal });
  if (status) clearInterval(status);
  if (server) await new Promise<void>((resolve) => { server!.close(() => resolve()); });
  const s = worker.stats();
  if (emit) emit({ type: 'stopped', ...report, completed: s.completed, failed: s.failed });
  else {
    process.stderr.write(`lotus worker ${worker.name}: stopped: ${s.completed} done, ${s.failed} failed${report.handedBack > 0 ? `, ${report.handedBack} handed back` : ''}\n`);
  }
  // Everything is closed; should a connection linger anyway, do not keep the process alive for it.
  setTimeout(() => process.exit(0), 5000).unref();
  return 0;
}
