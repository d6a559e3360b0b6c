// One request's cancellation: the caller's AbortSignal and its timeoutMs merged into one internal
// signal, which the admission queue and the batcher watch. The caller's promise settles as soon as
// either fires; the work itself stops at its next checkpoint (a queued request leaves the queue, a
// running one finishes and its result is dropped). Listeners and timers go when the request ends,
// so a long-lived caller signal does not collect one listener per request.
import { AbortedError, TimeoutError } from '../errors';

// One listener per caller signal, however many requests use it (a server's shutdown signal shared by
// every request would otherwise pass Node's 10-listener warning): it fans out to the requests.
const watchers = new WeakMap<AbortSignal, { requests: Set<() => void>; listener: () => void }>();

function watch(signal: AbortSignal, onAbort: () => void): () => void {
  let entry = watchers.get(signal);
  if (!entry) {
    const requests = new Set<() => void>();
    const listener = () => {
      watchers.delete(signal);
      for (const request of requests) request();
    };
    entry = { requests, listener };
    watchers.set(signal, entry);
    signal.addEventListener('abort', listener, { once: true });
  }
  const { requests, listener } = entry;
  requests.add(onAbort);
  return () => {
    if (!requests.delete(onAbort) || requests.size > 0) return;
    signal.removeEventListener('abort', listener);
    if (watchers.get(signal)?.requests === requests) watchers.delete(signal);
  };
}

export class RequestControl {
  /** Aborted (with AbortedError or TimeoutError) when the request is cancelled; undefined: it cannot be. */
  readonly signal: AbortSignal | undefined;
  private readonly controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;

  constructor(callerSignal: AbortSignal | undefined, timeoutMs: number | undefined) {
    if (!callerSignal && timeoutMs === undefined) return;
    this.controller = new AbortController();
    this.signal = this.controller.signal;
    if (callerSignal) {
      const onCallerAbort = () => this.abort(new AbortedError('the request was aborted by its signal', { cause: callerSignal.reason }));
      if (callerSignal.aborted) onCallerAbort();
      else this.unwatch = watch(callerSignal, onCallerAbort);
    }
    if (timeoutMs !== undefined && !this.signal.aborted) {
      this.timer = setTimeout(() => this.abort(new TimeoutError(timeoutMs)), timeoutMs);
      this.timer.unref(); // a pending timeout alone does not keep the process alive
    }
  }

  /** The caller's promise: `work`'s outcome, or the cancellation reason as soon as there is one. */
  settle<T>(work: Promise<T>): Promise<T> {
    const signal = this.signal;
    if (!signal) return work;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.dispose();
        reject(signal.reason);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      // Settling twice is a no-op: after a cancellation, the work's own outcome is dropped (and
      // handled here, so it is never an unhandled rejection).
      work.then(resolve, reject).finally(() => {
        signal.removeEventListener('abort', onAbort);
        this.dispose();
      });
    });
  }

  private abort(reason: Error): void {
    this.dispose();
    this.controller!.abort(reason);
  }

  private dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.unwatch?.();
    this.unwatch = undefined;
  }
}
