#!/usr/bin/env node
// Load tests of `lotus serve` with a real HTTP client (autocannon) on 127.0.0.1, in one run:
//   1. throughput with batching vs without at 8 connections (ratio);
//   2. overload at 4x the measured capacity: every response 200 or 429, no 5xx, no socket errors,
//      p99 of the 200s against the bound the queue limit sets;
//   3. 10,000 requests: server RSS after the last 1,000 vs after the first 1,000;
//   4. SIGTERM during load: every request the server accepted is answered, exit 0.
// Each phase starts its own server (dist/cli.js serve, the published entry point) and stops it with
// SIGTERM. Run `npm run build:ts` first. Results: docs/benchmarks.md, "lotus serve under load".
//
//   node scripts/bench-serve.js [--model test/fixtures/tiny-depth-g.onnx] [--image <png>]
//     [--resolution 64] [--backend cpu] [--duration 10] [--overload 30] [--requests 10000]
//     [--batch-max 8] [--max-queue 16] [--json]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const autocannon = require('autocannon');

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: path.join(ROOT, 'test', 'fixtures', 'tiny-depth-g.onnx') },
    image: { type: 'string', default: path.join(ROOT, 'test', 'fixtures', 'images', 'gradient-64x48.png') },
    resolution: { type: 'string', default: '64' },
    backend: { type: 'string', default: 'cpu' },
    duration: { type: 'string', default: '10' },
    overload: { type: 'string', default: '30' },
    requests: { type: 'string', default: '10000' },
    'batch-max': { type: 'string', default: '8' },
    'max-queue': { type: 'string', default: '16' },
    json: { type: 'boolean', default: false },
  },
});
const DURATION = Number(args.duration);
const BATCH = Number(args['batch-max']);
const MAX_QUEUE = Number(args['max-queue']);
const body = fs.readFileSync(args.image);
const log = (line) => process.stderr.write(`${line}\n`);

