#!/usr/bin/env node
// Measures the host memory one CPU-backend request needs, by network input size, and fits the
// constants of lib/estimator/memory-budget.ts to it.
//
//   node scripts/measure-cpu-memory.js --model test/fixtures/tiny-depth-g.onnx --sizes 128,256,512,768,1024
//
// Each size runs in a fresh child process: load the model, reset the peak RSS of that process and
// of its onnxruntime process (Linux: /proc/<pid>/clear_refs), run one estimate() on a raw image of
// exactly that size with processingResolution 0 (the network input is the image), read the peaks
// (VmHWM). The request's memory is the sum of the peaks - the sum of the RSS before the request
// (an upper bound: the two peaks need not coincide; the onnxruntime process's is most of it). Prints one line per size, then the least-squares fit
// bytes = perPixel * P + attention * (P / 64)^2 (P = network pixels) and the ratio of the current
// estimate (lib/estimator/memory-budget.ts, the model's profile) to each measurement. Needs
// `npm run build:ts` first. Sizes run one after another: mind the machine's free memory.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/** This process and its children (the CPU backend's onnxruntime process). */
function processes() {
  const { childPids } = require(path.join(ROOT, 'dist', 'bench', 'proc.js'));
  return ['self', ...childPids()];
}

/** The sum of one memory field (rss, hwm) over `pids`. */
function total(pids, field) {
  const { procMemory } = require(path.join(ROOT, 'dist', 'bench', 'proc.js'));
  return pids.reduce((sum, pid) => sum + (procMemory(pid)?.[field] ?? NaN), 0);
}

async function child(model, width, height) {
  const { createEstimator } = require(path.join(ROOT, 'dist', 'index.js'));
  const estimator = await createEstimator(model, { backend: 'cpu', processingResolution: 0, memoryBudget: Number.MAX_SAFE_INTEGER });
  const data = new Uint8Array(width * height * 3).map((_, i) => (i * 31) % 256);
  // Warm the allocator and onnxruntime's per-shape state at a tiny size first.
  await estimator.estimate({ data: data.subarray(0, 64 * 64 * 3), width: 64, height: 64, channels: 3 });
  global.gc?.();
  const pids = processes();
  const before = total(pids, 'rss');
  for (const pid of pids) fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
  const start = performance.now();
  await estimator.estimate({ data, width, height, channels: 3 });
  const ms = performance.now() - start;
  const peak = total(pids, 'hwm');
  await estimator.close();
  process.stdout.write(`${JSON.stringify({ width, height, before, peak, ms })}\n`);
}

function fit(points) {
  // Least squares for y = a * x1 + b * x2 (no intercept: an empty request needs nothing).
  let s11 = 0, s12 = 0, s22 = 0, s1y = 0, s2y = 0;
  for (const { x1, x2, y } of points) {
    s11 += x1 * x1; s12 += x1 * x2; s22 += x2 * x2; s1y += x1 * y; s2y += x2 * y;
  }
  const det = s11 * s22 - s12 * s12;
  return { a: (s1y * s22 - s2y * s12) / det, b: (s2y * s11 - s1y * s12) / det };
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], Number(args[2]), Number(args[3]));
  const get = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const model = path.resolve(get('--model', path.join(ROOT, 'test', 'fixtures', 'tiny-depth-g.onnx')));
  const sizes = get('--sizes', '128,256,384,512,640,768,1024').split(',').map((s) => {
    const [w, h] = s.split('x').map(Number);
    return [w, h ?? w];
  });
  const { estimateRequestBytes, memoryProfileFor } = require(path.join(ROOT, 'dist', 'estimator', 'memory-budget.js'));
  const profile = memoryProfileFor(model);
  console.log(`model ${model} (${(fs.statSync(model).size / 2 ** 20).toFixed(1)} MiB + external data), CPU backend (onnxruntime), node ${process.version}`);
  console.log(`estimate: the ${profile.name} profile, ${profile.perPixel} * pixels + ${profile.attention} * (pixels / 64)^2`);
  console.log('network input | request MiB | estimate MiB | estimate/measured | run s');
  const points = [];
  for (const [width, height] of sizes) {
    const run = spawnSync(process.execPath, ['--expose-gc', __filename, '--child', model, String(width), String(height)], {
      encoding: 'utf8', timeout: 900_000,
    });
    const line = run.stdout.trim().split('\n').pop();
    if (run.status !== 0 || !line) {
      console.log(`${width}x${height}: failed (status ${run.status}, signal ${run.signal}) ${run.stderr.trim().split('\n').pop() ?? ''}`);
      continue;
    }
    const r = JSON.parse(line);
    const bytes = r.peak - r.before;
    const estimate = estimateRequestBytes(width, height, 1, profile);
    const P = width * height;
    points.push({ x1: P, x2: (P / 64) ** 2, y: bytes });
    console.log(`${`${width}x${height}`.padEnd(13)} | ${(bytes / 2 ** 20).toFixed(0).padStart(11)} | ${(estimate / 2 ** 20).toFixed(0).padStart(12)} | ${(estimate / bytes).toFixed(2).padStart(17)} | ${(r.ms / 1000).toFixed(1)}`);
  }
  if (points.length >= 2) {
    const { a, b } = fit(points);
    console.log(`fit: bytes = ${a.toFixed(1)} * pixels + ${b.toFixed(2)} * (pixels / 64)^2`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
