// Lifecycle abuse (close with 200 requests in flight, use after close, exit with work in flight)
// and bad command lines. Exits and the CLI run in child processes: a child killed by a signal we
// did not send is a crash, one that outlives its deadline a hang.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createEstimator, DisposedError, LotusError } from '../../lib/index';
import { ChildCrash, CleanExit, runChild, type Case, type Expectation } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist', 'index.js');
const CLI = path.join(ROOT, 'dist', 'cli.js');

const raw = (width: number, height: number) => ({
  data: new Uint8Array(width * height * 3).map((_, i) => (i * 7) & 255),
  width,
  height,
  channels: 3 as const,
});

/** A Node script in a child that must print `ok` and exit 0 by itself within the deadline. */
async function nodeScript(script: string): Promise<void> {
  const run = await runChild(process.execPath, ['-e', script], { cwd: ROOT, killAfterMs: 10_000 });
  if (run.signal) throw new ChildCrash(`killed by ${run.signal}${run.signal === 'SIGKILL' ? ' (did not exit within 10 s)' : ''}: ${run.stderr.slice(-300)}`);
  if (run.code !== 0 || !run.stdout.includes('ok')) throw new ChildCrash(`exit code ${run.code}: ${(run.stderr || run.stdout).slice(-300)}`);
}

/** `model`: a real network for exits (a run on the pool when exit() joins it); `fast`: the identity model for the rest. */
export function lifecycleCases(dir: string, model: string, fast: string): Case[] {
  const cases: Case[] = [];
  const add = (group: string, name: string, expect: Expectation, run: () => Promise<unknown>, timeoutMs?: number) =>
    cases.push({ group, name, expect, run, ...(timeoutMs ? { timeoutMs } : {}) });

  add('lifecycle', 'close() with 200 requests in flight (good and bad): all settle, typed', 'result', async () => {
    const estimator = await createEstimator(fast, { backend: 'cpu', processingResolution: 64 });
    const inputs = Array.from({ length: 200 }, (_, i) => (i % 4 === 3 ? Buffer.from('corrupt') : raw(32 + (i % 5) * 8, 24)));
    const pending = inputs.map((input) => estimator.estimate(input));
    await estimator.close();
    const settled = await Promise.allSettled(pending);
    const bad = settled.find((s) => s.status === 'rejected' && !(s.reason instanceof LotusError));
    if (bad) throw (bad as PromiseRejectedResult).reason;
    if (settled.filter((s) => s.status === 'fulfilled').length !== 150) throw new Error('expected 150 results');
  });
  add('lifecycle', 'every method after close()', 'result', async () => {
    const estimator = await createEstimator(fast, { backend: 'cpu', processingResolution: 64 });
    await estimator.close();
    await estimator.close();
    const calls: (() => unknown)[] = [
      () => estimator.estimate(raw(8, 8)), () => estimator.estimateBatch([raw(8, 8)]), () => estimator.depth(raw(8, 8)),
      () => estimator.normal(raw(8, 8)), () => estimator.gpuMemoryStats(),
    ];
    for (const call of calls) {
      try {
        await call();
      } catch (error) {
        if (error instanceof DisposedError) continue;
        throw error;
      }
      throw new Error('a call after close() succeeded');
    }
  });
  add('lifecycle', 'estimate() after close() rejects with DisposedError', 'error', async () => {
    const estimator = await createEstimator(fast, { backend: 'cpu', processingResolution: 64 });
    await estimator.close();
    await estimator.estimate(raw(8, 8));
  });
  add('lifecycle', 'close() racing requests on two estimators created at once', 'result', async () => {
    const estimators = await Promise.all(Array.from({ length: 2 }, () => createEstimator(model, { backend: 'cpu', processingResolution: 64 })));
    await Promise.all(estimators.flatMap((e) => [e.estimate(raw(16, 16)).catch(() => 0), e.close()]));
  });
  add('exit', 'process.exit() with 50 requests in flight', 'result', () => nodeScript(`
    const { createEstimator } = require(${JSON.stringify(DIST)});
    createEstimator(${JSON.stringify(model)}, { backend: 'cpu', processingResolution: 128 }).then((e) => {
      for (let i = 0; i < 50; i++) e.estimate({ data: new Uint8Array(128 * 96 * 3), width: 128, height: 96, channels: 3 });
      setTimeout(() => { console.log('ok'); process.exit(0); }, 50);
    });`));
  add('exit', 'process.exit() while a request reads a FIFO path', 'result', () => {
    const fifo = path.join(dir, 'exit-fifo.png');
    if (!fs.existsSync(fifo)) spawnSync('mkfifo', [fifo]);
    return nodeScript(`
      const { createEstimator } = require(${JSON.stringify(DIST)});
      createEstimator(${JSON.stringify(model)}, { backend: 'cpu' }).then((e) => {
        e.estimate(${JSON.stringify(fifo)}).catch(() => 0);
        e.close();
        setTimeout(() => { console.log('ok'); process.exit(0); }, 50);
      });`);
  });
  add('exit', 'returning from main with requests in flight (natural exit)', 'result', () => nodeScript(`
    const { createEstimator } = require(${JSON.stringify(DIST)});
    createEstimator(${JSON.stringify(model)}, { backend: 'cpu', processingResolution: 64 }).then((e) => {
      for (let i = 0; i < 10; i++) e.estimate({ data: new Uint8Array(64 * 48 * 3), width: 64, height: 48, channels: 3 });
      e.close().then(() => console.log('ok'));
    });`));
  add('exit', 'an unhandled rejection from a bad request does not take the process down unexpectedly', 'result', () => nodeScript(`
    const { createEstimator } = require(${JSON.stringify(DIST)});
    createEstimator(${JSON.stringify(model)}, { backend: 'cpu', processingResolution: 64 }).then(async (e) => {
      const p = e.estimate(Buffer.from('junk'));
      await p.catch((err) => { if (err.code !== 'ERR_LOTUS_IMAGE') process.exit(3); });
      await e.close();
      console.log('ok');
    });`));
  return cases;
}

