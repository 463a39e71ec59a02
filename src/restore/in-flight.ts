/**
 * At most one asynchronous step in flight, e.g. a batch the server applies while the applier
 * prepares the next one. Steps run one after another; a failure is kept as a value (so it is
 * never an unhandled rejection while nobody waits) and thrown by the next `settle`. Once a step
 * failed, later steps do not run.
 */
export class InFlight {
  private pending: Promise<unknown> | null = null;

  /** Queues `step` after the step in flight, if any. */
  then(step: () => Promise<void>): void {
    const before = this.pending;
    this.pending = Promise.resolve(before).then((error) =>
      failed(error)
        ? error
        : step().then(
            () => undefined,
            (e: unknown) => e ?? new Error('step failed without an error'),
          ),
    );
  }

  /** Waits for what is in flight; throws its error. */
  async settle(): Promise<void> {
    const pending = this.pending;
    this.pending = null;
    const error = await pending;
    if (failed(error)) throw error;
  }

  /** Waits for what is in flight, ignoring its outcome (cleanup after another error). */
  async drain(): Promise<void> {
    await this.pending;
    this.pending = null;
  }
}

function failed(outcome: unknown): boolean {
  return outcome !== null && outcome !== undefined;
}
