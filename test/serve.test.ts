// `lotus serve` (functional, short): routes and status codes, the typed error as JSON, 413 over the
// body limit, 429 with Retry-After when the queue is full, metrics, and SIGTERM draining every
// accepted request before exit 0. The load tests are scripts/bench-serve.js (docs/benchmarks.md).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createEstimator, decodeNpy, type DepthResult } from '../lib/index';
import { LotusServer } from '../lib/server/server';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const fixtureModel = path.join(__dirname, 'fixtures', 'tiny-depth-g.onnx');
const imagePath = path.join(__dirname, 'fixtures', 'images', 'gradient-64x48.png');

describe.skipIf(!fs.existsSync(fixtureModel))('lotus serve (in process, CPU backend, tiny fixture)', () => {
  let server: LotusServer;
  const image = fs.readFileSync(imagePath);
  const post = (route: string, body: BodyInit, query = '') => fetch(`${server.url}${route}${query}`, { method: 'POST', body });
  const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; parameter?: string; message: string } }).error;

  beforeAll(async () => {
    server = await LotusServer.listen({
      model: fixtureModel, port: 0, maxBodyBytes: 64 * 1024,
      estimator: { backend: 'cpu', processingResolution: 64, batching: { maxDelayMs: 2 }, onWarning: () => undefined },
    });
    await server.ready;
  });
  afterAll(async () => {
    await server?.shutdown(10_000);
  });

  test('healthz: 200 ready once the model loaded; a model that fails to load: 503 failed, with its typed error', async () => {
    const ready = await fetch(`${server.url}/healthz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', backend: 'cpu', model: { task: 'depth', mode: 'generation' } });

    const broken = await LotusServer.listen({ model: imagePath, port: 0, estimator: { backend: 'cpu' } });
    try {
      await expect(broken.ready).rejects.toMatchObject({ code: 'ERR_LOTUS_MODEL' });
      const health = await fetch(`${broken.url}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'failed', error: { code: 'ERR_LOTUS_MODEL' } });
      const response = await fetch(`${broken.url}/v1/depth`, { method: 'POST', body: image });
      expect(response.status).toBe(503);
      expect(await errorOf(response)).toMatchObject({ code: 'ERR_LOTUS_NOT_READY' });
    } finally {
      await broken.shutdown(1000);
    }
  });

  test('POST /v1/depth: png, png16, npy and json of the same prediction estimate() gives', async () => {
    const estimator = await createEstimator(fixtureModel, { backend: 'cpu', processingResolution: 64 });
    const expected = (await estimator.estimate(image, { seed: 5 })) as DepthResult;
    await estimator.close();

    const png = await post('/v1/depth', image, '?seed=5');
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(png.headers.get('server-timing')).toMatch(/inference;dur=/);
    expect(Buffer.from(await png.arrayBuffer())).toEqual(await expected.toColorizedPng());

    const npy = decodeNpy(Buffer.from(await (await post('/v1/depth', image, '?seed=5&output=npy')).arrayBuffer()));
    expect(npy.shape).toEqual([48, 64]);
    expect(npy.data).toEqual(expected.data);

    const png16 = Buffer.from(await (await post('/v1/depth', image, '?output=png16&seed=5')).arrayBuffer());
    expect(await sharp(png16).metadata()).toMatchObject({ width: 64, height: 48, depth: 'ushort' });

    const json = (await (await post('/v1/depth', image, '?output=json&seed=5&processingResolution=64')).json()) as { width: number; height: number; data: number[] };
    expect([json.width, json.height]).toEqual([64, 48]);
    expect(Float32Array.from(json.data)).toEqual(expected.data);
  });

  test('bad requests get the typed error as JSON: 400 image / option, 404 route or task, 405 method', async () => {
    let response = await post('/v1/depth', Buffer.from('not an image'));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatchObject({ code: 'ERR_LOTUS_IMAGE' });

    // SVG could pull in local files (<image href>): refused before any decoder runs.
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><image href="file:///etc/passwd" width="64" height="64"/></svg>';
    response = await post('/v1/depth', svg);
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatchObject({ code: 'ERR_LOTUS_IMAGE' });

    for (const [query, parameter] of [['?processingResolution=-3', 'processingResolution'], ['?seed=1e3', 'seed'], ['?output=exr', 'output'],
      ['?colour=red', 'colour'], ['?seed=1&seed=2', 'seed'], ['?processingResolution=99999', 'processingResolution']]) {
      response = await post('/v1/depth', image, query);
      expect(response.status, query).toBe(400);
      expect(await errorOf(response)).toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter });
    }
    response = await post('/v1/depth', Buffer.alloc(0));
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatchObject({ code: 'ERR_LOTUS_IMAGE', parameter: 'body' });

    response = await post('/v1/normal', image);
    expect(response.status).toBe(404);
    expect((await errorOf(response)).message).toMatch(/depth model/);
    expect((await fetch(`${server.url}/v2/depth`)).status).toBe(404);
    response = await fetch(`${server.url}/v1/depth`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  test('413 over the body limit, with a Content-Length or streamed', async () => {
    const big = Buffer.alloc(100 * 1024, 1);
    let response = await post('/v1/depth', big);
    expect(response.status).toBe(413);
    expect(await errorOf(response)).toMatchObject({ code: 'ERR_LOTUS_BODY_TOO_LARGE' });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(16 * 1024));
        controller.close();
      },
    });
    response = await fetch(`${server.url}/v1/depth`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(413);
    // The server still serves afterwards.
    expect((await post('/v1/depth', image)).status).toBe(200);
  });

  test('metrics: requests by status, latency histogram, queue depth, batch sizes, process memory', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/lotus_http_requests_total\{route="\/v1\/depth",status="200"\} \d+/);
    expect(text).toMatch(/lotus_http_requests_total\{route="\/v1\/depth",status="400"\} \d+/);
    expect(text).toMatch(/lotus_http_request_duration_seconds_bucket\{le="0.1",route="\/v1\/depth",status="200"\}/);
    expect(text).toMatch(/lotus_queue_depth 0/);
    expect(text).toMatch(/lotus_batch_size_count \d+/);
    expect(text).toMatch(/lotus_device_in_flight\{device="cpu"\} 0/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
  });
});

