// scripts/bench-cpu-load: load time and peak memory of the CPU backend next to the PyTorch peer,
// every figure from a fresh process (docs/benchmarks.md, "CPU backend: load and memory").
//
//   1. ours, cold: an empty cache folder: hash + optimise + cache + load (the first load of a model)
//   2. ours, warm, per resolution: load from that cache, then 1 + warmup + iterations requests
//   3. with --baseline: the settings before the cache (no cache, arena on), per resolution, and the
//      largest difference of its depth map from (2)'s
//   4. the PyTorch peer (scripts/bench_pytorch.py), per resolution
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { syntheticPng } from './synthetic';
import { defaultPython, runPeer } from './peer';
import type { ChildRequest, ChildResult } from './cpu-load-child';

export interface CpuLoadOptions {
  model: string;
  resolutions: number[];
  iterations: number;
  warmup: number;
  seed: number;
  image?: string;
  peerCheckpoint?: string;
  python: string;
  baseline: boolean;
  /** The model the baseline runs (default: --model): e.g. the previous export of the same checkpoint. */
  baselineModel?: string;
  log: (line: string) => void;
}

interface PeerResult {
  loadMs: number;
  /** Its first request (bench_pytorch.py's `cold`). */
  firstMs: number;
  p50: number;
  peakRssBytes: number;
}

/** Runs a measurement child (cpu-load-child.js); rejects with the end of its stderr when it fails. */
function runChild(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) return resolve(stdout);
      reject(new Error(`cpu-load-child.js exited with ${code}: ${stderr.trim().split('\n').slice(-5).join('\n')}`));
    });
  });
}

async function ours(request: ChildRequest): Promise<ChildResult> {
  const child = path.join(__dirname, 'cpu-load-child.js');
  const out = await runChild(['--expose-gc', child, JSON.stringify(request)]);
  return JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
}

async function peer(options: CpuLoadOptions, image: string, resolution: number): Promise<PeerResult> {
  const outcome = await runPeer({
    checkpoint: options.peerCheckpoint!, python: options.python, task: 'depth', resolutions: [resolution],
    iterations: options.iterations, warmup: options.warmup, seed: options.seed, batch: 1, image, device: 'cpu',
    randomWeights: true, onLog: (line) => options.log(`  ${line}`),
  });
  if (!outcome.ok) throw new Error(outcome.reason);
  const doc = outcome.document as {
    load: { ms: number }; cold: { ms: number }; results: { latency: { p50: number } }[]; memory?: { peakRssBytes: number };
  };
  return { loadMs: doc.load.ms, firstMs: doc.cold.ms, p50: doc.results[0]!.latency.p50, peakRssBytes: doc.memory?.peakRssBytes ?? NaN };
}

