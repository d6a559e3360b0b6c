// The CLI's progress line while a model loads for more than a second (CPU backend: hashing the
// model, optimising it on the first load, loading it). onnxruntime's session creation is one call
// with no progress of its own: the backend reports such a phase as one step (0 of 1, then 1 of 1)
// only when it expects it to be slow, and such a phase is drawn at once;
// streamed phases (hashing) are drawn from the first update after one second.
import type { ProgressBar } from './progress';

export class LoadProgress {
  private readonly started = Date.now();
  private shown = false;

  constructor(private readonly bar: ProgressBar) {}

  readonly update = (phase: string, step: number, steps: number): void => {
    if (!this.shown && steps !== 1 && Date.now() - this.started < 1000) return;
    this.shown = true;
    this.bar.update(phase, step, steps);
  };

  /** Ends the line once the model is loaded (nothing was drawn for a quick load). */
  done(): void {
    if (this.shown) this.bar.done();
  }
}
