/** Waiting on a condition in tests: poll a probe until it holds, or fail naming what was awaited. */

/** Polls `probe` every `everyMs` until it returns true; throws after `timeoutMs` naming `what`. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000, everyMs = 200): Promise<void> {
  await waitForValue(what, async () => ((await probe()) ? true : undefined), timeoutMs, everyMs);
}

/** Polls `probe` until it returns a value other than undefined, and returns it. */
export async function waitForValue<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