describe.skipIf(!fs.existsSync(fixtureModel))('lotus serve under pressure', () => {
  test('a full queue answers 429 with Retry-After at once; every response is 200 or 429', async () => {
    // No batching, one run at a time: 2 admitted, 1 waiting; the rest of 12 are refused.
    const server = await LotusServer.listen({
      model: fixtureModel, port: 0, estimator: { backend: 'cpu', processingResolution: 160, maxQueue: 1, onWarning: () => undefined },
    });
    try {
      await server.ready;
      const image = fs.readFileSync(imagePath);
      const responses = await Promise.all(Array.from({ length: 12 }, async () => {
        const started = performance.now();
        const response = await fetch(`${server.url}/v1/depth`, { method: 'POST', body: image });
        await response.arrayBuffer();
        return { status: response.status, retryAfter: response.headers.get('retry-after'), ms: performance.now() - started };
      }));
      const ok = responses.filter((r) => r.status === 200);
      const busy = responses.filter((r) => r.status === 429);
      expect(ok.length + busy.length).toBe(12);
      expect(ok.length).toBeGreaterThanOrEqual(3);
      expect(busy.length).toBeGreaterThanOrEqual(1);
      expect(busy.every((r) => Number(r.retryAfter) >= 1)).toBe(true);
      // Refused at once: faster than the slowest served request.
      expect(Math.max(...busy.map((r) => r.ms))).toBeLessThan(Math.max(...ok.map((r) => r.ms)));
    } finally {
      await server.shutdown(10_000);
    }
  });

  test('SIGTERM during requests: every accepted request is answered, new connections are refused, exit 0', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', fixtureModel, '--backend', 'cpu', '--port', '0',
      '--processing-resolution', '128', '--batch-max', '1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start line: ${stderr}`)), 60_000);
        child.stdout.on('data', () => {
          const match = /listening on (http:\/\/[\d.:]+)/.exec(stdout);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
      });
      expect(stdout).toMatch(/backend cpu/);
      const image = fs.readFileSync(imagePath);
      const inFlight = Array.from({ length: 6 }, () => fetch(`${url}/v1/depth`, { method: 'POST', body: image }).then((r) => r.status));
      // Wait until the server holds all six (admitted or queued), then ask it to stop.
      for (let i = 0; i < 200; i++) {
        const metrics = await (await fetch(`${url}/metrics`)).text();
        const held = Number(/lotus_queue_depth (\d+)/.exec(metrics)?.[1]) + Number(/lotus_requests_active (\d+)/.exec(metrics)?.[1]);
        if (held === 6) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      child.kill('SIGTERM');
      expect(await Promise.all(inFlight)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(await exited).toBe(0);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
      expect(stderr).toMatch(/SIGTERM: not accepting new connections/);
      const [, accepted, answered] = /drained; (\d+) requests accepted, (\d+) answered/.exec(stderr) ?? [];
      expect(Number(answered)).toBe(Number(accepted));
      expect(Number(answered)).toBeGreaterThanOrEqual(6);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
