// Runs the PyTorch peer (scripts/bench_pytorch.py) as a child process and reads its JSON.
// Every way it can fail (no python, no torch/diffusers, bad checkpoint) becomes a plain reason,
// so `lotus bench` prints our numbers alone instead of a made-up ratio.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface PeerOptions {
  checkpoint: string;
  python: string;
  task: 'depth' | 'normal';
  resolutions: number[];
  iterations: number;
  warmup: number;
  seed: number;
  /** Images per request (the peer stacks that many decodes into one pipeline call). */
  batch: number;
  /** Image file the peer decodes per request (the same bytes we use). */
  image: string;
  device: 'auto' | 'cuda' | 'cpu';
  randomWeights: boolean;
  /** Receives the peer's progress lines ("[peer] ..."). */
  onLog?: (line: string) => void;
}

export type PeerOutcome =
  | { ok: true; document: Record<string, unknown>; wallMs: number }
  | { ok: false; reason: string };

/** scripts/bench_pytorch.py next to dist/ (the package root), or undefined when not shipped. */
export function peerScriptPath(): string | undefined {
  const candidate = path.resolve(__dirname, '..', '..', 'scripts', 'bench_pytorch.py');
  return fs.existsSync(candidate) ? candidate : undefined;
}

export function defaultPython(): string {
  return process.env.LOTUS_PYTHON || 'python3';
}

export function runPeer(options: PeerOptions): Promise<PeerOutcome> {
  const script = peerScriptPath();
  if (!script) return Promise.resolve({ ok: false, reason: 'scripts/bench_pytorch.py is not installed with this package' });
  const args = [
    script,
    '--checkpoint', options.checkpoint,
    '--task', options.task,
    '--resolutions', options.resolutions.join(','),
    '--iterations', String(options.iterations),
    '--warmup', String(options.warmup),
    '--seed', String(options.seed),
    '--batch', String(options.batch),
    '--image', options.image,
    '--device', options.device,
  ];
  if (options.randomWeights) args.push('--random-weights');

  return new Promise((resolve) => {
    const started = Date.now();
    let child;
    try {
      child = spawn(options.python, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ ok: false, reason: `cannot start ${options.python}: ${(err as Error).message}` });
      return;
    }
    let stdout = '';
    const stderrTail: string[] = [];
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('[peer]')) options.onLog?.(line);
        stderrTail.push(line);
        if (stderrTail.length > 20) stderrTail.shift();
      }
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      const reason = err.code === 'ENOENT'
        ? `Python interpreter "${options.python}" not found (pass --python or set LOTUS_PYTHON)`
        : `cannot run ${options.python}: ${err.message}`;
      resolve({ ok: false, reason });
    });
    child.on('close', (code) => {
      if (pending) stderrTail.push(pending);
      let document: Record<string, unknown> | undefined;
      try {
        document = JSON.parse(stdout) as Record<string, unknown>;
      } catch {
        document = undefined;
      }
      const error = document?.error as { code?: string; message?: string } | undefined;
      if (error) {
        resolve({ ok: false, reason: `${error.message ?? 'unknown error'} (${error.code ?? 'peer error'})` });
      } else if (code !== 0 || !document) {
        const tail = stderrTail.filter((l) => l.trim() !== '').slice(-5).join('\n  ');
        resolve({ ok: false, reason: `the PyTorch peer exited with code ${code}${tail ? `:\n  ${tail}` : ''}` });
      } else {
        resolve({ ok: true, document, wallMs: Date.now() - started });
      }
    });
  });
}
