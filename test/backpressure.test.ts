// Backpressure and cancellation: options.maxQueue refuses at once with BusyError; options.signal and
// options.timeoutMs reject at once, take a queued request out of the queue (or the batcher), let a
// running one finish and drop its result; thousands of cancelled calls leave nothing behind.
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  AbortedError, BusyError, createEstimator, InvalidArgumentError, LotusError, TimeoutError, type LotusEstimator,
} from '../lib/index';
import { expectLotusError } from './helpers/expect-error';
import { identityLotusModel } from './helpers/onnx-writer';
import { tempFolder } from './helpers/temp-folder';

const { write } = tempFolder('lotus-backpressure-');
const identity = write('identity-g.onnx', identityLotusModel({ mode: 'generation' }));
const fixtureModel = path.join(__dirname, 'fixtures', 'tiny-depth-g.onnx');
const raw = (size: number, salt = 0) => ({
  data: Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 7 + salt) & 255), width: size, height: size, channels: 3 as const,
});
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Settles order: which promises settled, in which order, tagged. */
function recorder() {
  const order: string[] = [];
  const watch = <T>(tag: string, promise: Promise<T>) => promise.then(
    (value) => { order.push(`${tag}:ok`); return value; },
    (error: unknown) => { order.push(`${tag}:${(error as LotusError).code ?? 'untyped'}`); throw error; },
  );
  return { order, watch };
}

describe.skipIf(!fs.existsSync(fixtureModel))('maxQueue and cancellation with slow requests (tiny fixture at 192)', () => {
  // CPU: one run at a time, admission limit 2 (one runs, one decodes or waits for the backend).
  const slow = (e: LotusEstimator, options = {}) => e.estimate(raw(192), { processingResolution: 192, ...options });

  test('beyond maxQueue a request is refused at once with BusyError; the admitted ones finish', async () => {
    const estimator = await createEstimator(fixtureModel, { backend: 'cpu', maxQueue: 2 });
    try {
      const { order, watch } = recorder();
      const calls = Array.from({ length: 7 }, (_, i) => watch(`r${i}`, slow(estimator)).catch((e: unknown) => e));
      await tick();
      // 2 admitted, 2 queued, 3 refused before anything finished.
      expect(order).toEqual(['r4:ERR_LOTUS_BUSY', 'r5:ERR_LOTUS_BUSY', 'r6:ERR_LOTUS_BUSY']);
      expect(estimator.stats()).toMatchObject({ queued: 2, active: 2, admissionLimit: 2 });
      const outcomes = await Promise.all(calls);
      const busy = outcomes[4] as BusyError;
      expect(busy).toBeInstanceOf(BusyError);
      expect(busy).toMatchObject({ code: 'ERR_LOTUS_BUSY', queued: 2, maxQueue: 2 });
      expect(outcomes.slice(0, 4).every((o) => !(o instanceof Error))).toBe(true);
    } finally {
      await estimator.close();
    }
  });

  test('abort: queued requests leave the queue and reject at once; a running one rejects, finishes, and its result is dropped', async () => {
    const batches: number[] = [];
    const estimator = await createEstimator(fixtureModel, { backend: 'cpu', onBatch: (b) => batches.push(b.size) });
    try {
      const { order, watch } = recorder();
      const controller = new AbortController();
      const running = watch('running', slow(estimator, { signal: controller.signal })).catch((e: unknown) => e);
      const second = watch('second', slow(estimator)).catch((e: unknown) => e);
      const queued = Array.from({ length: 5 }, (_, i) => watch(`q${i}`, slow(estimator, { signal: controller.signal })).catch((e: unknown) => e));
      await tick();
      expect(estimator.stats().queued).toBe(5);
      controller.abort(new Error('client went away'));
      await tick();
      // Everyone with the signal rejected before the backend finished anything.
      expect(order.slice(0, 6).sort()).toEqual(['q0', 'q1', 'q2', 'q3', 'q4', 'running'].map((t) => `${t}:ERR_LOTUS_ABORTED`).sort());
      expect(estimator.stats().queued).toBe(0);
      const aborted = (await running) as AbortedError;
      expect(aborted).toBeInstanceOf(AbortedError);
      expect((aborted.cause as Error).message).toBe('client went away');
      expect(await second).not.toBeInstanceOf(Error);
      await Promise.all(queued);
      await estimator.close();
      // The running request finished in the backend (its result dropped); the queued ones never ran.
      expect(batches).toEqual([1, 1]);
    } finally {
      await estimator.close();
    }
  });

  test('timeoutMs rejects with TimeoutError; an already aborted signal rejects before anything is taken', async () => {
    const estimator = await createEstimator(fixtureModel, { backend: 'cpu' });
    try {
      const busy = [slow(estimator), slow(estimator)];
      const late = slow(estimator, { timeoutMs: 20 });
      const error = await expectLotusError(late, TimeoutError);
      expect((error as TimeoutError).timeoutMs).toBe(20);
      expect(estimator.stats().queued).toBe(0);
      await Promise.all(busy);
      const dead = AbortSignal.abort('gone');
      await expectLotusError(slow(estimator, { signal: dead }), AbortedError);
      await expectLotusError(estimator.estimate(raw(8), { signal: {} as AbortSignal }), InvalidArgumentError, { parameter: 'options.signal' });
      await expectLotusError(estimator.estimate(raw(8), { timeoutMs: 0 }), InvalidArgumentError, { parameter: 'options.timeoutMs' });
      await expectLotusError(createEstimator(fixtureModel, { backend: 'cpu', maxQueue: -1 }), InvalidArgumentError, { parameter: 'options.maxQueue' });
    } finally {
      await estimator.close();
    }
  });
});

