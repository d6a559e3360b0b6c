// `lotus serve`: an HTTP server on node:http around one estimator. POST /v1/depth and /v1/normal take
// the image bytes as the body; GET /healthz says whether the model is loaded; GET /metrics is for
// Prometheus. The body is only ever handed to the estimator as bytes (never a path), so no client
// names a file the server reads; SVG is not accepted (estimator default). shutdown() stops accepting,
// answers every request already accepted, then closes the estimator.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import getRawBody from 'raw-body';
import { ImageError, InvalidArgumentError } from '../errors';
import { createEstimator, type LotusEstimator } from '../estimator/estimator';
import type { EstimatorOptions } from '../estimator/options';
import type { Task } from '../model/metadata';
import { encodeResult } from './encode';
import { errorAnswer, simpleAnswer, type ErrorAnswer } from './http-errors';
import { ServerMetrics } from './metrics';
import { parsePredictQuery } from './request-options';

export interface LotusServerOptions {
  /** The ONNX model to serve. */
  model: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Passed to createEstimator() (backend, batching, maxQueue, limits...); onBatch is the server's. */
  estimator?: Omit<EstimatorOptions, 'onBatch'>;
  /** Largest request body; larger ones get 413. Default 32 MiB. */
  maxBodyBytes?: number;
  /** Each request's timeoutMs in the estimator (503 when it passes). Default 60 s. */
  requestTimeoutMs?: number;
  log?: (line: string) => void;
}

export const SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  maxBodyBytes: 32 * 2 ** 20,
  requestTimeoutMs: 60_000,
} as const;

export type ServerState = 'loading' | 'ready' | 'failed' | 'draining' | 'closed';

const ROUTES: Record<string, { method: string; task?: Task }> = {
  '/v1/depth': { method: 'POST', task: 'depth' },
  '/v1/normal': { method: 'POST', task: 'normal' },
  '/healthz': { method: 'GET' },
  '/metrics': { method: 'GET' },
};

export interface ShutdownReport {
  /** Every accepted request was answered before the deadline. */
  drained: boolean;
  /** Requests the server received since it started (every one reached the handler). */
  accepted: number;
  /** Of those, the ones whose answer was written completely (any status); the rest had their client go away. */
  answered: number;
}

export class LotusServer {
  readonly metrics = new ServerMetrics();
  /** Resolves with the estimator once the model has loaded; rejects if it failed to load. */
  readonly ready: Promise<LotusEstimator>;
  private estimator: LotusEstimator | undefined;
  private loadError: unknown;
  private status: ServerState = 'loading';
  private open = 0;
  private accepted = 0;
  private answered = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private closing: Promise<ShutdownReport> | undefined;
  /** Mean latency of recent 200s (s), for Retry-After. */
  private meanLatency = 1;
  private readonly maxBodyBytes: number;
  private readonly requestTimeoutMs: number;

  private constructor(private readonly server: http.Server, readonly url: string, options: LotusServerOptions) {
    this.maxBodyBytes = options.maxBodyBytes ?? SERVER_DEFAULTS.maxBodyBytes;
    this.requestTimeoutMs = options.requestTimeoutMs ?? SERVER_DEFAULTS.requestTimeoutMs;
    this.metrics.watch(() => this.estimator?.stats());
    this.ready = createEstimator(options.model, {
      ...options.estimator,
      onBatch: (batch) => {
        this.metrics.batchSize.observe(batch.size);
        if (batch.ms !== undefined) this.metrics.batchDuration.observe(batch.ms / 1000);
      },
    }).then((estimator) => {
      this.estimator = estimator;
      if (this.status === 'loading') this.status = 'ready';
      return estimator;
    }, (error: unknown) => {
      this.loadError = error;
      if (this.status === 'loading') this.status = 'failed';
      throw error;
    });
    this.ready.catch(() => undefined); // reported through healthz and by whoever awaits ready
  }

