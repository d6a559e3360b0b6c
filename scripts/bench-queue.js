#!/usr/bin/env node
// Throughput of the work queue with 1, 2, 3 ... `lotus worker` processes on this machine, against
// the same jobs run in one process without a queue (the peer, measured in the same run).
// Starts its own redis-server (127.0.0.1, a free port, AOF on) and stops it at the end.
// Needs `npm run build:ts` first (it runs dist/). Usage: node scripts/bench-queue.js --help
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const HELP = `Usage: node scripts/bench-queue.js [options]

Options:
  --model <onnx>         depth model (default: test/fixtures/tiny-depth-g.onnx, random weights)
  --jobs <N>             jobs per run (default: 600)
  --workers <list>       worker counts to run, e.g. 1,2,3 (default: 1,2,3)
  --concurrency <N>      jobs in flight per worker (default: 2)
  --cpu-threads <N>      onnxruntime intra-op threads per worker and for the peer (default: 1)
  --resolution <N>       processing resolution of every job (default: 64)
  --backend <b>          auto | tensorrt | cpu (default: cpu)
  --json                 print one JSON document`;

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, jobs: { type: 'string' }, workers: { type: 'string' },
    concurrency: { type: 'string' }, 'cpu-threads': { type: 'string' }, resolution: { type: 'string' },
    backend: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const MODEL = path.resolve(values.model ?? path.join(ROOT, 'test', 'fixtures', 'tiny-depth-g.onnx'));
const JOBS = Number(values.jobs ?? 600);
const WORKERS = (values.workers ?? '1,2,3').split(',').map(Number);
const CONCURRENCY = Number(values.concurrency ?? 2);
const THREADS = Number(values['cpu-threads'] ?? 1);
const RESOLUTION = Number(values.resolution ?? 64);
const BACKEND = values.backend ?? 'cpu';
if (![JOBS, CONCURRENCY, THREADS, RESOLUTION, ...WORKERS].every((n) => Number.isSafeInteger(n) && n >= 0) || JOBS < 1) {
  console.error(HELP);
  process.exit(2);
}

const lotus = require(path.join(ROOT, 'dist', 'index.js'));
const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function findRedisServer() {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/usr/sbin', '/usr/local/bin']) {
    const file = path.join(dir, 'redis-server');
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch { /* next */ }
  }
  throw new Error('redis-server not found (apt-get install redis-server)');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (ok) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(500, () => done(false)).once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n')).once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

async function startRedis(dir) {
  const port = await freePort();
  const child = spawn(findRedisServer(), [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec',
    '--save', '', '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log'),
  ], { stdio: 'ignore' });
  children.add(child);
  for (let i = 0; !(await ping(port)); i++) {
    if (i > 300) throw new Error('redis-server did not start');
    await sleep(50);
  }
  return { url: `redis://127.0.0.1:${port}`, child };
}