/** `lotus serve` in a child process on a free port; resolves once it printed its start line. */
async function startServer(extra) {
  const argv = [CLI, 'serve', '--model', args.model, '--backend', args.backend, '--port', '0',
    '--processing-resolution', args.resolution, ...extra];
  const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 120_000);
    const check = () => {
      const match = /listening on (http:\/\/[\d.:]+) \((.*)\)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', check);
    exited.then(({ code }) => reject(new Error(`server exited (${code}) before starting: ${stderr}`)));
  });
  return {
    url,
    startLine: stdout.trim().split('\n')[0],
    pid: child.pid,
    stderr: () => stderr,
    exited,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** One autocannon run; counts statuses, latencies of 200s and request errors by code from its events. */
function load(url, options) {
  return new Promise((resolve, reject) => {
    const statuses = {};
    const okLatencies = [];
    const errors = {};
    const instance = autocannon({
      url: `${url}/v1/depth`,
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body,
      timeout: 60,
      ...options,
    }, (error, result) => (error ? reject(error) : resolve({ result, statuses, okLatencies, errors })));
    instance.on('response', (_client, status, _bytes, ms) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status === 200) okLatencies.push(ms);
    });
    instance.on('reqError', (error) => {
      const code = error.code ?? error.message;
      errors[code] = (errors[code] ?? 0) + 1;
    });
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^${name} ([\\d.e+]+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}

const count = (o) => Object.values(o).reduce((a, b) => a + b, 0);

async function batchingRatio() {
  const runs = {};
  for (const [name, extra] of [['batching', ['--batch-max', String(BATCH), '--batch-delay-ms', '2']], ['none', ['--batch-max', '1']]]) {
    const server = await startServer([...extra, '--max-queue', '64']);
    await load(server.url, { connections: 8, duration: 2 }); // warm-up
    const run = await load(server.url, { connections: 8, duration: DURATION });
    const images = await metric(server.url, 'lotus_batch_size_sum');
    const calls = await metric(server.url, 'lotus_batch_size_count');
    await server.stop();
    const sorted = [...run.okLatencies].sort((a, b) => a - b);
    runs[name] = {
      startLine: server.startLine,
      requestsPerSecond: (run.statuses[200] ?? 0) / run.result.duration,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      meanBatch: images / calls,
      non200: count(run.statuses) - (run.statuses[200] ?? 0),
      errors: count(run.errors),
    };
    log(`  ${name}: ${runs[name].requestsPerSecond.toFixed(1)} req/s, p50 ${runs[name].p50Ms.toFixed(0)} ms, p99 ${runs[name].p99Ms.toFixed(0)} ms, ` +
      `mean batch ${runs[name].meanBatch.toFixed(2)} images`);
  }
  return { ...runs, ratio: runs.batching.requestsPerSecond / runs.none.requestsPerSecond };
}

async function overload(capacity) {
  const seconds = Number(args.overload);
  const server = await startServer(['--batch-max', String(BATCH), '--batch-delay-ms', '2', '--max-queue', String(MAX_QUEUE)]);
  const rate = Math.round(4 * capacity);
  const run = await load(server.url, { connections: 64, duration: seconds, overallRate: rate });
  const batchSeconds = await metric(server.url, 'lotus_batch_duration_seconds_sum');
  const batches = await metric(server.url, 'lotus_batch_duration_seconds_count');
  await server.stop();
  const sorted = [...run.okLatencies].sort((a, b) => a - b);
  // The server holds at most (1 run + 1 forming) x batch admitted plus the queue: a request let in
  // last waits for every one of those ahead of it, then for its own batch, at the rate the server
  // served during this run. Without the queue limit the wait would grow for as long as the overload lasts.
  const held = 2 * BATCH + MAX_QUEUE;
  const served = (run.statuses[200] ?? 0) / run.result.duration;
  const boundMs = ((held + BATCH) / served) * 1000;
  const fivexx = Object.entries(run.statuses).filter(([s]) => Number(s) >= 500).reduce((n, [, c]) => n + c, 0);
  const other = Object.entries(run.statuses).filter(([s]) => s !== '200' && s !== '429').reduce((n, [, c]) => n + c, 0);
  const result = {
    seconds, offeredPerSecond: rate, statuses: run.statuses, errors: run.errors, fivexx, otherStatuses: other,
    servedPerSecond: served, meanBatchMs: (batchSeconds / batches) * 1000, held,
    okP50Ms: percentile(sorted, 50), okP99Ms: percentile(sorted, 99), okMaxMs: sorted[sorted.length - 1], boundMs,
    pass: fivexx === 0 && other === 0 && count(run.errors) === 0 && percentile(sorted, 99) <= boundMs,
  };
  log(`  offered ${rate} req/s for ${seconds} s: ${JSON.stringify(run.statuses)}, errors ${JSON.stringify(run.errors)}; ` +
    `served ${served.toFixed(1)} req/s in batches of ${(batchSeconds / batches * 1000).toFixed(1)} ms on average; ` +
    `200s p50 ${result.okP50Ms.toFixed(0)} ms, p99 ${result.okP99Ms.toFixed(0)} ms, max ${result.okMaxMs.toFixed(0)} ms ` +
    `(bound: (${held} held + ${BATCH}) / ${served.toFixed(1)} req/s = ${boundMs.toFixed(0)} ms)`);
  return result;
}

async function memory() {
  const total = Number(args.requests);
  const server = await startServer(['--batch-max', String(BATCH), '--batch-delay-ms', '2', '--max-queue', '64']);
  const run = (amount) => load(server.url, { connections: 8, amount });
  const first = await run(1000);
  const afterFirst = await metric(server.url, 'process_resident_memory_bytes');
  const middle = await run(total - 2000);
  const beforeLast = await metric(server.url, 'process_resident_memory_bytes');
  const last = await run(1000);
  const afterLast = await metric(server.url, 'process_resident_memory_bytes');
  await server.stop();
  const ok = [first, middle, last].reduce((n, r) => n + (r.statuses[200] ?? 0), 0);
  const failures = [first, middle, last].reduce((n, r) => n + count(r.errors) + count(r.statuses) - (r.statuses[200] ?? 0), 0);
  const growth = (afterLast - afterFirst) / afterFirst;
  const result = { requests: total, ok, failures, rssAfterFirstMiB: afterFirst / 2 ** 20, rssBeforeLastMiB: beforeLast / 2 ** 20, rssAfterLastMiB: afterLast / 2 ** 20, growth, pass: Math.abs(growth) <= 0.1 && failures === 0 };
  log(`  ${total} requests (${ok} 200): RSS after the first 1000 ${result.rssAfterFirstMiB.toFixed(1)} MiB, after the last 1000 ${result.rssAfterLastMiB.toFixed(1)} MiB (${(growth * 100).toFixed(1)} %)`);
  return result;
}

async function sigterm() {
  const server = await startServer(['--batch-max', String(BATCH), '--batch-delay-ms', '2', '--max-queue', '64']);
  const running = load(server.url, { connections: 16, duration: 8 });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const sent = Date.now();
  const exited = server.stop().then((exit) => ({ ...exit, ms: Date.now() - sent }));
  const run = await running;
  const exit = await exited;
  const line = /(\d+) requests accepted, (\d+) answered/.exec(server.stderr());
  const accepted = line ? Number(line[1]) : NaN;
  const answered = line ? Number(line[2]) : NaN;
  const responses = count(run.statuses);
  // Every request that reached the server's handler was answered, and the client received exactly
  // those answers. Client errors are requests the server never received: connections refused after
  // it stopped listening, and requests written on a connection the server had just closed after a
  // 'Connection: close' answer (reset by the kernel, never read).
  const result = {
    responses, statuses: run.statuses, errors: run.errors, serverAccepted: accepted, serverAnswered: answered, exitCode: exit.code, exitMs: exit.ms,
    pass: exit.code === 0 && accepted === answered && responses === answered,
  };
  log(`  SIGTERM after 3 s of load: server accepted ${accepted}, answered ${answered}; client got ${responses} responses ${JSON.stringify(run.statuses)}; ` +
    `client errors (requests never received) ${JSON.stringify(run.errors)}; exit ${exit.code} ${exit.ms} ms after the signal`);
  return result;
}

async function main() {
  if (!fs.existsSync(CLI)) throw new Error('dist/cli.js is missing: run npm run build:ts first');
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))), node: process.version };
  log(`lotus serve load test: ${path.relative(ROOT, args.model)} at ${args.resolution} on the ${args.backend} backend, ` +
    `body ${path.relative(ROOT, args.image)} (${body.length} bytes); ${machine.cpus} CPUs (${machine.cpuModel}), load average ${machine.loadAverage.join(' ')}`);
  log('1. batching vs none, 8 connections:');
  const batching = await batchingRatio();
  log(`  ratio (batching / none): ${batching.ratio.toFixed(2)}`);
  log(`2. overload at 4x capacity (${batching.batching.requestsPerSecond.toFixed(1)} req/s), max queue ${MAX_QUEUE}:`);
  const over = await overload(batching.batching.requestsPerSecond);
  log('3. memory over many requests:');
  const mem = await memory();
  log('4. SIGTERM during load:');
  const term = await sigterm();
  const report = { machine, model: args.model, resolution: Number(args.resolution), backend: args.backend, batching, overload: over, memory: mem, sigterm: term };
  const passed = over.pass && mem.pass && term.pass;
  log(`overload ${over.pass ? 'PASS' : 'FAIL'}, memory ${mem.pass ? 'PASS' : 'FAIL'}, SIGTERM ${term.pass ? 'PASS' : 'FAIL'}`);
  if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.exitCode = passed ? 0 : 1;
}

main().catch((error) => {
  log(`bench-serve: ${error.stack ?? error}`);
  process.exitCode = 2;
});
