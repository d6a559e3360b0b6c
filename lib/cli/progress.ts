// A progress bar on stderr. On a TTY it redraws one line; otherwise (CI logs, pipes) it prints
// plain lines, and only when the phase changes or every 10% so logs stay short.

export interface ProgressStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private lastPhase = '';
  private lastDecile = -1;
  private drawn = false;
  private readonly started = Date.now();

  constructor(stream: ProgressStream = process.stderr, tty?: boolean) {
    this.stream = stream;
    this.tty = tty ?? stream.isTTY === true;
  }

  /** Reports `step` of `steps` done in `phase`; `detail` (e.g. a file name) is shown after it. */
  update(phase: string, step: number, steps: number, detail = ''): void {
    const fraction = steps > 0 ? Math.min(Math.max(step / steps, 0), 1) : 0;
    const counter = steps > 0 ? `${step}/${steps}` : `${step}`;
    if (this.tty) {
      const width = Math.max(10, Math.min(30, (this.stream.columns ?? 80) - 60));
      const filled = Math.round(fraction * width);
      const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
      const elapsed = ((Date.now() - this.started) / 1000).toFixed(1);
      let line = `${phase} [${bar}] ${counter} ${elapsed}s ${detail}`;
      const max = (this.stream.columns ?? 80) - 1;
      if (line.length > max) line = line.slice(0, max);
      this.stream.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    // A fraction of 1 is its own decile, so the last step is always printed once.
    const decile = Math.floor(fraction * 10);
    if (phase !== this.lastPhase || decile !== this.lastDecile) {
      this.stream.write(`${phase}: ${counter}${detail ? ` ${detail}` : ''}\n`);
      this.lastPhase = phase;
      this.lastDecile = decile;
    }
  }

  /** Prints a message without garbling the bar. */
  log(message: string): void {
    if (this.tty && this.drawn) {
      this.stream.write(`\r\x1b[2K${message}\n`);
    } else {
      this.stream.write(`${message}\n`);
    }
    this.drawn = false;
  }

  /** Ends the bar's line on a TTY. */
  done(): void {
    if (this.tty && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
