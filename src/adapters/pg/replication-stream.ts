/**
 * The receive stage: a logical replication stream on plain `pg` (no pg-logical-replication: it
 * acknowledges received positions on a timer, which would lose data).
 *
 * - `startReplication` issues START_REPLICATION on a connected, idle `replication: 'database'`
 *   client and resolves once the server answers CopyBothResponse (or rejects with a mapped error).
 * - `next()` yields XLogData and keepalive messages in order; `null` once the stream ended.
 * - Backpressure: messages wait in a small queue; when it holds more than `highWaterBytes`
 *   (or MAX_QUEUED_MESSAGES), the socket is paused until the consumer drains it, so a huge transaction is never buffered
 *   in memory (TCP pushes back on the walsender).
 * - `sendStatus` sends a standby status update. The caller reports ITS durable position (the
 *   end LSN of the last fsynced transaction), never what was merely received.
 *
 * The modules: replication-frames.ts splits the socket's bytes into protocol frames (pure),
 * replication-messages.ts parses and builds the CopyData messages (pure),
 * replication-command.ts writes START_REPLICATION and maps its errors (pure), pg-internals.ts
 * is the only code that touches pg's private fields (checked when a stream opens), and this
 * file is the stream: the queue, backpressure, read batching and the start/stop handshakes.
 *
 * Demux (why: pg's generic path cost more per message than the walsender spends producing it —
 * a parsed message object, a buffer slice, two EventEmitter emits, a payload copy): just before
 * START_REPLICATION is sent, the stream takes pg's 'data' listener off the socket and frames the
 * backend protocol itself (`BackendFrameDemux`). CopyData frames are parsed in place and
 * queued; every other frame (CopyBothResponse, ErrorResponse, NoticeResponse, CopyDone,
 * CommandComplete, ReadyForQuery) is handed byte-exact to pg's listener, synchronously and in
 * arrival order, so pg still completes or fails the command (errors keep their mapping,
 * `stop()`'s CopyDone handshake still ends it) and pg has seen CopyBothResponse before the
 * first XLogData is queued. Taking over is safe then because the client is idle: the last
 * command ended with ReadyForQuery, so pg's parser holds no partial frame. When the stream
 * ends, undispatched bytes go to pg and its listener gets the socket back.
 *
 * Zero copy: an XLogData payload is a view of the socket read it arrived in. Node gives every
 * read of a net/tls socket a fresh ArrayBuffer (stream_base.cc EmitToJSStreamListener; only the
 * `onread: { buffer }` socket option reuses memory, and pg does not set it), so the view stays
 * valid while queued. A frame split across reads is reassembled into its own buffer. The XLogData
 * header (walStart, walEnd, sendTime) is read only when asked.
 */
import type { Client } from 'pg';
import { PgincrError } from '../../errors';
import { BackendFrameDemux } from './replication-frames';
import { parseCopyDataAt, standbyStatusUpdate, type ReplicationMessage, type StandbyStatus } from './replication-messages';
import { mapReplicationError, startReplicationCommand, type StartReplicationOptions } from './replication-command';
import { assertPgInternals, pgClientIdle, pgConnection, type DataListener, type PgConnectionInternals } from './pg-internals';

export { parseCopyData, standbyStatusUpdate, type ReplicationMessage, type StandbyStatus } from './replication-messages';
export type { StartReplicationOptions } from './replication-command';

/**
 * Messages queued before the socket pauses, whatever their bytes: a megabyte of small messages
 * is tens of thousands of objects alive at every young-generation GC, promoted to the old one
 * and left there as garbage (the capture's heap grew past 100 MiB catching up on pgbench).
 */
const MAX_QUEUED_MESSAGES = 4096;

/** Bytes per read-batching window below which the stream is a trickle (see afterRead). */
const TRICKLE_BYTES = 64 * 1024;

export interface StreamLiveness {
  /** Date.now() of the last bytes received (or of the end of a backpressure pause). */
  receivedAtMs: number;
  /** The socket is paused by backpressure: silence now says nothing about the network. */
  heldBack: boolean;
}

/** An open replication stream. Not reusable after `stop()` or an error. */
export class ReplicationStream {
  /** Received messages not yet polled: a ring (power-of-two capacity) from `head`, `count` long. */
  private ring: Array<ReplicationMessage | undefined> = new Array<ReplicationMessage | undefined>(1024).fill(undefined);
  private head = 0;
  private count = 0;
  private queuedBytes = 0;
  private paused = false;
  /** stop() was called: what still arrives is dropped (and never pauses the socket). */
  private stopping = false;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly highWater: number;
  /** nextWithin's timer (see there). */
  private waitTimer: NodeJS.Timeout | undefined;
  private waitTimerMs = 0;
  /** Set while the socket rests (see afterRead). */
  private batchTimer: NodeJS.Timeout | undefined;
  private windowStart = 0;
  private windowBytes = 0;
  /** Date.now() of the last socket read (or of the start, or of the end of a backpressure pause). */
  private receivedAt = Date.now();
  private readonly socket: PgConnectionInternals['stream'];
  private readonly detach: () => void;
  /** Settles when START_REPLICATION's command completes (stream over). */
  readonly done: Promise<void>;