/** One `lotus` command line: exit 0 is a result, a clean exit 1/2 (message, no stack) a typed error. */
async function lotus(args: string[], options: { cwd?: string } = {}): Promise<void> {
  const run = await runChild(process.execPath, [CLI, ...args], { cwd: options.cwd ?? ROOT, killAfterMs: 10_000 });
  if (run.signal) throw new ChildCrash(`lotus ${args.join(' ')}: killed by ${run.signal}: ${run.stderr.slice(-300)}`);
  if (run.code === 0) return;
  const clean = (run.code === 1 || run.code === 2) && /^lotus: /m.test(run.stderr) && !/\n\s+at |unexpected error/.test(run.stderr);
  if (!clean) throw new ChildCrash(`lotus ${args.join(' ')}: exit ${run.code}: ${run.stderr.slice(-300)}`);
  throw new CleanExit(run.code!, run.stderr.trim().split('\n')[0]!);
}

export function cliCases(dir: string, model: string, identity: string): Case[] {
  const cases: Case[] = [];
  const add = (name: string, expect: Expectation, run: () => Promise<unknown>) => cases.push({ group: 'cli', name, expect, run });
  const image = path.join(ROOT, 'test', 'fixtures', 'images', 'gradient-64x48.png');
  const out = (name: string) => path.join(dir, `cli-out-${name}`);
  const badLines: [string, string[]][] = [
    ['no arguments', []], ['unknown command', ['frobnicate']], ['unknown option', ['depth', '--bogus']],
    ['depth without --model', ['depth', image]], ['depth without images', ['depth', '--model', identity]],
    ['--model missing file', ['depth', image, '--model', path.join(dir, 'nope.onnx')]], ['--model a directory', ['depth', image, '--model', dir]],
    ['--processing-resolution -1', ['depth', image, '--model', identity, '--processing-resolution', '-1']],
    ['--processing-resolution 1e3', ['depth', image, '--model', identity, '--processing-resolution', '1e3']],
    ['--processing-resolution 99999', ['depth', image, '--model', identity, '--processing-resolution', '99999']],
    ['--seed 2^53', ['depth', image, '--model', identity, '--seed', '9007199254740992']], ['--seed -1', ['depth', image, '--model', identity, '--seed', '-1']],
    ['--format jpeg', ['depth', image, '--model', identity, '--format', 'jpeg']], ['--format empty', ['depth', image, '--model', identity, '--format', ',']],
    ['--backend gpu', ['depth', image, '--model', identity, '--backend', 'gpu']], ['--output-resample area', ['depth', image, '--model', identity, '--output-resample', 'area']],
    ['missing image', ['depth', path.join(dir, 'nope.png'), '--model', identity]], ['folder without images', ['depth', fs.mkdtempSync(path.join(dir, 'empty-')), '--model', identity]],
    ['normal on a depth model', ['normal', image, '--model', identity, '--out', out('normal')]],
    ['build without TensorRT (or a bad --max)', ['build', '--model', identity, '--max', '12y4']], ['bench --iterations 0', ['bench', '--model', identity, '--iterations', '0']],
    ['bench --resolutions 384,,768', ['bench', '--model', identity, '--resolutions', '384,,768']],
    ['corrupt image file', ['depth', path.join(dir, 'notes.txt'), '--model', identity, '--out', out('corrupt')]],
  ];
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
  for (const [name, args] of badLines) add(name, 'error', () => lotus(args));
  // `info` lists what it can: a cache folder that is a file holds no engines.
  add('info --cache-dir a file', 'either', () => lotus(['info', '--cache-dir', image]));
  add('a good run', 'result', () => lotus(['depth', image, '--model', identity, '--out', out('good')]));
  add('the same run again (outputs exist)', 'error', () => lotus(['depth', image, '--model', identity, '--out', out('good')]));
  add('the same run with --overwrite', 'result', () => lotus(['depth', image, '--model', identity, '--out', out('good'), '--overwrite']));
  add('an input among the outputs', 'error', async () => {
    const folder = fs.mkdtempSync(path.join(dir, 'clash-'));
    fs.copyFileSync(image, path.join(folder, 'a.png'));
    fs.copyFileSync(image, path.join(folder, 'a_depth_color.png'));
    await lotus(['depth', path.join(folder, 'a.png'), path.join(folder, 'a_depth_color.png'), '--model', identity, '--overwrite']);
  });
  if (process.platform === 'linux') {
    const fifo = path.join(dir, 'cli-fifo.png');
    spawnSync('mkfifo', [fifo]);
    add('a FIFO input', 'error', () => lotus(['depth', fifo, '--model', identity, '--out', out('fifo')]));
    add('a FIFO model', 'error', () => lotus(['depth', image, '--model', fifo, '--out', out('fifo-model')]));
    add('an unwritable --out', 'error', () => lotus(['depth', image, '--model', identity, '--out', '/sys/kernel']));
    add('<(cat image) as input', 'error', async () => {
      const command = `"${process.execPath}" "${CLI}" depth <(cat "${image}") --model "${identity}" --out "${out('pipe')}"`;
      const run = await runChild('/bin/bash', ['-c', command], { killAfterMs: 10_000 });
      if (run.signal || ![1, 2].includes(run.code!)) throw new ChildCrash(`exit ${run.code} ${run.signal}: ${run.stderr.slice(-200)}`);
      throw new CleanExit(run.code!, run.stderr.trim());
    });
    add('SIGINT mid-run: exit 130, no partial files', 'result', async () => {
      const folder = fs.mkdtempSync(path.join(dir, 'sigint-'));
      for (let i = 0; i < 30; i++) fs.copyFileSync(image, path.join(folder, `img-${i}.png`));
      const target = out('sigint');
      let pid = 0;
      const pending = runChild(process.execPath, [CLI, 'depth', folder, '--model', model, '--out', target, '--processing-resolution', '256'], {
        killAfterMs: 10_000, onSpawn: (p) => { pid = p; },
      });
      const start = Date.now();
      while (!(fs.existsSync(target) && fs.readdirSync(target).some((n) => n.endsWith('.npy'))) && Date.now() - start < 8000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      process.kill(pid, 'SIGINT');
      const run = await pending;
      if (run.signal || run.code !== 130) throw new ChildCrash(`exit ${run.code} ${run.signal}: ${run.stderr.slice(-300)}`);
      const names = fs.readdirSync(target);
      if (names.some((n) => n.includes('lotus-tmp'))) throw new Error('temporary files left behind');
    });
  }
  return cases;
}