function maxAbsDifference(a: string, b: string): number {
  const x = new Float32Array(new Uint8Array(fs.readFileSync(a)).buffer);
  const y = new Float32Array(new Uint8Array(fs.readFileSync(b)).buffer);
  if (x.length !== y.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

const gb = (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : 'n/a');
const sec = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'n/a');
const ratio = (peerValue: number, ourValue: number) =>
  (Number.isFinite(peerValue) && Number.isFinite(ourValue) && ourValue > 0 ? `${(peerValue / ourValue).toFixed(2)}x` : '');

export async function runCpuLoadBenchmark(options: CpuLoadOptions): Promise<string> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-cpu-load-'));
  const cacheDir = path.join(work, 'cache'); // empty: the first load is cold; deleted after
  const { log } = options;
  try {
    let image = options.image;
    if (!image) {
      image = path.join(work, 'synthetic-1920x1080.png');
      fs.writeFileSync(image, await syntheticPng());
    }
    const base = { model: path.resolve(options.model), image, iterations: options.iterations, warmup: options.warmup, seed: options.seed };
    const loadAverage = os.loadavg()[0]!;

    log(`ours: cold load (empty cache ${cacheDir}) ...`);
    const cold = await ours({ ...base, cpu: { cacheDir, cache: true } });
    const rows: string[][] = [['cold load (first load of the model)', sec(cold.loadMs), '', '']];
    const warm: Record<number, ChildResult> = {};
    const before: Record<number, ChildResult & { diff: number }> = {};
    const pyt: Record<number, PeerResult | string> = {};
    for (const resolution of options.resolutions) {
      log(`ours: warm load + ${options.iterations} requests at ${resolution} ...`);
      warm[resolution] = await ours({ ...base, resolution, cpu: { cacheDir, cache: true }, output: path.join(work, `new-${resolution}.f32`) });
      if (options.baseline) {
        log(`ours, previous settings (no cache, arena and pre-packing on): load + ${options.iterations} requests at ${resolution} ...`);
        const old = await ours({
          ...base, model: path.resolve(options.baselineModel ?? options.model), resolution,
          cpu: { cache: false, arena: true, prepack: true }, output: path.join(work, `old-${resolution}.f32`),
        });
        before[resolution] = { ...old, diff: maxAbsDifference(path.join(work, `new-${resolution}.f32`), path.join(work, `old-${resolution}.f32`)) };
      }
      if (options.peerCheckpoint) {
        log(`PyTorch peer: load + ${options.iterations} requests at ${resolution} ...`);
        pyt[resolution] = await peer(options, image, resolution).catch((error: Error) => error.message);
      }
    }

    const peerOf = (resolution: number) => (typeof pyt[resolution] === 'object' ? (pyt[resolution] as PeerResult) : undefined);
    const firstPeer = options.resolutions.map(peerOf).find((p) => p);
    if (firstPeer) rows[0]!.splice(2, 2, sec(firstPeer.loadMs), ratio(firstPeer.loadMs, cold.loadMs));
    rows.push(['warm load (optimised model cached)', sec(warm[options.resolutions[0]!]!.loadMs), firstPeer ? sec(firstPeer.loadMs) : '',
      firstPeer ? ratio(firstPeer.loadMs, warm[options.resolutions[0]!]!.loadMs) : '']);
    for (const resolution of options.resolutions) {
      const mine = warm[resolution]!;
      const p = peerOf(resolution);
      rows.push([`peak RSS at ${resolution}`, gb(mine.peakRssBytes), p ? gb(p.peakRssBytes) : '', p ? ratio(p.peakRssBytes, mine.peakRssBytes) : '']);
      if (mine.peakRssAnonBytes !== undefined) {
        rows.push([`  of which anonymous / file-backed (mmapped weights)`, `${gb(mine.peakRssAnonBytes)} / ${gb(mine.peakRssFileBytes ?? NaN)}`, '', '']);
      }
      rows.push([`load + first request at ${resolution}`, sec(mine.loadMs + mine.firstMs!), p ? sec(p.loadMs + p.firstMs) : '',
        p ? ratio(p.loadMs + p.firstMs, mine.loadMs + mine.firstMs!) : '']);
      rows.push([`p50 latency at ${resolution}`, sec(mine.latency!.p50), p ? sec(p.p50) : '', p ? ratio(p.p50, mine.latency!.p50) : '']);
    }
    const lines = [
      `CPU backend load and memory: ${options.model}`,
      `host: ${os.cpus()[0]?.model.trim()} x ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; load average ${loadAverage.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end`,
      `input: ${options.image ?? 'synthetic 1920x1080 PNG'}; per resolution: the first request after the load (timed on its own), ${options.warmup} warm-up, ${options.iterations} timed requests; every figure from a fresh process`,
      `load phases reported: cold: ${cold.loadPhases.join(' -> ') || 'none'}; warm: ${warm[options.resolutions[0]!]!.loadPhases.join(' -> ') || 'none (a quick load)'}`,
      '',
      '| | lotus-trt (cpu) | PyTorch (cpu) | PyTorch / lotus-trt |',
      '| --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ];
    for (const resolution of options.resolutions) {
      if (typeof pyt[resolution] === 'string') lines.push(`PyTorch peer at ${resolution} did not run: ${pyt[resolution]}`);
    }
    if (options.baseline) {
      lines.push('', `previous settings run ${options.baselineModel ?? options.model}`, '| previous settings (no cache, arena and pre-packing on) | load | load + first request | peak RSS | p50 | new p50 / previous p50 | max abs depth difference (new vs previous) |',
        '| --- | --- | --- | --- | --- | --- | --- |');
      for (const resolution of options.resolutions) {
        const b = before[resolution]!;
        lines.push(`| at ${resolution} | ${sec(b.loadMs)} | ${sec(b.loadMs + b.firstMs!)} | ${gb(b.peakRssBytes)} | ${sec(b.latency!.p50)} | ` +
          `${(warm[resolution]!.latency!.p50 / b.latency!.p50).toFixed(3)} | ${b.diff.toExponential(2)} |`);
      }
    }
    return lines.join('\n');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): CpuLoadOptions {
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const model = value('model');
  if (!model) throw new Error('usage: scripts/bench-cpu-load --model <fp32.onnx> [--peer-checkpoint <dir>] [--python <exe>] ' +
    '[--resolutions 512,768] [--iterations 3] [--warmup 1] [--image <file>] [--baseline] [--baseline-model <onnx>]');
  const int = (name: string, fallback: number) => {
    const text = value(name);
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: expected a non-negative integer, got ${text}`);
    return n;
  };
  return {
    model,
    resolutions: (value('resolutions') ?? '512,768').split(',').map((r) => Number(r)),
    iterations: Math.max(1, int('iterations', 3)),
    warmup: int('warmup', 1),
    seed: int('seed', 0),
    image: value('image'),
    peerCheckpoint: value('peer-checkpoint'),
    python: value('python') ?? defaultPython(),
    baseline: argv.includes('--baseline') || value('baseline-model') !== undefined,
    baselineModel: value('baseline-model'),
    log: (line) => process.stderr.write(`${line}\n`),
  };
}

export async function main(argv: string[]): Promise<number> {
  const options = parseArgs(argv);
  if (options.resolutions.some((r) => !Number.isInteger(r) || r <= 0)) throw new Error('--resolutions: positive integers, e.g. 512,768');
  process.stdout.write(`${await runCpuLoadBenchmark(options)}\n`);
  return 0;
}
