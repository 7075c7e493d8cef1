/**
 * A one-line progress bar on a terminal. Only when the stream is a TTY: in a pipe, a test or
 * the journal, carriage returns and redraws are noise, so the bar draws nothing at all.
 */

/** Redraws at most this often: a frame can take well under a millisecond. */
const REDRAW_MS = 100;

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export class ProgressBar {
  private done = 0;
  private lastDraw = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: ProgressStream = process.stderr,
    private readonly now: () => number = Date.now,
  ) {
    this.enabled = Boolean(stream.isTTY) && total > 0;
  }

  tick(count = 1): void {
    this.done = Math.min(this.total, this.done + count);
    if (!this.enabled) return;
    const t = this.now();
    if (t - this.lastDraw < REDRAW_MS && this.done < this.total) return;
    this.lastDraw = t;
    this.stream.write(`\r${this.render()}`);
  }

  /** Clears the line, so that what is printed next starts clean. */
  finish(): void {
    if (this.enabled) this.stream.write('\r\x1b[K');
  }

  render(): string {
    const counts = ` ${this.done}/${this.total}`;
    const room = Math.max(10, Math.min(50, (this.stream.columns ?? 80) - this.label.length - counts.length - 4));
    const filled = Math.round((room * this.done) / this.total);
    return `${this.label} [${'#'.repeat(filled)}${'-'.repeat(room - filled)}]${counts}`;
  }
}
