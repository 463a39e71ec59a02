/**
 * Group commit and the acknowledgement policy of the capture, as one small unit: a transaction
 * moves written → durable → acknowledged, in that order only (docs/design.md, "The
 * acknowledgement rule", invariant 2).
 *
 * - written: its COMMIT line was handed to the segment writer (`wrote(endLsn)`);
 * - durable: an fsync that started after it was written has completed;
 * - acknowledged: its end LSN was sent as the flush position (`acknowledge`).
 *
 * One fsync covers every transaction written before it started; it runs in the background while
 * the caller renders the next transactions, at most every `minGapMs` under a trickle. A failed
 * fsync ends acknowledgement for good: every later call throws its error, and nothing written
 * after the last successful fsync is ever acknowledged (the next run cuts the partial segment
 * back, invariant 3).
 *
 * With an object-store repository (`offsiteLsn`), acknowledged also means held by the bucket:
 * while the files hold durable transactions past the end of the last segment uploaded and
 * verified there, acknowledgements stop at that end (`offsiteHolds` moves it), so losing the
 * worker's disk loses nothing the slot let go (docs/design.md, "The acknowledgement rule with an
 * object store").
 *
 * No I/O of its own: the fsync, the status sender and the clock are injected, so unit tests
 * drive it with a fake clock, an fsync that fails and a fake stream.
 */
import { maxLsn, type Lsn } from '../core/lsn';
import type { CaptureClock } from './capture-types';

export interface GroupCommitOptions {
  /** Makes every byte handed to the writer so far durable (the segment writer's fsync). */
  fsync: () => Promise<unknown>;
  /** Sends `lsn` as the flush position (a standby status update). */
  acknowledge: (lsn: Lsn) => void;
  clock: CaptureClock;
  /** End LSN of the last transaction already durable in the files when the run starts. */
  durableLsn: Lsn;
  /** Where acknowledgement starts (at least `durableLsn`: the caller may know a later point with nothing to write). */
  confirmedLsn: Lsn;
  /** At most this many transactions written between two fsyncs (default 1000). */
  maxUnsynced?: number;
  /**
   * Fsyncs start at least this far apart (default 50 ms): under a steady trickle of small
   * transactions (an OLTP source), back-to-back fsyncs of ours competed with the server's own
   * WAL fsyncs on the same disk and cut its TPS. It only delays acknowledgements, by at most this.
   */
  minGapMs?: number;
  /** Object-store repository: the end of what the bucket holds when the run starts (acknowledgements stop there). */
  offsiteLsn?: Lsn;
}

export class GroupCommit {
  private readonly fsync: () => Promise<unknown>;
  private readonly send: (lsn: Lsn) => void;
  private readonly clock: CaptureClock;
  private readonly maxUnsynced: number;
  private readonly minGapMs: number;
  /** End LSN of the last transaction handed to the writer, fsynced or not. */
  private writtenLsn: Lsn;
  /** End LSN of the last transaction fsynced (or of the chain's resume point). */
  private durableLsn: Lsn;
  /** The flush position sent: `durableLsn`, or an idle keepalive's walEnd. */
  private confirmedLsn: Lsn;
  /** Transactions written and not covered by an fsync started since. */
  private unsynced = 0;
  /** The fsync running in the background; it never rejects (its failure goes to `failure`). */
  private syncing: Promise<void> | null = null;
  private failure: { error: unknown } | null = null;
  /** Cancels the fsync due after the minimum gap. */
  private cancelTimer: (() => void) | null = null;
  private lastSyncStartMs = Number.NEGATIVE_INFINITY;
  /** End of what the object store holds; null without one. */
  private offsite: Lsn | null;

  constructor(options: GroupCommitOptions) {
    this.fsync = options.fsync;
    this.send = options.acknowledge;
    this.clock = options.clock;
    this.maxUnsynced = options.maxUnsynced ?? 1000;
    this.minGapMs = options.minGapMs ?? 50;
    this.writtenLsn = options.durableLsn;
    this.durableLsn = options.durableLsn;
    this.offsite = options.offsiteLsn ?? null;
    this.confirmedLsn = this.capped(maxLsn(options.durableLsn, options.confirmedLsn));
  }

  /**
   * What may be acknowledged of `lsn`: all of it, unless durable transactions past the end of
   * what the object store holds are only on this disk; then that end.
   */
  private capped(lsn: Lsn): Lsn {
    if (this.offsite === null || this.durableLsn <= this.offsite) return lsn;
    return lsn < this.offsite ? lsn : this.offsite;
  }

  /** The object store now holds everything up to `lsn` (a sealed segment uploaded and verified). */
  offsiteHolds(lsn: Lsn): void {
    if (this.offsite === null) return;
    this.offsite = maxLsn(this.offsite, lsn);
    this.acknowledgeDurable();
  }

  /** The position acknowledged to the server (and reported in heartbeats). */
  get confirmed(): Lsn {
    return this.confirmedLsn;
  }

  get durable(): Lsn {
    return this.durableLsn;
  }

  get written(): Lsn {
    return this.writtenLsn;
  }

