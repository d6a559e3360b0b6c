// Real processes for the queue tests: a redis-server of their own (127.0.0.1, a free port, AOF on,
// stopped at the end), `lotus worker` / `lotus submit` child processes with their JSON output
// parsed, and a set of distinct test images with `lotus depth` reference outputs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');
export const DEPTH_MODEL = path.join(ROOT, 'test', 'fixtures', 'tiny-depth-g.onnx');
/** Jobs run at this processing resolution: small, so 1,000 jobs take seconds on the CPU. */
export const RESOLUTION = 64;

const children = new Set<ChildProcess>();
// A failed test must not leave servers or workers behind.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** redis-server on PATH or in the usual Debian places; undefined when not installed. */
export function findRedisServer(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    const file = path.join(dir, 'redis-server');
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** One round trip of the Redis protocol, without a client library. */
export function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => { setTimeout(resolve, ms); });

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private constructor(readonly binary: string, readonly port: number, readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(binary: string): Promise<RedisServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-redis-'));
    const server = new RedisServer(binary, await freePort(), dir);
    await server.launch();
    return server;
  }

  private async launch(): Promise<void> {
    const child = track(spawn(this.binary, [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      // AOF: a restarted server has every acknowledged write (fsynced on shutdown, and each second).
      '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
      '--daemonize', 'no', '--logfile', path.join(this.dir, 'redis.log'),
    ], { stdio: 'ignore' }));
    this.child = child;
    let exited = false;
    child.once('exit', () => { exited = true; });
    await until(`redis-server on port ${this.port}`, async () => {
      if (exited) throw new Error(`redis-server exited at start; log: ${this.log()}`);
      return ping(this.port);
    }, 15_000);
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'redis.log'), 'utf8').slice(-2000);
    } catch {
      return '(no log)';
    }
  }

  /** SIGTERM: redis-server fsyncs the AOF and exits. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the server, leaves it down for `downMs`, starts it on the same port and data folder. */
  async restart(downMs: number): Promise<void> {
    await this.stop();
    await sleep(downMs);
    await this.launch();
  }

  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface JsonProcess {
  child: ChildProcess;
  /** JSON lines printed on stdout so far. */
  lines: Record<string, unknown>[];
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  waitFor(what: string, predicate: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
}

/** Runs `lotus <args>`, parsing each stdout line that is JSON. */
export function lotus(args: string[], env: NodeJS.ProcessEnv = {}): JsonProcess {
  const child = track(spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOTUS_DEBUG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  const lines: Record<string, unknown>[] = [];
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    pending += d.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith('{') && line.endsWith('}')) {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a JSON line
        }
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    stdout: () => stdout,
    async waitFor(what, predicate, timeoutMs) {
      let found: Record<string, unknown> | undefined;
      await until(what, () => {
        found = lines.find(predicate);
        if (found === undefined && child.exitCode !== null) {
          throw new Error(`lotus ${args[0]} exited (${child.exitCode}) before ${what}; stderr: ${stderr.slice(-2000)}`);
        }
        return found !== undefined;
      }, timeoutMs);
      return found!;
    },
  };
}

/** A whole JSON document printed by `lotus ... --json` (stdout), after the process exits. */
export async function jsonResult(run: JsonProcess, timeoutMs: number): Promise<{ code: number | null; doc: Record<string, unknown> }> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    run.exited,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`process did not finish in ${timeoutMs} ms; stderr: ${run.stderr().slice(-3000)}`)), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  const text = run.stdout();
  try {
    return { code, doc: JSON.parse(text) as Record<string, unknown> };
  } catch {
    throw new Error(`expected a JSON document (exit ${code}); stdout: ${text.slice(0, 2000)}; stderr: ${run.stderr().slice(-3000)}`);
  }
}

export interface WorkerOptions {
  name: string;
  concurrency?: number;
  extra?: string[];
}

/** `lotus worker --log json` on the CPU backend; resolves once it reports ready. */
export async function startWorker(redis: string, queue: string, options: WorkerOptions): Promise<JsonProcess> {
  const run = lotus([
    'worker', '--redis', redis, '--queue', queue, '--model', DEPTH_MODEL, '--backend', 'cpu',
    '--cpu-threads', '1', '--concurrency', String(options.concurrency ?? 2), '--name', options.name,
    '--log', 'json', ...(options.extra ?? []),
  ]);
  await run.waitFor(`worker ${options.name} ready`, (l) => l.type === 'ready', 60_000);
  return run;
}

/** SIGTERM, then the exit code (SIGKILL after `timeoutMs`). */
export async function stopProcess(run: JsonProcess, timeoutMs = 20_000): Promise<number | null> {
  if (run.child.exitCode !== null) return run.child.exitCode;
  run.child.kill('SIGTERM');
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  const code = await run.exited;
  clearTimeout(timer);
  return code;
}

/** Deterministic pseudo-random bytes (xorshift32), so the test images are the same every run. */
function noise(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export interface TestImages {
  /** The distinct images: base-<k>.png. */
  bases: string[];
  /** Reference outputs of `lotus depth` for base k: { npy, color } file contents. */
  reference: { npy: Buffer; color: Buffer }[];
}

/** `count` distinct small PNGs of varied sizes, and `lotus depth` outputs for each. */
export async function makeTestImages(dir: string, count: number): Promise<TestImages> {
  const imagesDir = path.join(dir, 'bases');
  const refDir = path.join(dir, 'reference');
  fs.mkdirSync(imagesDir, { recursive: true });
  const bases: string[] = [];
  for (let k = 0; k < count; k++) {
    const width = 24 + ((k * 37) % 73);
    const height = 24 + ((k * 53) % 61);
    const raw = noise(k + 1, width * height * 3);
    const file = path.join(imagesDir, `base-${String(k).padStart(3, '0')}.png`);
    await sharp(raw, { raw: { width, height, channels: 3 } }).blur(1 + (k % 3)).png().toFile(file);
    bases.push(file);
  }
  const run = spawnSync(process.execPath, [
    CLI, 'depth', imagesDir, '--model', DEPTH_MODEL, '--backend', 'cpu', '--processing-resolution', String(RESOLUTION),
    '--format', 'npy,color', '--out', refDir,
  ], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (run.status !== 0) throw new Error(`lotus depth failed (${run.status}): ${run.stderr}`);
  const reference = bases.map((file) => {
    const stem = path.basename(file, '.png');
    return {
      npy: fs.readFileSync(path.join(refDir, `${stem}_depth.npy`)),
      color: fs.readFileSync(path.join(refDir, `${stem}_depth_color.png`)),
    };
  });
  return { bases, reference };
}

/** `n` input files img-<i>.png in a folder, image i a copy of base i % bases. */
export function makeInputs(dir: string, images: TestImages, n: number): { dir: string; base: (i: number) => number; file: (i: number) => string } {
  fs.mkdirSync(dir, { recursive: true });
  const file = (i: number) => path.join(dir, `img-${String(i).padStart(5, '0')}.png`);
  for (let i = 0; i < n; i++) fs.copyFileSync(images.bases[i % images.bases.length]!, file(i));
  return { dir, base: (i) => i % images.bases.length, file };
}
