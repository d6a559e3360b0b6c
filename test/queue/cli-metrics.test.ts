// The queue commands' argument errors (no Redis needed: they fail before connecting) and the
// worker's Prometheus endpoint.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { openQueueProducer, QueueError } from '../../lib/index';
import { WorkerMetrics, serveMetrics } from '../../lib/queue/metrics';
import { expectLotusError } from '../helpers/expect-error';
import { lotus, ROOT } from '../helpers/lotus-cli';

const IMAGE = path.join(ROOT, 'test', 'fixtures', 'images', 'gradient-64x48.png');

describe('queue commands: argument errors', () => {
  test.each([
    [['worker', '--queue', 'q', '--model', 'm.onnx'], /--redis is required/, /Usage: lotus worker/],
    [['worker', '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--model', 'm.onnx', '--concurrency', '0'], /--concurrency must be >= 1/, /Usage: lotus worker/],
    [['worker', '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--model', 'm.onnx', '--log', 'xml'], /--log must be one of text, json/, /Usage: lotus worker/],
    [['submit', '--redis', 'redis://127.0.0.1:1', '--queue', 'q'], /no input images or folders given/, /Usage: lotus submit/],
    [['submit', IMAGE, '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--wait', '--no-wait'], /contradict/, /Usage: lotus submit/],
    [['submit', IMAGE, '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--return', '--no-wait'], /--return needs --wait/, /Usage: lotus submit/],
    [['submit', IMAGE, '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--format', 'png'], /unknown value "png"/, /Usage: lotus submit/],
    [['queue-stats', '--redis', 'redis://127.0.0.1:1'], /--queue is required/, /Usage: lotus queue-stats/],
  ])('lotus %j', async (args, message, usageOf) => {
    const run = await lotus(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(usageOf);
    expect(run.stdout).toBe('');
  });

  test('a URL that is not redis:// is a typed error naming the option', async () => {
    const run = await lotus(['queue-stats', '--redis', 'http://127.0.0.1:1', '--queue', 'q']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/ERR_LOTUS_INVALID_ARGUMENT: options\.redis: expected a redis:\/\/ or rediss:\/\/ URL/);
  });

  test('submit refuses to replace existing outputs without --overwrite, before connecting', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-submit-out-'));
    try {
      fs.writeFileSync(path.join(out, 'gradient-64x48_depth_color.png'), 'earlier');
      const run = await lotus(['submit', IMAGE, '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--out', out]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/EEXIST: output files exist: .*gradient-64x48_depth_color\.png; pass --overwrite/);
      // With --overwrite the check passes and the (unreachable) Redis is the next error.
      const again = await lotus(['submit', IMAGE, '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--out', out, '--overwrite']);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/ERR_LOTUS_QUEUE: cannot reach Redis/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('an unreachable Redis fails within the connect timeout (ERR_LOTUS_QUEUE)', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = http.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const started = Date.now();
    await expectLotusError(
      openQueueProducer({ redis: `redis://127.0.0.1:${closed}`, queue: 'q', connectTimeoutMs: 500 }),
      QueueError,
      { message: /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/ },
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('lotus --help lists the queue commands', async () => {
    const run = await lotus(['--help']);
    for (const command of ['worker', 'submit', 'queue-stats']) expect(run.stdout).toMatch(new RegExp(`\\n  ${command} `));
  });
});

describe('worker metrics', () => {
  test('served on /metrics; queue counts absent while Redis cannot be read', async () => {
    let reachable = false;
    const metrics = new WorkerMetrics('q1', async () => {
      if (!reachable) throw new Error('down');
      return { waiting: 7, active: 2, failed: 1 };
    });
    metrics.completed.inc(3);
    metrics.recordFailure('ERR_LOTUS_IMAGE', true);
    metrics.recordFailure('ERR_LOTUS_INPUT_MISSING', false);
    metrics.duration.observe(0.02);
    const server = await serveMetrics(metrics.registry, 0, '127.0.0.1');
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      let text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toMatch(/^lotus_queue_jobs_completed_total\{queue="q1"\} 3$/m);
      expect(text).toMatch(/^lotus_queue_job_failures_total\{reason="ERR_LOTUS_IMAGE",final="true",queue="q1"\} 1$/m);
      expect(text).toMatch(/^lotus_queue_job_failures_total\{reason="ERR_LOTUS_INPUT_MISSING",final="false",queue="q1"\} 1$/m);
      expect(text).toMatch(/^lotus_queue_job_duration_seconds_count\{queue="q1"\} 1$/m);
      expect(text).not.toMatch(/^lotus_queue_jobs\{/m);
      reachable = true;
      text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toMatch(/^lotus_queue_jobs\{state="waiting",queue="q1"\} 7$/m);
      expect(text).toMatch(/^lotus_queue_jobs\{state="delayed",queue="q1"\} 0$/m);
      expect((await fetch(`${url}/other`)).status).toBe(404);
    } finally {
      server.close();
    }
  });
});
