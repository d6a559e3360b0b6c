// Dynamic batching: images from concurrent requests that reach the same network call (same network
// size, processing resolution and output resample) wait here for company, then go to the backend
// together. A group leaves when it is full (its cap: the batch maximum, lowered by the memory
// budget) or when its oldest image has waited maxDelayMs, and only when a backend slot is free: while
// the backend is busy, groups keep filling, so batches grow with the load. Among ready groups the
// one with the oldest image goes first. Each image keeps its own noise (ImageNoise), so its result
// is what it gets alone.
import type { BackendBatchOutput, BackendOutput, ImageNoise, RgbImage, Timings } from '../backends/backend';
import type { OutputResample } from './options';

export interface BatchCall {
  processingResolution: number;
  outputResample: OutputResample;
}

export interface BatcherOptions {
  /** Most backend calls in flight (the backend's parallelism). */
  slots: number;
  /** Longest wait for company, from a group's oldest image (ms). */
  maxDelayMs: number;
}

/** What one image gets back from its batch. */
export interface BatchedOutput {
  output: BackendOutput | undefined;
  timings: Partial<Timings>;
  /** Images in the backend call that produced it. */
  batchSize: number;
}

export type RunBatch = (call: BatchCall, images: RgbImage[], noise: ImageNoise[]) => Promise<BackendBatchOutput>;

interface Pending {
  image: RgbImage;
  noise: ImageNoise;
  since: number;
  resolve: (output: BatchedOutput) => void;
  reject: (reason: unknown) => void;
  detach: () => void;
}

interface Group {
  key: string;
  call: BatchCall;
  /** Most images per backend call for this group. */
  cap: number;
  items: Pending[];
  /** The oldest image has waited maxDelayMs. */
  due: boolean;
  timer: NodeJS.Timeout | undefined;
}

export class DynamicBatcher {
  private readonly groups = new Map<string, Group>();
  private running = 0;
  private waitingImages = 0;

  constructor(private readonly runBatch: RunBatch, private readonly options: BatcherOptions) {}

  /** Images waiting for company or for a backend slot. */
  get pending(): number {
    return this.waitingImages;
  }

  /** Backend calls in flight. */
  get active(): number {
    return this.running;
  }

  /**
   * Queues one image for the call `key` describes; `cap` bounds the batch. An abort of `signal`
   * before the image left removes it and rejects with the signal's reason; after, its batch runs
   * on and the result is the caller's to drop.
   */
  submit(key: string, call: BatchCall, cap: number, image: RgbImage, noise: ImageNoise, signal?: AbortSignal): Promise<BatchedOutput> {
    signal?.throwIfAborted();
    return new Promise<BatchedOutput>((resolve, reject) => {
      let group = this.groups.get(key);
      if (!group) {
        group = { key, call, cap: Math.max(1, cap), items: [], due: false, timer: undefined };
        this.groups.set(key, group);
      }
      const onAbort = () => this.remove(group!, item, signal!.reason);
      const item: Pending = {
        image,
        noise,
        since: performance.now(),
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      group.items.push(item);
      this.waitingImages += 1;
      if (group.items.length === 1) this.schedule(group);
      this.pump();
    });
  }

  private remove(group: Group, item: Pending, reason: unknown): void {
    const index = group.items.indexOf(item);
    if (index < 0) return; // already dispatched
    group.items.splice(index, 1);
    this.waitingImages -= 1;
    item.reject(reason);
    if (group.items.length === 0) this.drop(group);
    else if (index === 0) {
      this.schedule(group);
      this.pump();
    }
  }

  private drop(group: Group): void {
    if (group.timer) clearTimeout(group.timer);
    this.groups.delete(group.key);
  }

  /** (Re)arms the group's deadline from its oldest image. */
  private schedule(group: Group): void {
    if (group.timer) clearTimeout(group.timer);
    group.timer = undefined;
    const left = group.items[0]!.since + this.options.maxDelayMs - performance.now();
    group.due = left <= 0;
    if (group.due) return;
    group.timer = setTimeout(() => {
      group.timer = undefined;
      group.due = true;
      this.pump();
    }, left);
  }

  private ready(group: Group): boolean {
    return group.due || group.items.length >= group.cap;
  }

  private pump(): void {
    while (this.running < this.options.slots) {
      let next: Group | undefined;
      for (const group of this.groups.values()) {
        if (this.ready(group) && (!next || group.items[0]!.since < next.items[0]!.since)) next = group;
      }
      if (!next) return;
      const items = next.items.splice(0, next.cap);
      this.waitingImages -= items.length;
      if (next.items.length === 0) this.drop(next);
      else this.schedule(next);
      this.dispatch(next.call, items);
    }
  }

  private dispatch(call: BatchCall, items: Pending[]): void {
    this.running += 1;
    for (const item of items) item.detach();
    let work: Promise<BackendBatchOutput>;
    try {
      work = this.runBatch(call, items.map((item) => item.image), items.map((item) => item.noise));
    } catch (error) {
      work = Promise.reject(error);
    }
    work
      .then(
        (batch) => items.forEach((item, n) => item.resolve({ output: batch.outputs[n], timings: batch.timings, batchSize: items.length })),
        (error: unknown) => items.forEach((item) => item.reject(error)),
      )
      .finally(() => {
        this.running -= 1;
        this.pump();
      });
  }
}
