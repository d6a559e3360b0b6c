// At most `limit` tasks run at once; the rest wait here, in JS. Backends use it so that a request
// never blocks a libuv pool thread waiting for a free GPU lane (or an onnxruntime session).
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be an integer >= 1, got ${limit}`);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
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

  private release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter, so `running` stays the same.
    if (next) return next();
    this.running -= 1;
    if (this.running === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }
}