  /** Listens first (healthz answers 'loading'), then loads the model; `ready` says when it is served. */
  static async listen(options: LotusServerOptions): Promise<LotusServer> {
    const server = http.createServer();
    // Receiving one request (headers and body) may take this long; keep-alive idles 5 s.
    server.requestTimeout = 120_000;
    server.headersTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? SERVER_DEFAULTS.port, options.host ?? SERVER_DEFAULTS.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const instance = new LotusServer(server, `http://${host}:${address.port}`, options);
    server.on('request', (req, res) => instance.handle(req, res));
    return instance;
  }

  get state(): ServerState {
    return this.status;
  }

  /**
   * Stops accepting connections, answers the requests already accepted (new ones on open
   * connections get 503), closes the estimator. Past `deadlineMs` the remaining connections are
   * cut and `drained` is false.
   */
  shutdown(deadlineMs: number): Promise<ShutdownReport> {
    this.closing ??= (async () => {
      const began = performance.now();
      this.status = 'draining';
      // Stop listening, but keep the open connections (http.Server.close() would also cut the idle
      // ones, resetting a request a client is sending on one right then): a request arriving on
      // one gets an answer (503) that closes it, and the idle rest are closed once drained.
      const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(this.server, () => resolve()));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), deadlineMs); });
      const drain = (async () => {
        await this.idle();
        const estimator = await this.ready.catch(() => undefined);
        await estimator?.close();
        return true as const;
      })();
      const drained = await Promise.race([drain, deadline]);
      clearTimeout(timer);
      if (drained) this.server.closeIdleConnections();
      else this.server.closeAllConnections();
      // Connections still busy (a response being written, a client that keeps its idle one) end
      // with that response or are cut at the deadline.
      const cut = setTimeout(() => this.server.closeAllConnections(), Math.max(0, deadlineMs - (performance.now() - began)));
      await closed;
      clearTimeout(cut);
      this.status = 'closed';
      return { drained, accepted: this.accepted, answered: this.answered };
    })();
    return this.closing;
  }

  private idle(): Promise<void> {
    if (this.open === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const started = performance.now();
    this.open += 1;
    this.accepted += 1;
    let route = 'other';
    res.once('close', () => {
      this.open -= 1;
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      if (res.writableFinished) this.answered += 1;
      this.metrics.requests.inc({ route, status });
      this.metrics.latency.observe({ route, status }, (performance.now() - started) / 1000);
      if (status === '200' && route.startsWith('/v1/')) this.meanLatency = 0.9 * this.meanLatency + 0.1 * ((performance.now() - started) / 1000);
      if (this.open === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
    });
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      this.reply(req, res, simpleAnswer(400, 'ERR_LOTUS_INVALID_ARGUMENT', 'the request target is not a valid URL'));
      return;
    }
    const spec = Object.hasOwn(ROUTES, url.pathname) ? ROUTES[url.pathname]! : undefined;
    if (!spec) {
      this.reply(req, res, simpleAnswer(404, 'ERR_LOTUS_NOT_FOUND', `no route ${url.pathname.slice(0, 100)}; routes: POST /v1/depth, POST /v1/normal, GET /healthz, GET /metrics`));
      return;
    }
    route = url.pathname;
    const method = req.method === 'HEAD' && spec.method === 'GET' ? 'GET' : req.method;
    if (method !== spec.method) {
      res.setHeader('Allow', spec.method === 'GET' ? 'GET, HEAD' : spec.method);
      this.reply(req, res, simpleAnswer(405, 'ERR_LOTUS_METHOD', `${route} takes ${spec.method}`));
      return;
    }
    if (route === '/healthz') return this.health(req, res);
    if (route === '/metrics') {
      this.metrics.registry.metrics().then(
        (text) => this.send(req, res, 200, text, this.metrics.registry.contentType),
        (error: unknown) => this.reply(req, res, errorAnswer(error, 1)),
      );
      return;
    }
    void this.predict(req, res, spec.task!, url).catch((error: unknown) => this.reply(req, res, errorAnswer(error, this.retryAfter())));
  }

  private health(req: http.IncomingMessage, res: http.ServerResponse): void {
    const estimator = this.estimator;
    const body: Record<string, unknown> = { status: this.status };
    if (estimator) body.backend = estimator.backend;
    if (estimator) body.model = { task: estimator.model.task, mode: estimator.model.mode, file: path.basename(estimator.model.path) };
    if (this.status === 'failed') body.error = errorAnswer(this.loadError, 0).body.error;
    this.send(req, res, this.status === 'ready' ? 200 : 503, JSON.stringify(body), 'application/json');
  }

  private async predict(req: http.IncomingMessage, res: http.ServerResponse, task: Task, url: URL): Promise<void> {
    const estimator = this.estimator;
    if (this.status !== 'ready' || !estimator) {
      const why = this.status === 'loading' ? 'the model is still loading' : this.status === 'failed' ? 'the model failed to load' : 'the server is shutting down';
      return this.reply(req, res, simpleAnswer(503, 'ERR_LOTUS_NOT_READY', why, this.status === 'loading' ? 1 : undefined));
    }
    if (estimator.model.task !== task) {
      return this.reply(req, res, simpleAnswer(404, 'ERR_LOTUS_MODEL', `this server runs a ${estimator.model.task} model: POST /v1/${estimator.model.task}`));
    }
    const query = parsePredictQuery(url.searchParams, task);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.maxBodyBytes) return this.tooLarge(req, res);
    let body: Buffer;
    try {
      body = await getRawBody(req, { limit: this.maxBodyBytes, length: req.headers['content-length'] });
    } catch (error) {
      const type = (error as { type?: string }).type;
      if (type === 'entity.too.large') return this.tooLarge(req, res);
      if (type === 'request.aborted') return; // the client went away: nobody to answer
      throw new InvalidArgumentError('body', `body: ${(error as Error).message}`);
    }
    if (body.length === 0) throw new ImageError('body: empty; send the image bytes as the request body', { parameter: 'body' });
    // A client that disconnects cancels its request (queued: it leaves the queue).
    const controller = new AbortController();
    res.once('close', () => controller.abort());
    const result = await estimator.estimate(body, {
      signal: controller.signal,
      timeoutMs: this.requestTimeoutMs,
      ...(query.seed === undefined ? {} : { seed: query.seed }),
      ...(query.processingResolution === undefined ? {} : { processingResolution: query.processingResolution }),
    });
    const encoded = await encodeResult(result, query.output);
    const t = result.timings;
    res.setHeader('Server-Timing', ['decode', 'preprocess', 'inference', 'postprocess', 'total']
      .map((stage) => `${stage};dur=${t[stage as keyof typeof t].toFixed(2)}`).join(', '));
    res.setHeader('X-Lotus-Size', `${result.width}x${result.height}`);
    this.send(req, res, 200, encoded.body, encoded.contentType);
  }

  private tooLarge(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Close the connection after answering; discard what the client still sends so it reads the answer.
    res.setHeader('Connection', 'close');
    req.resume();
    this.reply(req, res, simpleAnswer(413, 'ERR_LOTUS_BODY_TOO_LARGE', `the body is over the limit of ${this.maxBodyBytes} bytes`));
  }

  /** Seconds a refused client should wait: about one request's service time, at least 1. */
  private retryAfter(): number {
    return Math.max(1, Math.ceil(this.meanLatency));
  }

  private reply(req: http.IncomingMessage, res: http.ServerResponse, answer: ErrorAnswer): void {
    if (answer.retryAfter !== undefined) res.setHeader('Retry-After', String(answer.retryAfter));
    // An error answered before the body was read: the connection cannot be reused for the next request.
    if (!req.complete) {
      res.setHeader('Connection', 'close');
      req.resume();
    }
    this.send(req, res, answer.status, JSON.stringify(answer.body), 'application/json');
  }

  private send(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: string | Buffer, contentType: string): void {
    if (res.headersSent || res.destroyed) return;
    // While draining, every answer closes its connection: clients move on instead of reusing it.
    if (this.status === 'draining' || this.status === 'closed') res.setHeader('Connection', 'close');
    res.statusCode = status;
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
