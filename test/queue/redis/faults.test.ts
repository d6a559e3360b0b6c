// Fault tests of the work queue with a real redis-server and real `lotus worker` / `lotus submit`
// processes (docs/queue.md, "Behaviour on each fault"). Every job must complete exactly once,
// and every output must be byte-identical to what `lotus depth` writes for the same image.
// LOTUS_QUEUE_TEST_JOBS sets the job count of the big runs (default 1,000).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildJobData, openQueueProducer, type LotusJobData } from '../../../lib/index';
import {
  RESOLUTION, RedisServer, findRedisServer, jsonResult, lotus, makeInputs, makeTestImages, startWorker, stopProcess,
  until, type JsonProcess, type TestImages,
} from './harness';

const JOBS = Number(process.env.LOTUS_QUEUE_TEST_JOBS ?? 1000);
const REDIS = findRedisServer();
const describeRedis = REDIS ? describe : describe.skip;
if (!REDIS) console.warn('queue fault tests skipped: redis-server not found (apt-get install redis-server; .ci/run installs it)');

/** Short locks so a killed worker's jobs come back within seconds. */
const FAST_RECOVERY = ['--lock-duration', '4000', '--stalled-interval', '1000'];

let redis: RedisServer;
let images: TestImages;
let work: string;

beforeAll(async () => {
  if (!REDIS) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-queue-faults-'));
  redis = await RedisServer.start(REDIS);
  images = await makeTestImages(work, 20);
});

