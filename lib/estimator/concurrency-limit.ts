// At most `limit` tasks run at once; the rest wait here, in JS. Backends use it so that a request
// never blocks a libuv pool thread waiting for a free GPU lane (or an onnxruntime session); the
// estimator uses it for admission, with a bounded queue and waits that an AbortSignal cancels.
import { BusyError } from '../errors';

export interface ConcurrencyLimitOptions {
  /** Most tasks that may wait; one more is refused at once with BusyError. Default: unbounded. */
  maxWaiting?: number;
}

export class ConcurrencyLimit {
  private running = 0;
  // A Set keeps arrival order and removes an aborted waiter in O(1).
  private readonly waiting = new Set<() => void>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly maxWaiting: number;

  constructor(readonly limit: number, options: ConcurrencyLimitOptions = {}) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be an integer >= 1, got ${limit}`);
    this.maxWaiting = options.maxWaiting ?? Infinity;
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.size;
  }

  /**
   * Runs `task` once a slot is free. Rejects with BusyError at once when `maxWaiting` tasks already
   * wait, and with the signal's reason when it aborts before the task started (the waiter leaves
   * the queue then; a started task is not interrupted).
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.running >= this.limit) await this.wait(signal);
    else this.running += 1;
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /** Resolves once nothing runs or waits (tasks started later are not waited for). */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.waiting.size >= this.maxWaiting) return Promise.reject(new BusyError(this.waiting.size, this.maxWaiting));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.waiting.delete(waiter);
        reject(signal!.reason);
      };
      const waiter = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiting.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(): void {
    const next = this.waiting.values().next();
    if (!next.done) {
      // The slot passes straight to the next waiter, so `running` stays the same.
      this.waiting.delete(next.value);
      next.value();
      return;
    }
    this.running -= 1;
    if (this.running === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }
}
