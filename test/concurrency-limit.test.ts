import { describe, expect, it } from 'vitest';
import { ConcurrencyLimit } from '../lib/estimator/concurrency-limit';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ConcurrencyLimit', () => {
  it('runs at most `limit` tasks at once, in arrival order', async () => {
    const limit = new ConcurrencyLimit(2);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const task = (id: number) => async () => {
      started.push(id);
      running += 1;
      peak = Math.max(peak, running);
      await tick();
      await tick();
      running -= 1;
      return id;
    };
    const results = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((id) => limit.run(task(id))));
    expect(results).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(peak).toBe(2);
  });

  it('a failing task frees its slot and rejects only its own caller', async () => {
    const limit = new ConcurrencyLimit(1);
    const failing = limit.run(async () => {
      throw new Error('boom');
    });
    const next = limit.run(async () => 'ok');
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ok');
  });

  it('idle() waits for running and queued tasks', async () => {
    const limit = new ConcurrencyLimit(1);
    const done: number[] = [];
    for (const id of [1, 2, 3]) {
      void limit.run(async () => {
        await tick();
        done.push(id);
      });
    }
    await limit.idle();
    expect(done).toEqual([1, 2, 3]);
    await expect(limit.idle()).resolves.toBeUndefined();
  });

  it('rejects a limit that is not a positive integer', () => {
    expect(() => new ConcurrencyLimit(0)).toThrow(RangeError);
    expect(() => new ConcurrencyLimit(1.5)).toThrow(RangeError);
  });
});
