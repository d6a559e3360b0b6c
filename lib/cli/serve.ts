// `lotus serve --model <onnx>`: the HTTP server (lib/server/server.ts) with its options, a start line
// saying where it listens and on which backend, and SIGTERM / SIGINT: stop accepting, answer what was
// accepted, close the estimator, exit 0 (1 when the drain deadline passed first; a second signal
// exits at once).
import { MAX_IMAGE_SIDE, type EstimatorOptions } from '../estimator/options';
import { LotusServer, SERVER_DEFAULTS } from '../server/server';
import { choiceOption, intOption, parse, requireString, stringOption, UsageError } from './args';
import { BACKENDS, MODEL_OPTIONS, printWarning } from './common';

const COMMAND = 'serve';
export const SERVE_DEFAULTS = { maxQueue: 64, batchDelayMs: 2, drainTimeoutMs: 30_000 } as const;

function deviceOption(values: Record<string, unknown>): EstimatorOptions['device'] {
  const text = stringOption(values as never, 'device');
  if (text === undefined) return undefined;
  if (text === 'all') return 'all';
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => !/^\d{1,4}$/.test(s))) throw new UsageError(`--device must be an index, a comma-separated list of indices, or all; got "${text}"`, COMMAND);
  const devices = items.map(Number);
  return devices.length === 1 ? devices[0] : devices;
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(COMMAND, argv, {
    model: MODEL_OPTIONS.model!,
    backend: MODEL_OPTIONS.backend!,
    'cache-dir': MODEL_OPTIONS['cache-dir']!,
    help: MODEL_OPTIONS.help!,
    host: { type: 'string' },
    port: { type: 'string' },
    device: { type: 'string' },
    'processing-resolution': { type: 'string' },
    'batch-max': { type: 'string' },
    'batch-delay-ms': { type: 'string' },
    'max-queue': { type: 'string' },
    'max-body-mib': { type: 'string' },
    'max-input-pixels': { type: 'string' },
    'request-timeout-ms': { type: 'string' },
    'drain-timeout-ms': { type: 'string' },
    'cpu-threads': { type: 'string' },
  }, false);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, COMMAND);
  const model = requireString(COMMAND, values, 'model');
  const batchMax = intOption(COMMAND, values, 'batch-max', { min: 1, max: 1024 });
  const batchDelayMs = intOption(COMMAND, values, 'batch-delay-ms', { min: 0, max: 60_000 }) ?? SERVE_DEFAULTS.batchDelayMs;
  const cpuThreads = intOption(COMMAND, values, 'cpu-threads', { min: 1, max: 1024 });
  const maxBodyMiB = intOption(COMMAND, values, 'max-body-mib', { min: 1, max: 4096 });
  const maxInputPixels = intOption(COMMAND, values, 'max-input-pixels', { min: 1 });
  const processingResolution = intOption(COMMAND, values, 'processing-resolution', { min: 0, max: MAX_IMAGE_SIDE });
  const cacheDir = stringOption(values, 'cache-dir');
  const device = deviceOption(values);
  const drainTimeoutMs = intOption(COMMAND, values, 'drain-timeout-ms', { min: 0 }) ?? SERVE_DEFAULTS.drainTimeoutMs;
  const maxQueue = intOption(COMMAND, values, 'max-queue', { min: 0 }) ?? SERVE_DEFAULTS.maxQueue;
  // --batch-max N is the backend's batch limit too (cpu.maxBatch; the TensorRT engine is built for it); 1 turns batching off.
  const estimator: EstimatorOptions = {
    backend: choiceOption(COMMAND, values, 'backend', BACKENDS) ?? 'auto',
    maxQueue,
    ...(batchMax === undefined || batchMax > 1 ? { batching: { maxDelayMs: batchDelayMs, ...(batchMax ? { maxBatch: batchMax } : {}) } } : {}),
    tensorrt: { ...(batchMax ? { maxBatch: batchMax } : {}), ...(cacheDir ? { cacheDir } : {}) },
    cpu: { ...(batchMax ? { maxBatch: batchMax } : {}), ...(cpuThreads ? { intraOpThreads: cpuThreads } : {}), ...(cacheDir ? { cacheDir } : {}) },
    ...(device === undefined ? {} : { device }),
    ...(processingResolution === undefined ? {} : { processingResolution }),
    ...(maxInputPixels === undefined ? {} : { maxInputPixels }),
    onWarning: printWarning,
  };
  const server = await LotusServer.listen({
    model,
    host: stringOption(values, 'host') ?? SERVER_DEFAULTS.host,
    port: intOption(COMMAND, values, 'port', { min: 0, max: 65535 }) ?? SERVER_DEFAULTS.port,
    estimator,
    ...(maxBodyMiB ? { maxBodyBytes: maxBodyMiB * 2 ** 20 } : {}),
    ...(values['request-timeout-ms'] !== undefined ? { requestTimeoutMs: intOption(COMMAND, values, 'request-timeout-ms', { min: 1, max: 2 ** 31 - 1 }) } : {}),
  });
  process.stderr.write(`lotus serve: ${server.url}: loading ${model}\n`);

  let stopping: Promise<number> | undefined;
  let stopped: (code: Promise<number>) => void = () => undefined;
  const exitCode = new Promise<number>((resolve) => { stopped = resolve; });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`lotus serve: ${signal} again: exiting now\n`);
      process.exit(1);
    }
    process.stderr.write(`lotus serve: ${signal}: not accepting new connections; answering the requests in flight (deadline ${drainTimeoutMs} ms)\n`);
    stopping = server.shutdown(drainTimeoutMs).then((report) => {
      process.stderr.write(`lotus serve: ${report.drained ? 'drained' : 'deadline passed, connections cut'}; ${report.accepted} requests accepted, ${report.answered} answered\n`);
      const code = report.drained ? 0 : 1;
      // Work cut at the deadline may still hold the event loop: exit regardless, shortly.
      setTimeout(() => process.exit(code), report.drained ? 2000 : 0).unref();
      return code;
    });
    stopped(stopping);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  try {
    const loaded = await server.ready;
    const stats = loaded.stats();
    const batching = stats.maxBatch > 1 ? `batches of up to ${stats.maxBatch} within ${batchDelayMs} ms` : 'no batching';
    const devices = stats.devices.map((d) => d.device).join(',');
    process.stdout.write(`lotus serve: listening on ${server.url} (backend ${loaded.backend} on ${devices}; ${loaded.model.task} ${loaded.model.mode} model ${model}; ${batching}; max queue ${maxQueue})\n`);
  } catch (error) {
    if (!stopping) {
      await server.shutdown(0);
      throw error;
    }
  }
  // Serves until a signal: the listening server keeps the event loop alive.
  return exitCode;
}
