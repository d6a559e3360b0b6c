// The CPU backend's side of its onnxruntime process (host-main.ts; docs/design.md, "Worker
// threads"). Requests and results travel over the IPC channel; the child holds no reference on
// the event loop while idle, so an application that never calls close() still exits, and the
// child is killed when this process exits.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BackendUnavailableError, ModelError } from '../../errors';
import type { HostError, HostMessage, HostSessionOptions, ParentMessage, TensorData } from './protocol';

export interface OnnxHostOptions extends Omit<HostSessionOptions, 'reportProgress'> {
  onProgress?: (phase: string, step: number, steps: number) => void;
  onWarning?: (message: string) => void;
}

/** The last bytes of the child's stderr kept for an error message. */
const STDERR_TAIL_BYTES = 4096;
/** How long close() waits for the child to release its session before killing it. */
const RELEASE_TIMEOUT_MS = 10_000;

/** The compiled child script: next to this file, or (running from the TypeScript sources) under dist/. */
function hostScript(): string {
  const candidates = [
    path.join(__dirname, 'host-main.js'),
    path.join(__dirname, '..', '..', '..', 'dist', 'backends', 'onnx-host', 'host-main.js'),
  ];
  const found = candidates.find((file) => fs.existsSync(file));
  if (!found) {
    throw new BackendUnavailableError(`the CPU backend's onnxruntime process script is missing (${candidates[0]}): run npm run build:ts`);
  }
  return found;
}

// Children still running when this process exits are killed: nothing of theirs needs saving.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

function toError(error: HostError, modelPath: string, doing: string): Error {
  if (error.kind === 'unavailable') return new BackendUnavailableError(error.message);
  return new ModelError(`${modelPath}: onnxruntime ${doing}: ${error.message}`);
}

interface Pending {
  resolve: (outputs: Record<string, TensorData>) => void;
  reject: (error: Error) => void;
}

export class OnnxHost {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderrTail = '';
  private exitReason: string | undefined;
  private released: Promise<void> | undefined;

  private constructor(private readonly child: ChildProcess, private readonly modelPath: string) {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    child.on('message', (message: HostMessage) => this.onMessage(message));
    child.on('error', () => undefined); // a failed send: the exit handler reports the child's end
    child.once('exit', (code, signal) => {
      this.exitReason = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const error = this.crashError();
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    });
    this.idle();
  }

  /** Starts the process and loads the model in it; resolves once the session is ready. */
  static start(modelPath: string, options: OnnxHostOptions): Promise<OnnxHost> {
    const child = fork(hostScript(), [], {
      serialization: 'advanced',
      // stdout ignored: a CLI's --json output must not receive onnxruntime's prints.
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      execArgv: [], // not the parent's inspector or loader flags
    });
    track(child);
    const host = new OnnxHost(child, modelPath);
    host.onWarning = options.onWarning;
    return new Promise((resolve, reject) => {
      host.busy();
      const onMessage = (message: HostMessage) => {
        switch (message.type) {
          case 'progress':
            options.onProgress?.(message.phase, message.step, message.steps);
            return;
          case 'loaded':
            done();
            resolve(host);
            return;
          case 'load-failed':
            done();
            child.kill('SIGKILL');
            reject(toError(message.error, modelPath, 'could not load the model'));
            return;
        }
      };
      const onExit = () => {
        done();
        reject(host.crashError('while loading the model'));
      };
      const onSpawnError = (error: Error) => {
        done();
        reject(new BackendUnavailableError(`cannot start the CPU backend's onnxruntime process: ${error.message}`, { cause: error }));
      };
      const done = () => {
        child.off('message', onMessage);
        child.off('exit', onExit);
        child.off('error', onSpawnError);
        host.idle();
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.once('error', onSpawnError);
      const { onProgress, onWarning, ...session } = options;
      host.post({ type: 'load', modelPath, options: { ...session, reportProgress: onProgress !== undefined } });
    });
  }

  private onWarning: ((message: string) => void) | undefined;

  /** True once the process has exited (crashed, killed, or released). */
  get exited(): boolean {
    return this.exitReason !== undefined;
  }

  /** One onnxruntime run; the caller runs one at a time. */
  run(feeds: Record<string, TensorData>, fetches: string[]): Promise<Record<string, TensorData>> {
    if (this.exited || this.released) return Promise.reject(this.crashError());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.busy();
      this.post({ type: 'run', id, feeds, fetches });
    });
  }

  /** Releases the session and ends the process (killed if it does not end in time). */
  close(): Promise<void> {
    this.released ??= new Promise<void>((resolve) => {
      if (this.exited) return resolve();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), RELEASE_TIMEOUT_MS);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.busy(); // held until the child has gone
      this.post({ type: 'release' });
    });
    return this.released;
  }

  private onMessage(message: HostMessage): void {
    if (message.type === 'warning') {
      this.onWarning?.(message.message);
      return;
    }
    if (message.type !== 'result' && message.type !== 'run-failed') return;
    const request = this.pending.get(message.id);
    if (!request) return;
    this.pending.delete(message.id);
    if (this.pending.size === 0) this.idle();
    if (message.type === 'result') request.resolve(message.outputs);
    else request.reject(toError(message.error, this.modelPath, 'failed to run the model'));
  }

  private post(message: ParentMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  private crashError(doing = 'while running the model'): Error {
    const stderr = this.stderrTail.trim();
    return new ModelError(
      `${this.modelPath}: onnxruntime's process (pid ${this.child.pid}) ${this.exitReason ?? 'is not running'} ${doing}` +
      (stderr ? `; its last output: ${stderr.split('\n').slice(-5).join(' | ')}` : ''),
    );
  }

  /** Requests in flight keep this process alive until they are answered. */
  private busy(): void {
    this.child.ref();
    this.child.channel?.ref();
    (this.child.stderr as unknown as { ref?: () => void })?.ref?.();
  }

  private idle(): void {
    this.child.unref();
    this.child.channel?.unref();
    (this.child.stderr as unknown as { unref?: () => void })?.unref?.();
  }
}
