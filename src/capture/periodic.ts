/**
 * A timer-driven task that never overlaps itself: runs `fn` every `everyMs`, skipping a tick
 * while the previous run is still going. Driven by the clock, not by message flow, so a huge
 * transaction or a server busy decoding cannot starve it. Errors go to `onError`.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly everyMs: number,
    private readonly fn: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Starts ticking; a period of 0 (or less) means never. */
  start(): this {
    if (this.everyMs > 0 && !this.timer) {
      this.timer = setInterval(() => void this.runOnce(), this.everyMs);
      this.timer.unref();
    }
    return this;
  }

  /** Runs now (waits for a run in progress instead of overlapping it). */
  async runOnce(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.fn()
      .catch((err: unknown) => this.onError(err))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops ticking and waits for a run in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
