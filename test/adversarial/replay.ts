// The adversarial replay (issue 12's acceptance): every bad input found by the review, and the ones
// that already passed, each of which must end in a result or a typed error within 10 s; then
// thousands of mixed good and bad calls, whose RSS must stay flat.
//
//   scripts/adversarial-replay            # full: real decompression bombs, 5,000 mixed calls
//   npm test                              # test/adversarial/replay.test.ts: the short version
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEstimator, type LotusEstimator } from '../../lib/index';
import { identityLotusModel } from '../helpers/onnx-writer';
import { runCase, summary, tally, type Case, type Outcome, type Tally } from './harness';
import { imageCases } from './image-cases';
import { cliCases, lifecycleCases } from './lifecycle-cases';
import { cacheCases, modelCases } from './model-cases';

const ROOT = path.resolve(__dirname, '..', '..');
export const TINY_MODEL = path.join(ROOT, 'test', 'fixtures', 'tiny-depth-g.onnx');

export interface ReplayOptions {
  /** Real decompression bombs and more random files (slower to make). */
  full: boolean;
  /** Mixed good/bad calls of the memory check, and after how many the baseline is read. */
  mixedCalls: number;
  baselineAfter: number;
  log?: (line: string) => void;
}

export interface MemoryReport {
  calls: number;
  baselineAfter: number;
  rssBaselineMiB: number;
  rssEndMiB: number;
  /** (end - baseline) / baseline. */
  growth: number;
  goodCalls: number;
}

export interface ReplayReport {
  tally: Tally;
  outcomes: Outcome[];
  memory: MemoryReport;
  summary: string;
}

const gc = (globalThis as { gc?: () => void }).gc;

async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A rotation of good and bad calls on one estimator; RSS (after collections) at the baseline and at the end. */
async function mixedCalls(estimator: LotusEstimator, options: ReplayOptions, dir: string): Promise<MemoryReport> {
  const png = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'images', 'gradient-64x48.png'));
  const pngPath = path.join(ROOT, 'test', 'fixtures', 'images', 'shapes-97x61-rgba.png');
  const raw = { data: new Uint8Array(64 * 48 * 3).map((_, i) => (i * 11) & 255), width: 64, height: 48, channels: 3 as const };
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>');
  const calls: (() => Promise<unknown>)[] = [
    () => estimator.estimate(raw), // good
    () => estimator.estimate(Buffer.from('corrupt bytes')),
    () => estimator.estimate(png), // good
    () => estimator.estimate({ ...raw, data: raw.data.subarray(1) }),
    () => estimator.estimate(pngPath), // good
    () => estimator.estimate(path.join(dir, 'missing.png')),
    () => estimator.estimateBatch([raw, png]), // good
    () => estimator.estimate(svg),
    () => estimator.estimate(raw, { processingResolution: 4096 }),
    () => estimator.estimate(png.subarray(0, png.length >> 1)),
  ];
  const good = new Set([0, 2, 4, 6]);
  let goodCalls = 0;
  let baseline = 0;
  for (let i = 0; i < options.mixedCalls; i++) {
    const k = i % calls.length;
    await calls[k]!().then(() => { goodCalls += good.has(k) ? 1 : 0; }, () => undefined);
    if (i + 1 === options.baselineAfter) {
      await settle();
      baseline = process.memoryUsage().rss;
    }
  }
  await settle();
  const end = process.memoryUsage().rss;
  return {
    calls: options.mixedCalls,
    baselineAfter: options.baselineAfter,
    rssBaselineMiB: baseline / 2 ** 20,
    rssEndMiB: end / 2 ** 20,
    growth: (end - baseline) / baseline,
    goodCalls,
  };
}

export async function runReplay(options: ReplayOptions): Promise<ReplayReport> {
  const log = options.log ?? (() => undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-replay-'));
  const identity = path.join(dir, 'identity-depth-d.onnx');
  const identityG = path.join(dir, 'identity-depth-g.onnx');
  fs.writeFileSync(identity, identityLotusModel({ task: 'depth', mode: 'regression' }));
  fs.writeFileSync(identityG, identityLotusModel({ task: 'depth', mode: 'generation' }));
  const quiet = { onWarning: () => undefined };
  const tiny = await createEstimator(TINY_MODEL, { backend: 'cpu', processingResolution: 64, ...quiet });
  const g = await createEstimator(identityG, { backend: 'cpu', processingResolution: 0, ...quiet });
  const permissive = await createEstimator(identity, {
    backend: 'cpu', processingResolution: 64, inputFormats: ['png', 'jpeg', 'webp', 'gif', 'tiff', 'heif', 'svg'], ...quiet,
  });
  try {
    const cases: Case[] = [
      ...(await imageCases({ dir, tiny, identityG: g, permissive }, options.full)),
      ...modelCases(dir, TINY_MODEL),
      ...cacheCases(dir),
      ...lifecycleCases(dir, TINY_MODEL, identity),
      ...cliCases(dir, TINY_MODEL, identity),
    ];
    log(`replaying ${cases.length} inputs`);
    const outcomes: Outcome[] = [];
    for (const c of cases) {
      const outcome = await runCase(c);
      outcomes.push(outcome);
      if (!['result', 'typed'].includes(outcome.kind)) log(`  ${outcome.kind.toUpperCase()}: [${c.group}] ${c.name}: ${outcome.detail}`);
    }
    const byGroup = new Map<string, { n: number; ms: number }>();
    for (const o of outcomes) {
      const g = byGroup.get(o.group) ?? { n: 0, ms: 0 };
      byGroup.set(o.group, { n: g.n + 1, ms: g.ms + o.ms });
    }
    log(`by group (inputs, seconds): ${[...byGroup].map(([group, g]) => `${group} ${g.n} ${(g.ms / 1000).toFixed(1)}`).join(', ')}`);
    const slowest = [...outcomes].sort((a, b) => b.ms - a.ms).slice(0, 3);
    log(`slowest: ${slowest.map((o) => `[${o.group}] ${o.name} ${(o.ms / 1000).toFixed(1)} s`).join('; ')}`);
    const memoryStart = performance.now();
    const memory = await mixedCalls(tiny, options, dir);
    log(`mixed calls took ${((performance.now() - memoryStart) / 1000).toFixed(1)} s`);
    log(`${memory.calls} mixed calls (${memory.goodCalls} good): RSS ${memory.rssBaselineMiB.toFixed(1)} MiB after ${memory.baselineAfter}, ` +
      `${memory.rssEndMiB.toFixed(1)} MiB after ${memory.calls} (${(memory.growth * 100).toFixed(1)} %)`);
    const t = tally(outcomes);
    return { tally: t, outcomes, memory, summary: summary(t) };
  } finally {
    await Promise.allSettled([tiny.close(), g.close(), permissive.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
