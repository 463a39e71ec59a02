/**
 * Fakes for the capture's unit tests: a clock whose time moves only when told (its timers fire
 * then), and an fsync whose every call waits until the test completes or fails it.
 */
import type { CaptureClock } from '../../../src/capture/capture-types';

export class FakeClock implements CaptureClock {
  private time = 1_000_000;
  private timers: Array<{ at: number; fn: () => void; live: boolean }> = [];

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const timer = { at: this.time + ms, fn, live: true };
    this.timers.push(timer);
    return () => void (timer.live = false);
  }

  /** Timers waiting to fire. */
  pending(): number {
    return this.timers.filter((t) => t.live).length;
  }

  /** Moves time on by `ms`, firing every timer due by then in order. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.live && t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      next.live = false;
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = until;
    this.timers = this.timers.filter((t) => t.live);
  }
}

/** An fsync the test settles: each call is kept until `complete()` or `fail()`. */
export class FakeFsync {
  readonly calls: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  /** Each call's covered position, as the caller's `covers()` said when it was called. */
  readonly covered: bigint[] = [];

  constructor(private readonly covers: () => bigint = () => 0n) {}

  readonly fsync = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      this.covered.push(this.covers());
      this.calls.push({ resolve, reject });
    });

  get started(): number {
    return this.calls.length;
  }

  /** Completes call `i` (default: the last one). */
  complete(i = this.calls.length - 1): void {
    this.calls[i]!.resolve();
  }

  fail(error: unknown, i = this.calls.length - 1): void {
    this.calls[i]!.reject(error);
  }
}

/** Lets settled promises' handlers run (an fsync's completion reaching the group commit). */
export async function settle(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}

export function eio(): Error {
  return Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', syscall: 'fdatasync' });
}