function startWorker(url, queue, name) {
  const child = spawn(process.execPath, [
    CLI, 'worker', '--redis', url, '--queue', queue, '--model', MODEL, '--backend', BACKEND,
    '--cpu-threads', String(THREADS), '--concurrency', String(CONCURRENCY), '--name', name, '--log', 'json',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('"type":"ready"')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker ${name} exited (${code}) before it was ready: ${err}`)));
  });
}

async function stopWorker(child) {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  children.delete(child);
}

/** Inputs: 20 distinct small images, copied to JOBS files (as `lotus submit` of a folder sends them). */
async function makeInputs(dir) {
  const sharp = require('sharp');
  const bases = [];
  for (let k = 0; k < 20; k++) {
    const width = 24 + ((k * 37) % 73);
    const height = 24 + ((k * 53) % 61);
    const raw = Buffer.alloc(width * height * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * (k + 7) * 2654435761) >>> 24;
    bases.push(await sharp(raw, { raw: { width, height, channels: 3 } }).blur(1 + (k % 3)).png().toBuffer());
  }
  const files = [];
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < JOBS; i++) {
    const file = path.join(dir, `img-${String(i).padStart(5, '0')}.png`);
    fs.writeFileSync(file, bases[i % bases.length]);
    files.push(file);
  }
  return files;
}

const outputsOf = (outDir, file) => {
  const stem = path.basename(file, '.png');
  return [{ format: 'npy', path: path.join(outDir, `${stem}_depth.npy`) }, { format: 'color', path: path.join(outDir, `${stem}_depth_color.png`) }];
};

/**
 * The peer: a worker's exact per-job work (processJob: check the job, read the file, estimate,
 * encode .npy + colour PNG, write each atomically with fsync) in one process, without the queue.
 */
async function peer(files, outDir, threads) {
  const { processJob } = require(path.join(ROOT, 'dist', 'queue', 'process-job.js'));
  const estimator = await lotus.createEstimator(MODEL, {
    backend: BACKEND, onWarning: () => undefined, ...(threads > 0 ? { cpu: { intraOpThreads: threads } } : {}),
  });
  const ctx = { estimator, worker: 'peer', input: { maxBytes: 16 << 20, timeoutMs: 30_000 }, maxResultBytes: 16 << 20 };
  let id = 0;
  const one = (file) => processJob(ctx, {
    id: `peer-${id++}`, attempt: 1,
    data: { version: 1, task: 'depth', input: { path: file }, outputs: outputsOf(outDir, file), options: { processingResolution: RESOLUTION } },
  });
  await one(files[0]); // warm
  const started = process.hrtime.bigint();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < files.length) await one(files[next++]);
  }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await estimator.close();
  return { jobs: files.length, seconds, jobsPerSecond: files.length / seconds };
}

async function queueRun(url, files, outDir, workers) {
  const queue = `bench-${workers}`;
  const procs = await Promise.all(Array.from({ length: workers }, (_, i) => startWorker(url, queue, `w${i}`)));
  const producer = await lotus.openQueueProducer({ redis: url, queue });
  try {
    // Warm every worker (first estimate pays one-time costs), then time the batch.
    const warm = await producer.submit(Array.from({ length: workers * CONCURRENCY }, () => ({
      task: 'depth', input: files[0], outputs: [{ format: 'npy' }], options: { processingResolution: RESOLUTION },
    })));
    await producer.wait(warm);
    const started = process.hrtime.bigint();
    const jobs = await producer.submit(files.map((file) => ({
      task: 'depth', input: file, outputs: outputsOf(outDir, file), options: { processingResolution: RESOLUTION },
    })));
    const { outcomes } = await producer.wait(jobs);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const failed = outcomes.filter((o) => o.state !== 'completed').length;
    if (failed > 0) throw new Error(`${failed} jobs did not complete`);
    return { workers, jobs: files.length, seconds, jobsPerSecond: files.length / seconds };
  } finally {
    await producer.close();
    for (const p of procs) await stopWorker(p);
  }
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-bench-queue-'));
  const redis = await startRedis(work);
  try {
    const files = await makeInputs(path.join(work, 'in'));
    const info = await lotus.readModelInfo(MODEL);
    const cpus = os.cpus();
    // The load average says whether other processes shared the cores during the run.
    const machine = `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} logical cores, node ${process.version}, load average before ${os.loadavg()[0].toFixed(1)}`;
    const peerSame = await peer(files, path.join(work, 'peer-1'), THREADS);
    const peerAll = THREADS === 0 ? peerSame : await peer(files, path.join(work, 'peer-all'), 0);
    const runs = [];
    for (const n of WORKERS) runs.push(await queueRun(redis.url, files, path.join(work, `out-${n}`), n));
    const report = {
      machine, loadAverageAfter: os.loadavg()[0], backend: BACKEND, model: MODEL, randomWeights: info.randomWeights === true, resolution: RESOLUTION,
      jobs: JOBS, concurrencyPerWorker: CONCURRENCY, cpuThreadsPerWorker: THREADS,
      peer: { sameThreads: peerSame, allThreads: peerAll }, runs,
    };
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    console.log(`machine: ${machine}; backend ${BACKEND}; model ${path.basename(MODEL)}${report.randomWeights ? ' (random weights)' : ''}`);
    console.log(`${JOBS} jobs per run: read PNG, estimate at processing resolution ${RESOLUTION}, write .npy + colour PNG (atomic); ${CONCURRENCY} in flight per process`);
    console.log(`peer (a worker's per-job work in one process, no queue, ${THREADS} intra-op thread(s)): ${peerSame.jobsPerSecond.toFixed(1)} jobs/s`);
    if (peerAll !== peerSame) console.log(`peer (same, onnxruntime's default threads): ${peerAll.jobsPerSecond.toFixed(1)} jobs/s`);
    console.log('workers  seconds  jobs/s  vs 1 worker  vs peer');
    const one = runs.find((r) => r.workers === 1);
    for (const r of runs) {
      console.log(`${String(r.workers).padStart(7)}  ${r.seconds.toFixed(2).padStart(7)}  ${r.jobsPerSecond.toFixed(1).padStart(6)}  ${(one ? (r.jobsPerSecond / one.jobsPerSecond).toFixed(2) + 'x' : '-').padStart(11)}  ${(r.jobsPerSecond / peerSame.jobsPerSecond).toFixed(2).padStart(6)}x`);
    }
    console.log(`load average after: ${os.loadavg()[0].toFixed(1)}`);
  } finally {
    const exited = new Promise((r) => redis.child.once('exit', r));
    redis.child.kill('SIGTERM');
    await exited;
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (error) => {
  console.error(`bench-queue: ${error.stack ?? error}`);
  process.exit(1);
});