  /**
   * Takes over the socket (see the demux in the file header), then calls `sendCommand`, which
   * must send START_REPLICATION on the idle `client` and settle when that command completes.
   */
  constructor(
    private readonly client: Client,
    private readonly opts: StartReplicationOptions,
    sendCommand: () => Promise<unknown>,
  ) {
    this.highWater = opts.highWaterBytes ?? 4 * 1024 * 1024;
    const socket = (this.socket = pgConnection(client).stream);
    const pgListeners = socket.listeners('data') as DataListener[];
    const demux = new BackendFrameDemux(
      (chunk, start, end) => this.push(chunk, start, end),
      (bytes) => {
        for (const listener of pgListeners) listener.call(socket, bytes);
      },
    );
    const batchMs = opts.readBatchMs ?? 0;
    const onData = (chunk: Buffer) => {
      this.receivedAt = Date.now();
      try {
        demux.push(chunk);
      } catch (err) {
        // Framing lost: nothing more on this connection can be trusted.
        this.fail(err);
        socket.destroy();
        return;
      }
      if (batchMs > 0) this.afterRead(chunk.length, batchMs);
    };
    // Ours first, then theirs off: the socket keeps a 'data' listener throughout (stays flowing).
    socket.on('data', onData);
    for (const listener of pgListeners) socket.removeListener('data', listener);
    const onError = (err: unknown) => this.fail(err);
    const onEnd = () => this.finish();
    client.on('error', onError);
    client.on('end', onEnd);
    this.detach = () => {
      // Bytes not yet dispatched (the rest of the current read, a partial frame) go to pg, then
      // pg's parser gets the socket back: the connection can be reused or ended cleanly.
      demux.passThrough();
      socket.removeListener('data', onData);
      for (const listener of pgListeners) socket.on('data', listener);
      client.removeListener('error', onError);
      client.removeListener('end', onEnd);
    };
    this.done = sendCommand().then(
      () => this.finish(),
      (err: unknown) => this.fail(err),
    );
  }

  private push(chunk: Buffer, start: number, end: number): void {
    if (this.ended || this.stopping) return;
    let msg: ReplicationMessage;
    try {
      msg = parseCopyDataAt(chunk, start, end);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.count === this.ring.length) this.grow();
    this.ring[(this.head + this.count) & (this.ring.length - 1)] = msg;
    this.count++;
    if (msg.kind === 'xlog') {
      this.queuedBytes += msg.payload.length;
      if (!this.paused && (this.queuedBytes > this.highWater || this.count > MAX_QUEUED_MESSAGES)) {
        this.paused = true;
        this.socket.pause();
      }
    }
    if (this.wake) this.notify();
  }

  private grow(): void {
    const old = this.ring;
    const ring = new Array<ReplicationMessage | undefined>(old.length * 2).fill(undefined);
    for (let i = 0; i < this.count; i++) ring[i] = old[(this.head + i) & (old.length - 1)];
    this.ring = ring;
    this.head = 0;
  }

  private clearQueue(): void {
    this.ring.fill(undefined);
    this.head = 0;
    this.count = 0;
    this.queuedBytes = 0;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private fail(err: unknown): void {
    if (!this.failure && !this.ended) this.failure = mapReplicationError(err, this.opts.slot, this.opts.publication, this.opts.startLsn);
    this.finish();
  }

  private finish(): void {
    this.endBatchPause();
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    if (!this.ended) {
      this.ended = true;
      this.detach();
      this.resumeSocket();
    }
    this.notify();
  }

  /**
   * Read batching for a trickle: when less than TRICKLE_BYTES arrived over the last `ms`, the
   * socket rests for `ms` and the kernel collects what follows, so many small transactions
   * cost one read and one wake-up instead of one each (under an OLTP load, that per-message
   * overhead took more of the source's CPU than the walsender's own work). A stream busier
   * than that, or one the consumer is behind on, is never paused: it would only make the
   * walsender wait on a full socket.
   */
  private afterRead(bytes: number, ms: number): void {
    const now = performance.now();
    this.windowBytes += bytes;
    if (now - this.windowStart < ms) return;
    // A trickle only if the consumer kept up (all that waits came with this read) and the
    // socket was not held back by the high-water mark: a slow window of our own is no trickle.
    const trickle = this.windowBytes < TRICKLE_BYTES && this.queuedBytes <= bytes && !this.paused;
    this.windowStart = now;
    this.windowBytes = 0;
    if (trickle) this.pauseForBatch(ms);
  }

  private pauseForBatch(ms: number): void {
    if (this.batchTimer || this.ended || this.stopping) return;
    if (!this.paused) this.socket.pause();
    this.batchTimer = setTimeout(() => {
      this.batchTimer = undefined;
      if (!this.paused && !this.ended) this.socket.resume();
    }, ms);
  }

  private endBatchPause(): void {
    if (!this.batchTimer) return;
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (!this.paused) this.socket.resume();
  }

  private resumeSocket(): void {
    if (this.paused) {
      this.paused = false;
      this.receivedAt = Date.now(); // the silence while we held the socket back was ours
      this.windowStart = performance.now(); // the time held back is not the source's
      this.windowBytes = 0;
      if (!this.batchTimer) this.socket.resume();
    }
  }

  hasQueued(): boolean {
    return this.count > 0;
  }

  /**
   * What tells a dead network from a quiet server: when the socket last delivered bytes, and
   * whether we hold it back ourselves (backpressure: the consumer is behind, not the network).
   */
  liveness(): StreamLiveness {
    return { receivedAtMs: this.receivedAt, heldBack: this.paused };
  }

  /**
   * The next message without waiting: a queued message, `null` once the stream has ended,
   * `undefined` when nothing is queued yet; throws the mapped error. Lets the consumer work
   * through a received batch synchronously (no promise per message).
   */
  poll(): ReplicationMessage | null | undefined {
    if (this.count > 0) {
      const msg = this.ring[this.head]!;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) & (this.ring.length - 1);
      this.count--;
      if (msg.kind === 'xlog') {
        this.queuedBytes -= msg.payload.length;
        if (this.paused && this.queuedBytes <= this.highWater / 2 && this.count <= MAX_QUEUED_MESSAGES / 2) this.resumeSocket();
      }
      return msg;
    }
    if (this.failure) throw this.failure;
    if (this.ended) return null;
    return undefined;
  }

