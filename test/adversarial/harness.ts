// The adversarial replay's harness: a case is one bad (or good) input; running it must end in a
// result or a typed error within its deadline. Outcomes are counted by kind; anything else (an
// untyped error, a result where an error was due, a hang, a child process killed by a signal) is
// listed by name.
import { spawn } from 'node:child_process';
import { LotusError } from '../../lib/errors';

export type Expectation = 'result' | 'error' | 'either';
export type OutcomeKind = 'result' | 'typed' | 'untyped' | 'unexpected' | 'hang' | 'crash';

export interface Case {
  group: string;
  name: string;
  expect: Expectation;
  run(): Promise<unknown>;
  /** Deadline (default 10 s). */
  timeoutMs?: number;
}

export interface Outcome {
  group: string;
  name: string;
  kind: OutcomeKind;
  detail: string;
  ms: number;
}

/** A command-line run that ended cleanly with an error: exit code 1 or 2, a `lotus:` message, no stack trace. */
export class CleanExit extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = 'CleanExit';
  }
}

/** A child process that died by a signal we did not send, or with an unexpected exit code / output. */
export class ChildCrash extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChildCrash';
  }
}

class Timeout extends Error {}

export const DEFAULT_DEADLINE_MS = 10_000;

export function isTyped(error: unknown): boolean {
  return error instanceof LotusError || error instanceof CleanExit;
}

export async function runCase(c: Case): Promise<Outcome> {
  const deadline = c.timeoutMs ?? DEFAULT_DEADLINE_MS;
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = (kind: OutcomeKind, detail: string): Outcome => ({ group: c.group, name: c.name, kind, detail, ms: performance.now() - start });
  try {
    await Promise.race([
      Promise.resolve().then(() => c.run()),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Timeout()), deadline); }),
    ]);
    return c.expect === 'error' ? outcome('unexpected', 'a result where an error was due') : outcome('result', '');
  } catch (error) {
    if (error instanceof Timeout) return outcome('hang', `no result or error in ${deadline} ms`);
    if (error instanceof ChildCrash) return outcome('crash', error.message);
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if (!isTyped(error)) return outcome('untyped', message.slice(0, 300));
    if (c.expect === 'result') return outcome('unexpected', `an error where a result was due: ${message.slice(0, 300)}`);
    return outcome('typed', message.slice(0, 160));
  } finally {
    clearTimeout(timer);
  }
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command; kills it (and reports a hang through the case deadline) when `killAfterMs` passes. */
export function runChild(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; killAfterMs?: number; onSpawn?: (pid: number) => void } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, LOTUS_DEBUG: '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? DEFAULT_DEADLINE_MS + 2000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface Tally {
  inputs: number;
  results: number;
  typed: number;
  untyped: number;
  unexpected: number;
  crashes: number;
  hangs: number;
  slowestMs: number;
  failures: Outcome[];
}

export function tally(outcomes: readonly Outcome[]): Tally {
  const count = (kind: OutcomeKind) => outcomes.filter((o) => o.kind === kind).length;
  return {
    inputs: outcomes.length,
    results: count('result'),
    typed: count('typed'),
    untyped: count('untyped'),
    unexpected: count('unexpected'),
    crashes: count('crash'),
    hangs: count('hang'),
    slowestMs: Math.max(0, ...outcomes.map((o) => o.ms)),
    failures: outcomes.filter((o) => !['result', 'typed'].includes(o.kind)),
  };
}

/** The replay's summary: `N inputs, N typed errors, 0 crashes, 0 hangs`, then the rest. */
export function summary(t: Tally): string {
  return `${t.inputs} inputs, ${t.typed} typed errors, ${t.crashes} crashes, ${t.hangs} hangs ` +
    `(${t.results} results, ${t.untyped} untyped errors, ${t.unexpected} unexpected outcomes; slowest ${(t.slowestMs / 1000).toFixed(1)} s)`;
}
