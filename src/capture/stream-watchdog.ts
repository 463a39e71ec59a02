/**
 * The capture's receive timeout (`capture.receiveTimeout`, like the standby's
 * wal_receiver_timeout): a network that silently drops every packet leaves a TCP connection
 * open for hours (keepalives start after 2 h by OS default, a retransmitted status update gives
 * up after ~15 min), while the capture heartbeats as if all were well. So the silence is timed:
 * after half the timeout without a byte from the server the capture asks for a reply (a status
 * update with replyRequested, which the walsender answers at once, even mid-decoding); after the
 * whole timeout the connections are destroyed and the run fails with a clear error, and
 * Temporal retries it until the server answers again. Silence while the stream is held back by
 * backpressure is the consumer's, not the network's: not counted.
 */
import type { PgincrError } from '../errors';
import type { StreamLiveness } from '../adapters/pg/replication-stream';

/** capture.receiveTimeout's default, as the standby's wal_receiver_timeout. */
export const DEFAULT_RECEIVE_TIMEOUT_MS = 60_000;

export type LivenessVerdict = 'alive' | 'ping' | 'dead';

/** What to do after `silentMs` without bytes from the server (pure). */
export function livenessVerdict(silentMs: number, timeoutMs: number, pinged: boolean): LivenessVerdict {
  if (silentMs >= timeoutMs) return 'dead';
  if (silentMs >= timeoutMs / 2 && !pinged) return 'ping';
  return 'alive';
}

export interface WatchdogOptions {
  timeoutMs: number;
  now: () => number;
  liveness: () => StreamLiveness;
  /** A status update with replyRequested. */
  ping: () => void;
  /** The error to fail the run with, built when the timeout passes. */
  deadError: (silentMs: number) => PgincrError;
  /** Destroys the source connections (a query stuck on the dead link rejects at once). */
  abort: () => void;
}

/** Checked from a timer (never from the message loop, which may be stuck on a query). */
export class StreamWatchdog {
  private pingedAt: number | null = null;
  /** Set once the timeout passed: the run's failure. */
  error: PgincrError | null = null;

  constructor(private readonly o: WatchdogOptions) {}

  /** How often to call check(): a few times per timeout. */
  get everyMs(): number {
    return Math.max(100, Math.floor(this.o.timeoutMs / 8));
  }

  check(): void {
    if (this.error) return;
    const { receivedAtMs, heldBack } = this.o.liveness();
    if (heldBack) return;
    if (this.pingedAt !== null && receivedAtMs > this.pingedAt) this.pingedAt = null; // answered
    const silentMs = this.o.now() - receivedAtMs;
    const verdict = livenessVerdict(silentMs, this.o.timeoutMs, this.pingedAt !== null);
    if (verdict === 'ping') {
      this.pingedAt = this.o.now();
      this.o.ping();
    } else if (verdict === 'dead') {
      this.error = this.o.deadError(silentMs);
      this.o.abort();
    }
  }
}