  /** The next message in order, or `null` once the stream has ended; throws the mapped error. */
  async next(): Promise<ReplicationMessage | null> {
    for (;;) {
      const msg = this.poll();
      if (msg !== undefined) return msg;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /**
   * Waits for the next message at most `ms` milliseconds: `undefined` on timeout (lets the
   * caller run timers while the server is busy decoding and sends nothing).
   */
  async nextWithin(ms: number): Promise<ReplicationMessage | null | undefined> {
    if (this.count > 0 || this.failure || this.ended) return this.poll();
    // One timer for every wait, re-armed with refresh(): under a trickle of small transactions
    // the consumer waits once per socket read, and a new timer and race per wait showed up.
    if (this.waitTimer === undefined || this.waitTimerMs !== ms) {
      if (this.waitTimer) clearTimeout(this.waitTimer);
      this.waitTimer = setTimeout(() => this.notify(), ms).unref();
      this.waitTimerMs = ms;
    } else this.waitTimer.refresh();
    await new Promise<void>((resolve) => (this.wake = resolve));
    return this.poll();
  }

  /** Sends a standby status update. `flush` must be a durable position. */
  sendStatus(status: StandbyStatus): void {
    if (this.ended) return;
    pgConnection(this.client).sendCopyFromChunk(standbyStatusUpdate(status));
  }

  /**
   * Ends the stream: sends CopyDone and waits up to `graceMs` for the server to finish the
   * command. Messages not yet consumed are dropped (they were never acknowledged). Returns
   * true when the connection is clean and reusable; otherwise the caller should end it.
   */
  async stop(graceMs = 5000): Promise<boolean> {
    if (this.ended) return !this.failure;
    this.stopping = true;
    this.clearQueue();
    this.endBatchPause();
    this.resumeSocket();
    try {
      pgConnection(this.client).endCopyFrom();
    } catch {
      /* socket already gone: nothing to stop */
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)));
    const late = await Promise.race([this.done.then(() => false), timedOut]);
    clearTimeout(timer);
    this.finish();
    return !late && !this.failure;
  }
}

/**
 * Starts logical replication on a connected, idle `replication: 'database'` client. Resolves
 * when the server accepted (CopyBothResponse); rejects with SlotMissingError,
 * PublicationMissingError, DecoderMissingError or the server's error.
 */
export async function startReplication(client: Client, opts: StartReplicationOptions): Promise<ReplicationStream> {
  // The demux starts framing at the next byte: pg's parser must hold no partial frame, which
  // is so once the last command ended with ReadyForQuery and nothing else is in flight.
  assertPgInternals(client); // a pg upgrade that renamed a field fails here, loudly
  if (!pgClientIdle(client)) {
    throw new PgincrError('protocol', `slot ${opts.slot}: START_REPLICATION needs an idle connection (a query is still in flight)`, {
      hint: 'await every query on the replication connection before starting replication',
    });
  }
  const connection = pgConnection(client);
  let onStart: () => void = () => undefined;
  const started = new Promise<void>((resolve) => connection.once('replicationStart', (onStart = () => resolve())));
  // The stream owns the socket before the command is sent, so it sees every byte of the answer.
  const stream = new ReplicationStream(client, opts, () => client.query(startReplicationCommand(opts)));
  const outcome = await Promise.race([started.then(() => 'started' as const), stream.done.then(() => 'done' as const)]);
  if (outcome === 'done') {
    connection.removeListener('replicationStart', onStart);
    const first = await stream.next().then(
      () => undefined,
      (err: unknown) => err,
    );
    throw first ?? new Error(`slot ${opts.slot}: START_REPLICATION ended before streaming began`);
  }
  return stream;
}
