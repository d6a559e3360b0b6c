// SIGINT / SIGTERM for `lotus depth|normal`: the first one stops taking new images and lets the
// ones in flight finish (their files are written whole or not at all); a second one exits at
// once. The exit code is 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM).
import os from 'node:os';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export class Interrupt {
  /** The first signal received, once one was. */
  signal: NodeJS.Signals | undefined;
  /** While true, a first signal exits at once: nothing is in flight that could be finished. */
  exitImmediately = true;
  private readonly handler = (signal: NodeJS.Signals) => this.received(signal);

  constructor(private readonly log: (line: string) => void) {
    for (const signal of SIGNALS) process.on(signal, this.handler);
  }

  get requested(): boolean {
    return this.signal !== undefined;
  }

  get exitCode(): number {
    return 128 + (os.constants.signals[this.signal ?? 'SIGINT'] ?? 2);
  }

  dispose(): void {
    for (const signal of SIGNALS) process.removeListener(signal, this.handler);
  }

  private received(signal: NodeJS.Signals): void {
    const first = this.signal === undefined;
    this.signal ??= signal;
    if (!first || this.exitImmediately) {
      // 'exit' handlers remove temporary files and cancel engine builds.
      process.exit(this.exitCode);
    }
    this.log(`lotus: ${signal}: finishing the images in flight, then stopping (${signal} again to stop now)`);
  }
}