describe('thousands of cancelled calls leave nothing behind (identity model)', () => {
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      (globalThis as { gc?: () => void }).gc?.();
      await tick();
    }
  };

  for (const batching of [false, true]) {
    test(`4,000 calls, most aborted or timed out at random points${batching ? ', with batching' : ''}: all settle, queues empty, no listeners left`, async () => {
      const estimator = await createEstimator(identity, {
        backend: 'cpu', processingResolution: 0, maxQueue: 64, ...(batching ? { batching: { maxBatch: 4, maxDelayMs: 1 } } : {}),
      });
      try {
        const shared = new AbortController(); // a long-lived signal (a server's): never aborted, used by every call
        const outcomes = { ok: 0, aborted: 0, timeout: 0, busy: 0, other: 0 };
        const round = async (n: number) => {
          const calls = Array.from({ length: 100 }, (_, i) => {
            const own = new AbortController();
            const kind = (n * 100 + i) % 5;
            const signal = kind === 4 ? shared.signal : AbortSignal.any([shared.signal, own.signal]);
            const promise = estimator.estimate(raw(16, i), { signal, seed: i, ...(kind === 3 ? { timeoutMs: 1 } : {}) });
            if (kind === 0) own.abort();
            else if (kind === 1) queueMicrotask(() => own.abort());
            else if (kind === 2) setImmediate(() => own.abort());
            return promise.then(() => { outcomes.ok += 1; }, (error: unknown) => {
              if (error instanceof AbortedError) outcomes.aborted += 1;
              else if (error instanceof TimeoutError) outcomes.timeout += 1;
              else if (error instanceof BusyError) outcomes.busy += 1;
              else outcomes.other += 1;
            });
          });
          await Promise.all(calls);
        };
        for (let n = 0; n < 5; n++) await round(n);
        await settle();
        const heapAfter500 = process.memoryUsage().heapUsed;
        for (let n = 5; n < 40; n++) await round(n);
        await settle();
        const heapAfter4000 = process.memoryUsage().heapUsed;
        const total = Object.values(outcomes).reduce((a, b) => a + b, 0);
        console.log(`4,000 calls${batching ? ' (batching)' : ''}: ${JSON.stringify(outcomes)}; heap after 500 ` +
          `${(heapAfter500 / 2 ** 20).toFixed(1)} MiB, after 4,000 ${(heapAfter4000 / 2 ** 20).toFixed(1)} MiB`);
        expect(total).toBe(4000);
        expect(outcomes.other).toBe(0);
        expect(outcomes.aborted).toBeGreaterThan(1000);
        expect(outcomes.ok).toBeGreaterThan(500);
        expect(estimator.stats()).toMatchObject({ queued: 0, active: 0, batching: 0 });
        expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
        expect(heapAfter4000 - heapAfter500).toBeLessThan(8 * 2 ** 20);
      } finally {
        await estimator.close();
      }
    }, 120_000);
  }
});
