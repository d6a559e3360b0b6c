// The onnxruntime process of a CPU backend (started by host-process.ts with child_process.fork).
// onnxruntime-node runs session.run() synchronously on the calling thread; here that thread is this
// process's, so the application's event loop never waits on it, and killing this process at any
// moment is safe (a worker thread terminated mid-run aborts the whole process instead).
//
// One session per process; one run at a time (the parent queues). Exits when the parent releases
// the session or goes away (IPC disconnect), after the run in progress, if any.
import type * as ort from 'onnxruntime-node';
import { BackendUnavailableError } from '../../errors';
import { createCpuSession } from '../cpu-session';
import { onnxruntime } from '../onnxruntime';
import type { HostError, HostMessage, ParentMessage, TensorData } from './protocol';

let session: ort.InferenceSession | undefined;

function send(message: HostMessage): void {
  // A parent that is gone cannot be told; the disconnect handler ends this process.
  if (process.connected) process.send!(message);
}

function hostError(error: unknown): HostError {
  const message = error instanceof Error ? error.message : String(error);
  return { kind: error instanceof BackendUnavailableError ? 'unavailable' : 'model', message };
}

function toTensor(runtime: typeof ort, tensor: TensorData): ort.Tensor {
  return new runtime.Tensor(tensor.type, tensor.data, tensor.dims);
}

function fromTensor(tensor: ort.Tensor): TensorData {
  if (tensor.type !== 'float32' && tensor.type !== 'float16') {
    throw new Error(`output of type ${tensor.type}, expected float32 or float16`);
  }
  return { type: tensor.type, data: tensor.data as Float32Array | Uint16Array, dims: [...tensor.dims] };
}

async function load(message: Extract<ParentMessage, { type: 'load' }>): Promise<void> {
  try {
    onnxruntime(); // BackendUnavailableError when it cannot load, told apart from a bad model
    const { reportProgress, ...options } = message.options;
    const loaded = await createCpuSession({ path: message.modelPath }, {
      ...options,
      onProgress: reportProgress ? (phase, step, steps) => send({ type: 'progress', phase, step, steps }) : undefined,
      onWarning: (warning) => send({ type: 'warning', message: warning }),
    });
    session = loaded.session;
    send({ type: 'loaded' });
  } catch (error) {
    send({ type: 'load-failed', error: hostError(error) });
  }
}

async function run(message: Extract<ParentMessage, { type: 'run' }>): Promise<void> {
  try {
    if (!session) throw new Error('no session is loaded');
    const runtime = onnxruntime();
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(message.feeds)) feeds[name] = toTensor(runtime, tensor);
    const outputs = await session.run(feeds, message.fetches);
    const result: Record<string, TensorData> = {};
    for (const name of message.fetches) result[name] = fromTensor(outputs[name]!);
    send({ type: 'result', id: message.id, outputs: result });
  } catch (error) {
    send({ type: 'run-failed', id: message.id, error: hostError(error) });
  }
}

async function release(): Promise<never> {
  await session?.release().catch(() => undefined);
  session = undefined;
  process.exit(0); // the parent's close() waits for this exit
}

// Messages are handled in order: a run never starts before the load that precedes it has finished.
let queue: Promise<void> = Promise.resolve();
process.on('message', (message: ParentMessage) => {
  queue = queue.then(() => {
    switch (message.type) {
      case 'load': return load(message);
      case 'run': return run(message);
      case 'release': return release();
    }
  });
});
// Terminal and service-manager signals reach the whole process group; the parent decides when this
// process ends (release, disconnect, or SIGKILL when it exits), so a request in flight can finish.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
process.on('disconnect', () => {
  queue = queue.then(() => release());
});