afterAll(async () => {
  await redis?.dispose();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

interface SubmitDoc {
  submitted: number;
  completed: number;
  failed: number;
  pending: number;
  jobs: { id: string; input: string; state: string; worker?: string; failure?: { code: string } }[];
}

function events(worker: JsonProcess, type: string): Record<string, unknown>[] {
  return worker.lines.filter((l) => l.type === type);
}

function completionsByJob(workers: JsonProcess[]): Map<string, string[]> {
  const byJob = new Map<string, string[]>();
  workers.forEach((w, i) => {
    for (const e of events(w, 'completed')) {
      const list = byJob.get(e.jobId as string) ?? [];
      list.push(`w${i}`);
      byJob.set(e.jobId as string, list);
    }
  });
  return byJob;
}

/**
 * A worker logs a completion right after BullMQ recorded it, and the producer may hear of it
 * first: give the logs a moment (bounded) to catch up before counting them.
 */
async function logsCaughtUp(workers: JsonProcess[], done: (byJob: Map<string, string[]>) => boolean): Promise<void> {
  await until('the workers\' logs', () => done(completionsByJob(workers)), 5000).catch(() => undefined);
}

/** Every input's two outputs exist, equal the reference bytes, and nothing else is in the folder. */
function checkOutputs(outDir: string, n: number, inputs: ReturnType<typeof makeInputs>): void {
  const expected = new Set<string>();
  for (let i = 0; i < n; i++) {
    const stem = path.basename(inputs.file(i), '.png');
    const ref = images.reference[inputs.base(i)]!;
    const npy = path.join(outDir, `${stem}_depth.npy`);
    const color = path.join(outDir, `${stem}_depth_color.png`);
    expect(fs.readFileSync(npy).equals(ref.npy), `${npy} equals lotus depth's output`).toBe(true);
    expect(fs.readFileSync(color).equals(ref.color), `${color} equals lotus depth's output`).toBe(true);
    expected.add(path.basename(npy));
    expected.add(path.basename(color));
  }
  // No temp files of killed or retried attempts, no extra outputs.
  const extra = fs.readdirSync(outDir).filter((name) => !expected.has(name));
  expect(extra).toEqual([]);
}

function submit(queue: string, inputsDir: string, outDir: string, extra: string[] = []): JsonProcess {
  return lotus([
    'submit', inputsDir, '--redis', redis.url, '--queue', queue, '--out', outDir,
    '--processing-resolution', String(RESOLUTION), '--json', ...extra,
  ]);
}

async function stopAll(workers: JsonProcess[]): Promise<void> {
  const codes = await Promise.all(workers.map((w) => stopProcess(w)));
  workers.forEach((w, i) => {
    if (w.child.signalCode === 'SIGKILL') return;
    expect(codes[i], `worker ${i} exit code; stderr: ${w.stderr().slice(-1000)}`).toBe(0);
  });
}

describeRedis('queue faults (real redis-server and worker processes)', () => {
  test(`3 workers x ${JOBS} jobs: each completes exactly once, outputs equal lotus depth`, async () => {
    const queue = 'clean';
    const inputs = makeInputs(path.join(work, 'clean-in'), images, JOBS);
    const out = path.join(work, 'clean-out');
    const workers = await Promise.all([0, 1, 2].map((i) => startWorker(redis.url, queue, { name: `w${i}` })));
    try {
      const started = Date.now();
      const { code, doc } = await jsonResult(submit(queue, inputs.dir, out), 180_000);
      const seconds = (Date.now() - started) / 1000;
      const summary = doc as unknown as SubmitDoc;
      expect(code).toBe(0);
      expect(summary).toMatchObject({ submitted: JOBS, completed: JOBS, failed: 0, pending: 0 });
      await logsCaughtUp(workers, (byJob) => byJob.size >= JOBS);
      const byJob = completionsByJob(workers);
      expect(byJob.size).toBe(JOBS);
      for (const job of summary.jobs) expect(byJob.get(job.id), job.id).toHaveLength(1);
      // All three took part.
      for (const w of workers) expect(events(w, 'completed').length).toBeGreaterThan(0);
      checkOutputs(out, JOBS, inputs);
      console.log(`clean run: ${JOBS} jobs in ${seconds.toFixed(1)} s (${(JOBS / seconds).toFixed(1)} jobs/s, 3 workers, 2 cores)`);
    } finally {
      await stopAll(workers);
    }
  });

  test(`SIGKILL one worker mid-run (${JOBS} jobs, inline bytes): its jobs are recovered by the others, no torn or duplicate output`, async () => {
    const queue = 'sigkill';
    const inputs = makeInputs(path.join(work, 'kill-in'), images, JOBS);
    const out = path.join(work, 'kill-out');
    const workers = await Promise.all([0, 1, 2].map((i) => startWorker(redis.url, queue, { name: `w${i}`, extra: FAST_RECOVERY })));
    try {
      const run = submit(queue, inputs.dir, out, ['--inline']);
      const victim = workers[0]!;
      await until('a quarter of the jobs done', () => completionsByJob(workers).size >= JOBS / 4, 120_000, 20);
      victim.child.kill('SIGKILL');
      await victim.exited;
      const victimStarted = new Set(events(victim, 'active').map((e) => e.jobId as string));

      const { code, doc } = await jsonResult(run, 180_000);
      const summary = doc as unknown as SubmitDoc;
      expect(code, JSON.stringify(summary).slice(0, 1000)).toBe(0);
      expect(summary).toMatchObject({ submitted: JOBS, completed: JOBS, failed: 0 });
      await logsCaughtUp(workers, (byJob) => summary.jobs.every((j) => j.worker === 'w0' || byJob.has(j.id)));
      const byJob = completionsByJob(workers);
      for (const [id, by] of byJob) expect(by, `job ${id} completed once`).toHaveLength(1);
      // Jobs the killed worker had started and not completed (in Redis: a completion it recorded
      // just before dying counts as its own, even if its log line was lost with it).
      const results = new Map(summary.jobs.map((j) => [j.id, j]));
      const orphans = [...victimStarted].filter((id) => results.get(id)!.worker !== 'w0');
      expect(orphans.length, 'the killed worker had jobs in flight').toBeGreaterThan(0);
      for (const id of orphans) {
        // Recovered by a survivor (its stalled checker put the job back), completed there.
        const completion = [...events(workers[1]!, 'completed'), ...events(workers[2]!, 'completed')].find((e) => e.jobId === id);
        expect(completion?.attempt, `orphan ${id} ran again`).toBeGreaterThanOrEqual(2);
      }
      const unlogged = [...victimStarted].filter((id) => results.get(id)!.worker === 'w0' && !byJob.has(id));
      expect(unlogged.length, 'completions the killed worker recorded but did not log').toBeLessThanOrEqual(2);
      const stalled = [...events(workers[1]!, 'stalled'), ...events(workers[2]!, 'stalled')].map((e) => e.jobId);
      for (const id of orphans) expect(stalled).toContain(id);
      // Every job's result names a worker; jobs of the survivors have their completion logged.
      for (const job of summary.jobs) {
        if (job.worker !== 'w0') expect(byJob.get(job.id), job.id).toEqual([job.worker]);
      }
      checkOutputs(out, JOBS, inputs);
    } finally {
      await stopAll(workers);
    }
  });

  test(`restart redis-server mid-run (${JOBS} jobs, AOF): workers and producer reconnect, no job lost`, async () => {
    const queue = 'restart';
    const inputs = makeInputs(path.join(work, 'restart-in'), images, JOBS);
    const out = path.join(work, 'restart-out');
    const workers = await Promise.all([0, 1, 2].map((i) => startWorker(redis.url, queue, { name: `w${i}`, extra: FAST_RECOVERY })));
    try {
      // --return: the producer receives the outputs in the job results and writes them itself.
      const run = submit(queue, inputs.dir, out, ['--return']);
      await until('a third of the jobs done', () => completionsByJob(workers).size >= JOBS / 3, 120_000, 20);
      const doneBefore = completionsByJob(workers).size;
      await redis.restart(1000);
      const { code, doc } = await jsonResult(run, 180_000);
      const summary = doc as unknown as SubmitDoc;
      expect(code, JSON.stringify(summary).slice(0, 1000)).toBe(0);
      expect(summary).toMatchObject({ submitted: JOBS, completed: JOBS, failed: 0, pending: 0 });
      expect(doneBefore).toBeLessThan(JOBS);
      // The workers saw the connection go.
      expect(workers.some((w) => events(w, 'error').length > 0)).toBe(true);
      // No job completed twice. A worker whose completion reply was lost in the restart does not
      // log it (BullMQ's retry of the completion then finds it done), so a few lines may be missing.
      await logsCaughtUp(workers, (byJob) => byJob.size >= JOBS);
      const byJob = completionsByJob(workers);
      for (const [id, by] of byJob) expect(by, `job ${id} completed once`).toHaveLength(1);
      const unlogged = summary.jobs.filter((j) => !byJob.has(j.id));
      if (unlogged.length > 0) console.log(`restart: ${unlogged.length} completions not logged by their worker: ${unlogged.map((j) => `${j.id} by ${j.worker}`).join(', ')}`);
      expect(unlogged.length).toBeLessThanOrEqual(3 * 2); // at most the jobs in flight at the restart
      checkOutputs(out, JOBS, inputs);
      // The jobs completed before the restart are still recorded (AOF).
      const stats = await jsonResult(lotus(['queue-stats', '--redis', redis.url, '--queue', queue, '--sample', '0', '--json']), 30_000);
      expect((stats.doc.counts as Record<string, number>).completed).toBe(JOBS);
    } finally {
      await stopAll(workers);
    }
  });

  test('50 poison jobs among good ones: each fails with its reason after the configured attempts, good jobs unaffected', async () => {
    const queueName = 'poison';
    const good = Math.max(50, Math.round(JOBS * 0.45));
    const inputs = makeInputs(path.join(work, 'poison-in'), images, good);
    const out = path.join(work, 'poison-out');
    const truncated = path.join(work, 'truncated.png');
    fs.writeFileSync(truncated, fs.readFileSync(images.bases[0]!).subarray(0, 100));
    const depthOutputs = (stem: string) => [
      { format: 'npy' as const, path: path.join(out, `${stem}_depth.npy`) },
      { format: 'color' as const, path: path.join(out, `${stem}_depth_color.png`) },
    ];
    const goodJob = (i: number): LotusJobData => buildJobData({
      task: 'depth', input: inputs.file(i), outputs: depthOutputs(`img-${String(i).padStart(5, '0')}`),
      options: { processingResolution: RESOLUTION },
    });
    const poisonOut = (k: number) => [{ format: 'npy', path: path.join(work, 'poison-junk', `p${k}.npy`) }];
    // [payload, expected code, expected attempts]; the queue allows 3 attempts to every job.
    const poison: [unknown, string, number][] = [];
    for (let k = 0; k < 10; k++) {
      poison.push([{ version: 1, task: 'depth', input: { bytes: Buffer.from(`not an image ${k}`.repeat(20)).toString('base64') }, outputs: poisonOut(poison.length) }, 'ERR_LOTUS_IMAGE', 1]);
      poison.push([{ version: 1, task: 'depth', input: { path: truncated }, outputs: poisonOut(poison.length) }, 'ERR_LOTUS_IMAGE', 1]);
      poison.push([{ version: 1, task: 'depth', input: { path: path.join(work, `missing-${k}.png`) }, outputs: poisonOut(poison.length) }, 'ERR_LOTUS_INPUT_MISSING', 3]);
    }
    for (let k = 0; k < 5; k++) {
      poison.push([{ version: 1, task: 'depth', input: { path: inputs.file(0) }, outputs: poisonOut(poison.length), options: { processingResolution: 99_999 } }, 'ERR_LOTUS_JOB_INVALID', 1]);
      poison.push([{ version: 1, task: 'depth', input: { path: inputs.file(0) }, outputs: [{ format: 'jpeg' }] }, 'ERR_LOTUS_JOB_INVALID', 1]);
      poison.push([{ version: 1, task: 'depth', input: { path: inputs.file(0) }, outputs: [{ format: 'npy', path: 'relative/out.npy' }] }, 'ERR_LOTUS_JOB_INVALID', 1]);
    }
    for (let k = 0; k < 3; k++) poison.push([{ version: 1, task: 'normal', input: { path: inputs.file(0) }, outputs: [{ format: 'npy' }] }, 'ERR_LOTUS_MODEL', 1]);
    poison.push(['just a string', 'ERR_LOTUS_JOB_INVALID', 1]);
    poison.push([{ version: 99, task: 'depth' }, 'ERR_LOTUS_JOB_INVALID', 1]);
    expect(poison).toHaveLength(50);

    // Interleave: a poison job after every few good ones.
    const every = Math.floor(good / poison.length);
    const jobs: { id: string; data: unknown; expect?: [string, number]; good?: number }[] = [];
    let p = 0;
    for (let i = 0; i < good; i++) {
      jobs.push({ id: `good-${i}`, data: goodJob(i), good: i });
      if ((i + 1) % every === 0 && p < poison.length) {
        const [data, code, attempts] = poison[p]!;
        jobs.push({ id: `poison-${p}`, data, expect: [code, attempts] });
        p++;
      }
    }
    expect(p).toBe(50);

    const workers = await Promise.all([0, 1, 2].map((i) => startWorker(redis.url, queueName, {
      name: `w${i}`, extra: ['--metrics-port', '0', '--metrics-host', '127.0.0.1'],
    })));
    const queue = new Queue(queueName, { connection: { url: redis.url } });
    const producer = await openQueueProducer({ redis: redis.url, queue: queueName });
    try {
      await queue.addBulk(jobs.map((j) => ({
        name: 'depth', data: j.data,
        opts: { jobId: j.id, attempts: 3, backoff: { type: 'exponential', delay: 200 } },
      })));
      const report = await producer.wait(jobs.map((j) => ({ id: j.id, name: undefined })), { timeoutMs: 180_000 });
      const outcomes = new Map(report.outcomes.map((o) => [o.id, o]));
      for (const j of jobs) {
        const o = outcomes.get(j.id)!;
        if (j.expect) {
          expect(o.state, j.id).toBe('failed');
          if (o.state !== 'failed') continue;
          expect(o.failure.code, `${j.id}: ${o.failure.message}`).toBe(j.expect[0]);
          expect(o.attempts, `${j.id} attempts`).toBe(j.expect[1]);
        } else {
          expect(o.state, `${j.id}: ${JSON.stringify(o).slice(0, 300)}`).toBe('completed');
        }
      }
      checkOutputs(out, good, inputs);

      // The same reasons from the CLI and from the workers' Prometheus metrics.
      const expected: Record<string, number> = {};
      for (const [, code] of poison) expected[code] = (expected[code] ?? 0) + 1;
      const stats = await jsonResult(lotus(['queue-stats', '--redis', redis.url, '--queue', queueName, '--sample', '0', '--json']), 30_000);
      expect(stats.doc.failuresByReason).toEqual(expected);
      expect((stats.doc.counts as Record<string, number>).failed).toBe(50);
      // Each worker counts a job after BullMQ recorded it: poll until the last counts are in.
      const finalByReason: Record<string, number> = {};
      let retried = 0;
      await until('the workers counted every failure', async () => {
        for (const key of Object.keys(finalByReason)) delete finalByReason[key];
        retried = 0;
        for (const w of workers) {
          const ready = w.lines.find((l) => l.type === 'ready')!;
          const text = await (await fetch(ready.metrics as string)).text();
          for (const m of text.matchAll(/^lotus_queue_job_failures_total\{reason="([A-Z_]+)",final="(true|false)",queue="poison"\} (\d+)$/gm)) {
            if (m[2] === 'true') finalByReason[m[1]!] = (finalByReason[m[1]!] ?? 0) + Number(m[3]);
            else retried += Number(m[3]);
          }
        }
        return Object.values(finalByReason).reduce((a, b) => a + b, 0) === 50 && retried === 20;
      }, 10_000, 200).catch(() => undefined); // the assertions below show the difference
      expect(finalByReason).toEqual(expected);
      expect(retried).toBe(10 * 2); // the missing paths, retried twice each
    } finally {
      await producer.close();
      await queue.close();
      await stopAll(workers);
    }
  });

  test('SIGTERM: a worker finishes its jobs in flight and exits 0; with --shutdown-timeout 0 it hands them back', async () => {
    const queue = 'sigterm';
    const n = Math.max(100, Math.round(JOBS * 0.3));
    const inputs = makeInputs(path.join(work, 'term-in'), images, n);
    const out = path.join(work, 'term-out');
    const workers = [
      await startWorker(redis.url, queue, { name: 'w0' }),
      await startWorker(redis.url, queue, { name: 'w1', extra: ['--shutdown-timeout', '0'] }),
      await startWorker(redis.url, queue, { name: 'w2' }),
    ];
    try {
      const run = submit(queue, inputs.dir, out);
      await until('a fifth of the jobs done', () => completionsByJob(workers).size >= n / 5, 120_000, 20);
      const [graceful, handing] = [workers[0]!, workers[1]!];
      expect(await stopProcess(graceful, 30_000)).toBe(0);
      expect(await stopProcess(handing, 30_000)).toBe(0);
      const gracefulStop = graceful.lines.find((l) => l.type === 'stopped')!;
      expect(gracefulStop).toMatchObject({ drained: true, handedBack: 0 });
      // The graceful worker completed everything it started.
      const gDone = new Set(events(graceful, 'completed').map((e) => e.jobId));
      for (const e of events(graceful, 'active')) expect(gDone.has(e.jobId), `${e.jobId as string} finished by w0`).toBe(true);
      const handStop = handing.lines.find((l) => l.type === 'stopped')!;
      expect(handStop.drained).toBe(false);
      expect(handStop.handedBack as number).toBeGreaterThan(0);

      const { code, doc } = await jsonResult(run, 180_000);
      expect(code).toBe(0);
      expect(doc).toMatchObject({ submitted: n, completed: n, failed: 0 });
      await logsCaughtUp(workers, (byJob) => byJob.size >= n);
      const byJob = completionsByJob(workers);
      for (const [id, by] of byJob) expect(by, `job ${id} completed once`).toHaveLength(1);
      // Handed-back jobs were completed by the last worker, without waiting for a stall.
      const hDone = new Set(events(handing, 'completed').map((e) => e.jobId as string));
      const handedBack = events(handing, 'active').map((e) => e.jobId as string).filter((id) => !hDone.has(id));
      expect(handedBack.length).toBe(handStop.handedBack);
      for (const id of handedBack) expect(byJob.get(id)).toEqual(['w2']);
      expect(events(workers[2]!, 'stalled')).toEqual([]);
      checkOutputs(out, n, inputs);
    } finally {
      await stopAll(workers);
    }
  });
});
