#!/usr/bin/env node
// Load tests of `lotus serve` with a real HTTP client (autocannon) on 127.0.0.1, in one run:
//   1. throughput with batching vs without at 8 connections (ratio);
//   2. overload at 4x the measured capacity: every response 200 or 429, no 5xx, no socket errors,
//      p99 of the 200s held by the queue limit (server-side p99 below the same load's without a limit);
//   3. 10,000 requests after 3,000 warm-up ones: server RSS (with its onnxruntime process) after the last 1,000 vs after the first
//      1,000 (RSS after every 1,000 printed, warm-up included; glibc's default arenas and MALLOC_ARENA_MAX=2);
//   4. SIGTERM during load: every request the server accepted is answered, exit 0.
// Each phase starts its own server (dist/cli.js serve, the published entry point) and stops it with
// SIGTERM. Run `npm run build:ts` first. Results: docs/benchmarks.md, "lotus serve under load".
//
//   node scripts/bench-serve.js [--model test/fixtures/tiny-depth-g.onnx] [--image <png>]
//     [--resolution 64] [--backend cpu] [--duration 10] [--overload 30] [--requests 10000]
//     [--memory-warmup 3000] [--batch-max 8] [--max-queue 16] [--json]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const autocannon = require('autocannon');

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const { childPids, procMemory } = require(path.join(ROOT, 'dist', 'bench', 'proc.js'));

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: path.join(ROOT, 'test', 'fixtures', 'tiny-depth-g.onnx') },
    image: { type: 'string', default: path.join(ROOT, 'test', 'fixtures', 'images', 'gradient-64x48.png') },
    resolution: { type: 'string', default: '64' },
    backend: { type: 'string', default: 'cpu' },
    duration: { type: 'string', default: '10' },
    overload: { type: 'string', default: '30' },
    requests: { type: 'string', default: '10000' },
    'memory-warmup': { type: 'string', default: '3000' },
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
async function startServer(extra, env = {}) {
  const argv = [CLI, 'serve', '--model', args.model, '--backend', args.backend, '--port', '0',
    '--processing-resolution', args.resolution, ...extra];
  const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
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
    const okTimes = [];
    const errors = {};
    const instance = autocannon({
      url: `${url}/v1/depth`,
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body,
      timeout: 60,
      ...options,
    }, (error, result) => (error ? reject(error) : resolve({ result, statuses, okLatencies, okTimes, errors })));
    instance.on('response', (_client, status, _bytes, ms) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status === 200) {
        okLatencies.push(ms);
        okTimes.push(performance.now());
      }
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

/** p-th percentile of the server's own latency histogram of 200s: the upper edge of the bucket it falls in. */
async function serverP99(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const buckets = [...text.matchAll(/^lotus_http_request_duration_seconds_bucket\{le="([^"]+)",route="\/v1\/depth",status="200"\} (\d+)$/gm)]
    .map((m) => ({ le: Number(m[1]), n: Number(m[2]) }));
  const total = buckets[buckets.length - 1]?.n ?? 0;
  return (buckets.find((b) => b.n >= 0.99 * total)?.le ?? NaN) * 1000;
}

/** One overload run: statuses, 200s' latency overall and by third of the run, the server's own p99. */
async function overloadRun(capacity, seconds, maxQueue) {
  const server = await startServer(['--batch-max', String(BATCH), '--batch-delay-ms', '2', '--max-queue', String(maxQueue)]);
  const rate = Math.round(4 * capacity);
  const started = performance.now();
  const run = await load(server.url, { connections: 128, duration: seconds, overallRate: rate });
  const batchSeconds = await metric(server.url, 'lotus_batch_duration_seconds_sum');
  const batches = await metric(server.url, 'lotus_batch_duration_seconds_count');
  const serverP99Ms = await serverP99(server.url);
  await server.stop();
  const p99Of = (values) => percentile([...values].sort((a, b) => a - b), 99);
  const thirds = [0, 1, 2].map((k) => p99Of(run.okLatencies.filter((_, i) => {
    const t = (run.okTimes[i] - started) / (seconds * 1000);
    return t >= k / 3 && t < (k + 1) / 3;
  })));
  const sorted = [...run.okLatencies].sort((a, b) => a - b);
  const fivexx = Object.entries(run.statuses).filter(([s]) => Number(s) >= 500).reduce((n, [, c]) => n + c, 0);
  const other = Object.entries(run.statuses).filter(([s]) => s !== '200' && s !== '429').reduce((n, [, c]) => n + c, 0);
  return {
    seconds, maxQueue, offeredPerSecond: rate, statuses: run.statuses, errors: run.errors, fivexx, otherStatuses: other,
    servedPerSecond: (run.statuses[200] ?? 0) / run.result.duration, meanBatchMs: (batchSeconds / batches) * 1000,
    okP50Ms: percentile(sorted, 50), okP99Ms: percentile(sorted, 99), okMaxMs: sorted[sorted.length - 1], okP99ByThirdMs: thirds, serverP99Ms,
  };
}

async function overload(capacity) {
  const seconds = Number(args.overload);
  // The server holds at most (1 run + 1 forming) x batch admitted plus the queue: a request let in
  // last waits for those ahead of it and then its own batch, about (held + batch) / rate. Without the
  // limit the client's 128 connections would all wait in the queue (closed-loop client: 128 / rate).
  const held = 2 * BATCH + MAX_QUEUE;
  const limited = await overloadRun(capacity, seconds, MAX_QUEUE);
  const unlimited = await overloadRun(capacity, Math.min(seconds, 15), 1_000_000);
  const estimateMs = ((held + BATCH) / limited.servedPerSecond) * 1000;
  // Judged on the server's own latency histogram: on a 2-core machine the client (autocannon, 128
  // connections, same cores) lags behind its sockets, and its numbers carry that lag.
  const pass = limited.fivexx === 0 && limited.otherStatuses === 0 && count(limited.errors) === 0 &&
    limited.serverP99Ms < unlimited.serverP99Ms;
  const line = (r) => `offered ${r.offeredPerSecond} req/s for ${r.seconds} s, max queue ${r.maxQueue}: ${JSON.stringify(r.statuses)}, ` +
    `errors ${JSON.stringify(r.errors)}; served ${r.servedPerSecond.toFixed(1)} req/s (batches of ${r.meanBatchMs.toFixed(0)} ms); ` +
    `200s p50 ${r.okP50Ms.toFixed(0)} ms, p99 ${r.okP99Ms.toFixed(0)} ms (by third: ${r.okP99ByThirdMs.map((v) => v.toFixed(0)).join(' / ')}), ` +
    `max ${r.okMaxMs.toFixed(0)} ms; server-side p99 <= ${r.serverP99Ms} ms`;
  log(`  ${line(limited)}`);
  log(`  queue estimate (${held} held + ${BATCH}) / ${limited.servedPerSecond.toFixed(1)} req/s = ${estimateMs.toFixed(0)} ms`);
  log(`  without the limit: ${line(unlimited)}`);
  return { held, estimateMs, limited, unlimited, pass };
}

/** RSS of the server's children: the CPU backend's onnxruntime process (Linux; 0 elsewhere). */
function childrenRss(pid) {
  return childPids(pid).reduce((sum, child) => sum + (procMemory(child)?.rss ?? 0), 0);
}

/**
 * RSS after every 1,000 requests (`warmup` of them first, then `total`): the server's own (from its
 * /metrics) plus its onnxruntime process's.
 */
async function memoryCurve(warmup, total, env) {
  const server = await startServer(['--batch-max', String(BATCH), '--batch-delay-ms', '2', '--max-queue', '64'], env);
  const curve = [];
  let ok = 0;
  let failures = 0;
  for (let done = 0; done < warmup + total; done += 1000) {
    const run = await load(server.url, { connections: 8, amount: 1000 });
    ok += run.statuses[200] ?? 0;
    failures += count(run.errors) + count(run.statuses) - (run.statuses[200] ?? 0);
    curve.push((await metric(server.url, 'process_resident_memory_bytes') + childrenRss(server.pid)) / 2 ** 20);
  }
  await server.stop();
  const measured = curve.slice(warmup / 1000);
  const growth = (measured[measured.length - 1] - measured[0]) / measured[0];
  return {
    warmup, requests: total, ok, failures, rssMiB: curve.map((v) => Number(v.toFixed(1))), growth,
    pass: Math.abs(growth) <= 0.1 && failures === 0,
  };
}

async function memory() {
  const total = Number(args.requests);
  const warmup = Number(args['memory-warmup']);
  // glibc gives each thread that allocates (onnxruntime's, libuv's, libvips') an arena of its own,
  // and batches of varying size grow onnxruntime's arena and fragment the others: RSS climbs in
  // steps for the first few thousand requests, then stays (measured to 30,000: docs/benchmarks.md).
  // The warm-up requests are sent first and shown, but not measured. MALLOC_ARENA_MAX=2, the usual
  // setting for long-running servers, is measured too.
  const result = {};
  for (const [name, env] of [['default', {}], ['MALLOC_ARENA_MAX=2', { MALLOC_ARENA_MAX: '2' }]]) {
    result[name] = await memoryCurve(warmup, total, env);
    const r = result[name];
    log(`  ${name}: ${warmup} warm-up + ${total} requests (${r.ok} 200, ${r.failures} other): RSS MiB after each 1000: ` +
      `${r.rssMiB.slice(0, warmup / 1000).join(' ')} | ${r.rssMiB.slice(warmup / 1000).join(' ')} ` +
      `(after the last 1000 vs after the first 1000 measured: ${(r.growth * 100).toFixed(1)} %)`);
  }
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
  const passed = over.pass && mem.default.pass && term.pass;
  log(`overload ${over.pass ? 'PASS' : 'FAIL'}, memory ${mem.default.pass ? 'PASS' : 'FAIL'} (default malloc; ` +
    `${mem['MALLOC_ARENA_MAX=2'].pass ? 'PASS' : 'FAIL'} with MALLOC_ARENA_MAX=2), SIGTERM ${term.pass ? 'PASS' : 'FAIL'}`);
  if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.exitCode = passed ? 0 : 1;
}

main().catch((error) => {
  log(`bench-serve: ${error.stack ?? error}`);
  process.exitCode = 2;
});