  /** Written and not yet durable: an fsync is pending, due or running. */
  busy(): boolean {
    return this.unsynced > 0 || this.syncing !== null || this.cancelTimer !== null;
  }

  /** Rethrows a failed fsync's error: after one, this run acknowledges nothing more. */
  throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Sends the acknowledged position again (a timer's status update, a requested reply). */
  resend(): void {
    this.send(this.confirmedLsn);
  }

  /** A transaction's COMMIT line went to the writer: written, not yet durable. */
  wrote(endLsn: Lsn): void {
    this.throwIfFailed();
    this.writtenLsn = endLsn;
    this.unsynced += 1;
  }

  /**
   * Whether to start the group commit now: when no more messages wait (the batch is over), or
   * when `maxUnsynced` transactions wait for one.
   */
  due(moreQueued: boolean): boolean {
    return !moreQueued || this.unsynced >= this.maxUnsynced;
  }

  /**
   * A transaction with nothing to write (only pgincr bookkeeping, or all its changes filtered):
   * nothing before `endLsn` remains to be written, so once every earlier write is durable it
   * is durable too, and is acknowledged.
   */
  nothingToWrite(endLsn: Lsn): void {
    this.throwIfFailed();
    this.writtenLsn = maxLsn(this.writtenLsn, endLsn);
    if (this.unsynced === 0 && !this.syncing) this.durableLsn = maxLsn(this.durableLsn, endLsn);
    this.acknowledgeDurable();
  }

  /** A transaction already in the files (a rewind resent it): only what is durable is acknowledged. */
  skipped(): void {
    this.throwIfFailed();
    this.acknowledgeDurable();
  }

  /**
   * A keepalive: with writes pending, the group commit running or due acknowledges them (an
   * fsync per keepalive came after every small transaction: back to back under OLTP load).
   * Otherwise everything before it has been consumed (the queue is ordered): with no
   * transaction open (`idle`), nothing at or before `walEnd` remains to be written.
   */
  async keepalive(walEnd: Lsn, idle: boolean, replyRequested: boolean): Promise<void> {
    if (this.busy()) {
      await this.syncInBackground();
      if (replyRequested) this.resend();
      return;
    }
    this.throwIfFailed();
    const lsn = this.capped(walEnd);
    if (idle && lsn > this.confirmedLsn) {
      this.confirmedLsn = lsn;
      this.resend();
    } else if (replyRequested) this.resend();
  }

  /**
   * Starts the fsync of everything written so far and returns, so rendering goes on while the
   * disk works. What it covers (the end LSN written when it started; the writer hands those
   * bytes to the file before the fsync) becomes durable, and is acknowledged, only once it
   * completes. With one already running or due, that one covers it; with too much unsynced,
   * returns a promise that waits for the one in flight (back-pressure), then starts the next.
   */
  syncInBackground(): Promise<void> | undefined {
    this.throwIfFailed(); // never acknowledge past a failed fsync
    if (this.unsynced === 0) return undefined;
    const syncing = this.syncing;
    if (syncing && this.unsynced >= this.maxUnsynced) return syncing.then(() => void this.syncInBackground());
    if (syncing || this.cancelTimer) return undefined;
    const wait = this.lastSyncStartMs + this.minGapMs - this.clock.now();
    if (wait > 0) {
      this.cancelTimer = this.clock.setTimer(wait, () => {
        this.cancelTimer = null;
        // A failure is kept in `failure` and thrown by the caller's next call.
        if (!this.failure) void this.syncInBackground();
      });
      return undefined;
    }
    this.startSync();
    return undefined;
  }

  /** Starts the fsync of everything written so far; `syncing` until it settles. */
  private startSync(): void {
    this.lastSyncStartMs = this.clock.now();
    const upTo = this.writtenLsn;
    this.unsynced = 0;
    this.syncing = this.fsync().then(
      () => {
        this.syncing = null;
        if (this.failure) return;
        this.durableLsn = maxLsn(this.durableLsn, upTo);
        this.acknowledgeDurable();
        if (this.unsynced > 0) void this.syncInBackground(); // what was written meanwhile
      },
      (error: unknown) => {
        this.syncing = null;
        this.failure ??= { error };
      },
    );
  }

  /**
   * Fsyncs now whatever group commit left unsynced (after the one in flight), then acknowledges
   * it: before a rotation seals the segment, and on the way out.
   */
  async syncNow(): Promise<void> {
    await this.quiesce();
    this.throwIfFailed();
    if (this.unsynced === 0) return;
    this.startSync(); // now, without waiting for the minimum gap
    await this.quiesce();
    this.throwIfFailed();
  }

  /** Until no fsync runs or is due (one finishing may start the next, for what it did not cover). */
  async quiesce(): Promise<void> {
    for (;;) {
      this.cancelTimer?.();
      this.cancelTimer = null;
      if (!this.syncing) return;
      await this.syncing;
    }
  }

  private acknowledgeDurable(): void {
    const lsn = this.capped(this.durableLsn);
    if (lsn > this.confirmedLsn) {
      this.confirmedLsn = lsn;
      this.resend();
    }
  }
}
