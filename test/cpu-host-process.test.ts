// The CPU backend's onnxruntime runs in a process of its own (lib/backends/onnx-host/): the event
// loop stays free during a run, the process survives exit() and worker termination mid-run (which
// abort it when onnxruntime runs in-process: docs/design.md, "Worker threads"), and a killed
// onnxruntime process costs the request in flight only. Real onnxruntime, real addon, tiny fixture.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { createEstimator, ModelError } from '../lib/index';
import { onnxHostPids } from '../lib/bench/proc';

const DIST = path.join(__dirname, '..', 'dist', 'index.js');
const MODEL = path.join(__dirname, 'fixtures', 'tiny-depth-g.onnx');
// 848x804 at native resolution: long enough (hundreds of ms) for the checks below.
const IMAGE = path.join(__dirname, 'fixtures', 'images', 'scene-848x804.png');
const linux = process.platform === 'linux';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Runs a script in a fresh Node process; the script prints the host pid on its first line. */
function runScript(body: string) {
  const script = `const { createEstimator } = require(${JSON.stringify(DIST)});\n${body}`;
  const started = Date.now();
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  return { ...result, ms: Date.now() - started };
}

// The host pid, from a script run by runScript().
const FIND_HOST = `
  const hostPid = () => require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'bench', 'proc.js'))}).onnxHostPids()[0];
`;

describe.skipIf(!linux)('CPU backend: onnxruntime in its own process (Linux: /proc)', () => {
  test('the event loop keeps running during a run', async () => {
    const estimator = await createEstimator(MODEL, { backend: 'cpu', processingResolution: 0 });
    try {
      await estimator.estimate(IMAGE); // warm-up
      let last = performance.now();
      let longestGap = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        longestGap = Math.max(longestGap, now - last);
        last = now;
      }, 5);
      const result = await estimator.estimate(IMAGE);
      clearInterval(timer);
      const inference = result.timings.inference;
      console.log(`inference ${inference.toFixed(0)} ms, longest gap between 5 ms timer ticks ${longestGap.toFixed(0)} ms`);
      expect(inference).toBeGreaterThan(100);
      // In-process onnxruntime holds the thread for the whole inference: the gap would be about it.
      expect(longestGap).toBeLessThan(inference / 2);
    } finally {
      await estimator.close();
    }
  });

  test('process.exit() during a run exits at once with its code, and the onnxruntime process goes too', () => {
    const { status, stdout, stderr, ms } = runScript(`${FIND_HOST}
      (async () => {
        const e = await createEstimator(${JSON.stringify(MODEL)}, { backend: 'cpu', processingResolution: 0 });
        console.log(hostPid());
        e.estimate(${JSON.stringify(IMAGE)});
        setTimeout(() => process.exit(7), 50);
      })();`);
    const pid = Number(stdout.split('\n')[0]);
    expect(stderr).not.toMatch(/terminate called|Aborted|FATAL/);
    expect(status).toBe(7);
    expect(pid).toBeGreaterThan(0);
    expect(ms).toBeLessThan(20_000);
    // Killed by the exit hook (SIGKILL is asynchronous: give the kernel a moment).
    const deadline = Date.now() + 2000;
    while (alive(pid) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    expect(alive(pid)).toBe(false);
  });

  test('a script that never calls close() still exits, and leaves no onnxruntime process behind', () => {
    const { status, stdout, stderr } = runScript(`${FIND_HOST}
      (async () => {
        const e = await createEstimator(${JSON.stringify(MODEL)}, { backend: 'cpu', processingResolution: 64 });
        const r = await e.estimate(${JSON.stringify(IMAGE)});
        console.log(hostPid());
        console.log(r.width + 'x' + r.height);
      })();`);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const [pid, size] = stdout.trim().split('\n');
    expect(size).toBe('848x804');
    const deadline = Date.now() + 2000;
    while (alive(Number(pid)) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    expect(alive(Number(pid))).toBe(false);
  });

  test('a killed onnxruntime process fails the request in flight with a ModelError; the next request starts a new one', async () => {
    const warnings: string[] = [];
    const estimator = await createEstimator(MODEL, { backend: 'cpu', processingResolution: 0, onWarning: (m) => warnings.push(m) });
    try {
      const expected = await estimator.estimate(IMAGE, { seed: 3 });
      const [pid] = onnxHostPids();
      expect(pid).toBeGreaterThan(0);
      const inFlight = estimator.estimate(IMAGE, { seed: 3 });
      setTimeout(() => process.kill(pid!, 'SIGKILL'), 30);
      const error = await inFlight.then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ModelError);
      expect((error as Error).message).toMatch(/onnxruntime's process \(pid \d+\) was killed by SIGKILL while running the model/);
      const again = await estimator.estimate(IMAGE, { seed: 3 });
      expect(again.data).toEqual(expected.data);
      expect(warnings.some((w) => /restarting the CPU backend's onnxruntime process/.test(w))).toBe(true);
      expect(onnxHostPids()).not.toContain(pid);
    } finally {
      await estimator.close();
    }
    expect(onnxHostPids()).toEqual([]);
  });

  test('close() ends the onnxruntime process', async () => {
    const before = onnxHostPids();
    const estimator = await createEstimator(MODEL, { backend: 'cpu' });
    const [pid] = onnxHostPids().filter((p) => !before.includes(p));
    expect(alive(pid!)).toBe(true);
    await estimator.close();
    expect(alive(pid!)).toBe(false);
  });

  test('a worker thread terminated during a run leaves the process running', () => {
    const { status, stdout, stderr } = runScript(`
      const { Worker } = require('node:worker_threads');
      const worker = new Worker(\`
        const { parentPort } = require('node:worker_threads');
        const { createEstimator } = require(${JSON.stringify(DIST)});
        (async () => {
          const e = await createEstimator(${JSON.stringify(MODEL)}, { backend: 'cpu', processingResolution: 0 });
          parentPort.postMessage('loaded');
          await e.estimate(${JSON.stringify(IMAGE)});
        })();\`, { eval: true });
      worker.on('message', () => setTimeout(async () => {
        await worker.terminate();
        console.log('terminated; the process lives on');
      }, 50));`);
    expect(stderr).not.toMatch(/terminate called|Aborted|FATAL/);
    expect(stdout).toContain('terminated; the process lives on');
    expect(status).toBe(0);
  });
});
