/**
 * Teardown of a test file's processes and servers that runs every step, in order, even when
 * one throws or hangs. A plain `await a(); await b(); await c();` in afterAll stops at the first
 * failure: one hung workload stop once skipped the rest and leaked a worker and a cluster.
 */

/** One step: a name for the error message, and what it does (sync or async). */
export type TeardownStep = readonly [name: string, step: () => unknown];

/** How long one step may take before the next one starts anyway. */
export const TEARDOWN_STEP_MS = 20_000;

/** An afterAll timeout that fits `steps` bounded steps (jest would cut the hook short otherwise). */
export const teardownTimeout = (steps: number, stepMs = TEARDOWN_STEP_MS): number => steps * stepMs + 10_000;

/**
 * Runs each step in order, each bounded by `stepMs`: a step that throws or is still running
 * then is recorded and the next one starts. Throws once at the end, naming every failed step.
 * A step that blocks the event loop (a synchronous pg_ctl) is bounded only by its own timeout.
 */
export async function teardown(steps: readonly TeardownStep[], stepMs = TEARDOWN_STEP_MS): Promise<void> {
  const failures: string[] = [];
  for (const [name, step] of steps) {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running after ${stepMs} ms; went on to the next step`)), stepMs);
    });
    try {
      await Promise.race([Promise.resolve().then(step), hung]);
    } catch (error) {
      failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      clearTimeout(timer);
    }
  }
  if (failures.length > 0) throw new Error(`teardown: ${failures.length} of ${steps.length} steps failed (the others ran):\n${failures.join('\n')}`);
}
