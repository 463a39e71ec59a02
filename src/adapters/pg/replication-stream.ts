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
import type { Lsn } from '../../core/lsn';
import { formatLsn } from '../../core/lsn';
import { DecoderMissingError, PgincrError, PublicationMissingError, SlotMissingError } from '../../errors';

/**
 * One WAL data message ('w'): `payload` is one pgoutput message, a view into the socket read it
 * arrived in (not a copy). The header fields are read from the frame only when asked: nothing on
 * the hot path needs them, and each costs a BigInt.
 */
export interface XLogData {
  readonly kind: 'xlog';
  readonly walStart: Lsn;
  readonly walEnd: Lsn;
  /** Microseconds since 2000-01-01 UTC (server clock). */
  readonly sendTime: bigint;
  readonly payload: Buffer;
}

/** A primary keepalive ('k'). */
export interface PrimaryKeepalive {
  kind: 'keepalive';
  walEnd: Lsn;
  sendTime: bigint;
  replyRequested: boolean;
}

export type ReplicationMessage = XLogData | PrimaryKeepalive;

export interface StartReplicationOptions {
  slot: string;
  /** Where to start; 0 lets the server start at the slot's confirmed_flush_lsn. */
  startLsn: Lsn;
  publication: string;
  protoVersion?: 1;
  /** Ask pgoutput for logical decoding messages (pg_logical_emit_message). */
  messages?: boolean;
  /** Pause the socket when this many payload bytes wait unconsumed (default 4 MiB). */
  highWaterBytes?: number;
  /** Under a trickle (< 64 KiB per this many ms), read at most this often (default 0: always at once). */
  readBatchMs?: number;
}

export interface StandbyStatus {
  write: Lsn;
  flush: Lsn;
  apply: Lsn;
  replyRequested?: boolean;
}

/** Microseconds between 1970-01-01 and 2000-01-01 (the PostgreSQL epoch). */
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

/**
 * Messages queued before the socket pauses, whatever their bytes: a megabyte of small messages
 * is tens of thousands of objects alive at every young-generation GC, promoted to the old one
 * and left there as garbage (the capture's heap grew past 100 MiB catching up on pgbench).
 */
const MAX_QUEUED_MESSAGES = 4096;

/** Bytes per read-batching window below which the stream is a trickle (see afterRead). */
const TRICKLE_BYTES = 64 * 1024;

/** XLogData: 'w', walStart, walEnd, sendTime, then the payload. */
const XLOG_HEADER_BYTES = 25;

/** An XLogData whose header stays in its frame until asked for. */
class LazyXLogData implements XLogData {
  readonly kind = 'xlog' as const;
  constructor(
    private readonly frame: Buffer,
    private readonly at: number,
    readonly payload: Buffer,
  ) {}
  get walStart(): Lsn {
    return this.frame.readBigUInt64BE(this.at + 1);
  }
  get walEnd(): Lsn {
    return this.frame.readBigUInt64BE(this.at + 9);
  }
  get sendTime(): bigint {
    return this.frame.readBigInt64BE(this.at + 17);
  }
}

/**
 * Parses the CopyData payload `frame[start, end)` of the streaming replication protocol. An
 * XLogData's payload is a view of `frame`: the caller must not reuse `frame`'s memory.
 */
function parseCopyDataAt(frame: Buffer, start: number, end: number): ReplicationMessage {
  const length = end - start;
  const tag = length > 0 ? frame[start] : undefined; // an empty CopyData has no type byte
  if (tag === 0x77 /* w */) {
    if (length < XLOG_HEADER_BYTES) throw new PgincrError('protocol', `replication: XLogData of ${length} bytes (< 25)`);
    return new LazyXLogData(frame, start, frame.subarray(start + XLOG_HEADER_BYTES, end));
  }
  if (tag === 0x6b /* k */) {
    if (length < 18) throw new PgincrError('protocol', `replication: keepalive of ${length} bytes (< 18)`);
    return { kind: 'keepalive', walEnd: frame.readBigUInt64BE(start + 1), sendTime: frame.readBigInt64BE(start + 9), replyRequested: frame[start + 17] === 1 };
  }
  throw new PgincrError('protocol', `replication: unknown CopyData message type 0x${(tag ?? 0).toString(16)}`);
}

/** Parses one CopyData payload of the streaming replication protocol (the payload is a view of `chunk`). */
export function parseCopyData(chunk: Buffer): ReplicationMessage {
  return parseCopyDataAt(chunk, 0, chunk.length);
}

/** Backend message header: type byte + int32 length (which counts itself, not the type byte). */
const FRAME_HEADER_BYTES = 5;
const COPY_DATA = 0x64; // 'd'

/**
 * Frames the backend protocol on raw socket reads: every CopyData ('d') frame goes to
 * `onCopyData(chunk, start, end)` (its payload, in place), every other frame goes byte-exact to
 * `forward` (runs of them in one call), all strictly in arrival order and synchronously, so
 * whoever sees `forward` has seen every frame before the next CopyData is handed over.
 * A frame split across reads is reassembled into its own buffer (the only copy made).
 * `passThrough()` hands every byte not yet dispatched, and all later ones, to `forward`.
 * Pure: no I/O, driven by `push`.
 */
export class BackendFrameDemux {
  /** Header bytes of a frame cut before its length was complete. */
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  /** A frame whose length is known, being filled from the following reads. */
  private frame: Buffer | undefined;
  private frameFilled = 0;
  private bypass = false;

  constructor(
    private readonly onCopyData: (chunk: Buffer, start: number, end: number) => void,
    private readonly forward: (bytes: Buffer) => void,
  ) {}

  /** True while part of a frame waits for the next read. */
  hasPartial(): boolean {
    return this.headerFilled > 0 || this.frame !== undefined;
  }

  /** From now on every byte goes to `forward`, starting with a pending partial frame. */
  passThrough(): void {
    if (this.bypass) return;
    this.bypass = true;
    if (this.headerFilled > 0) this.forward(Buffer.from(this.header.subarray(0, this.headerFilled)));
    else if (this.frame) this.forward(this.frame.subarray(0, this.frameFilled));
    this.headerFilled = 0;
    this.frame = undefined;
  }

  push(chunk: Buffer): void {
    if (this.bypass) {
      this.forward(chunk);
      return;
    }
    const len = chunk.length;
    let off = 0;
    if (this.headerFilled > 0) {
      const n = Math.min(FRAME_HEADER_BYTES - this.headerFilled, len);
      chunk.copy(this.header, this.headerFilled, 0, n);
      this.headerFilled += n;
      off = n;
      if (this.headerFilled < FRAME_HEADER_BYTES) return;
      this.headerFilled = 0;
      this.frame = newFrame(this.header, 0);
      this.header.copy(this.frame, 0);
      this.frameFilled = FRAME_HEADER_BYTES;
    }
    if (this.frame) {
      const frame = this.frame;
      const n = Math.min(frame.length - this.frameFilled, len - off);
      chunk.copy(frame, this.frameFilled, off, off + n);
      this.frameFilled += n;
      off += n;
      if (this.frameFilled < frame.length) return;
      this.frame = undefined;
      if (frame[0] === COPY_DATA) this.onCopyData(frame, FRAME_HEADER_BYTES, frame.length);
      else this.forward(frame);
      if (this.bypass) return this.forwardRest(chunk, off);
    }
    // Whole frames in this read: CopyData handed over in place, runs of others forwarded as one slice.
    let others = -1;
    while (len - off >= FRAME_HEADER_BYTES) {
      const end = off + 1 + frameLength(chunk, off);
      if (end > len) break;
      if (chunk[off] === COPY_DATA) {
        if (others >= 0) {
          this.forward(chunk.subarray(others, off));
          others = -1;
          if (this.bypass) return this.forwardRest(chunk, off);
        }
        this.onCopyData(chunk, off + FRAME_HEADER_BYTES, end);
        if (this.bypass) return this.forwardRest(chunk, end);
      } else if (others < 0) {
        others = off;
      }
      off = end;
    }
    if (others >= 0) {
      this.forward(chunk.subarray(others, off));
      if (this.bypass) return this.forwardRest(chunk, off);
    }
    if (off === len) return;
    // A frame cut by the end of this read: keep its bytes (copied: the rest comes in later reads).
    if (len - off < FRAME_HEADER_BYTES) {
      chunk.copy(this.header, 0, off, len);
      this.headerFilled = len - off;
    } else {
      this.frame = newFrame(chunk, off);
      this.frameFilled = chunk.copy(this.frame, 0, off, len);
    }
  }

  private forwardRest(chunk: Buffer, off: number): void {
    if (off < chunk.length) this.forward(chunk.subarray(off));
  }
}

/** The int32 length of the frame at `off`, validated (it counts its own 4 bytes). */
function frameLength(buf: Buffer, off: number): number {
  const length = buf.readInt32BE(off + 1);
  if (length < 4) {
    throw new PgincrError('protocol', `replication: backend message 0x${buf[off]!.toString(16)} with length ${length} (< 4): the stream is out of step`);
  }
  return length;
}

function newFrame(headerBytes: Buffer, off: number): Buffer {
  return Buffer.allocUnsafe(1 + frameLength(headerBytes, off));
}

/** Builds the 34-byte standby status update ('r'). */
export function standbyStatusUpdate(status: StandbyStatus, nowMs: number = Date.now()): Buffer {
  const buf = Buffer.alloc(34);
  buf[0] = 0x72; // r
  buf.writeBigUInt64BE(status.write, 1);
  buf.writeBigUInt64BE(status.flush, 9);
  buf.writeBigUInt64BE(status.apply, 17);
  buf.writeBigInt64BE(BigInt(Math.floor(nowMs)) * 1000n - PG_EPOCH_OFFSET_US, 25);
  buf[33] = status.replyRequested ? 1 : 0;
  return buf;
}

/** Single-quoted literal for replication command options (no E'' syntax there). */
function optionLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The START_REPLICATION command text (exported for tests). */
export function startReplicationCommand(opts: StartReplicationOptions): string {
  const pluginOptions = [
    `proto_version ${optionLiteral(String(opts.protoVersion ?? 1))}`,
    `publication_names ${optionLiteral(quoteIdent(opts.publication))}`,
  ];
  if (opts.messages) pluginOptions.push(`messages 'true'`);
  return `START_REPLICATION SLOT ${quoteIdent(opts.slot)} LOGICAL ${formatLsn(opts.startLsn)} (${pluginOptions.join(', ')})`;
}

interface PgError {
  message?: string;
  code?: string;
}

/** Maps a server error on the replication connection to a pgincr error class. */
export function mapReplicationError(err: unknown, slot: string, publication: string): Error {
  const e = (err ?? {}) as PgError;
  const message = e.message ?? String(err);
  const detail = (e as { detail?: string }).detail;
  const facts = `slot ${slot}: ${message}${detail ? ` (${detail})` : ''}${e.code ? ` (SQLSTATE ${e.code})` : ''}`;
  if (/publication ".*" does not exist/.test(message)) {
    return new PublicationMissingError(`publication ${publication} is missing: ${facts}`, {
      hint: `create it (CREATE PUBLICATION ${quoteIdent(publication)} FOR ALL TABLES) or run pgincr setup`,
      cause: err,
    });
  }
  if (/replication slot ".*" does not exist/.test(message)) {
    return new SlotMissingError(`replication slot is missing: ${facts}`, {
      hint: 'the chain is broken; run pgincr setup --new-chain to take a new base and slot',
      cause: err,
    });
  }
  if (/can no longer get changes from replication slot|has been invalidated|cannot read from logical replication slot/.test(message)) {
    return new SlotMissingError(`replication slot is invalidated: ${facts}`, {
      hint: 'the server removed WAL the slot needed (max_slot_wal_keep_size); run pgincr setup --new-chain',
      cause: err,
    });
  }
  if (e.code === '58P01' || /could not access file|output plugin .* not allowed/.test(message)) {
    return new DecoderMissingError(`output plugin unavailable: ${facts}`, {
      hint: 'pgoutput is built into PostgreSQL >= 10; for other decoders install the plugin on the server',
      cause: err,
    });
  }
  return err instanceof Error ? err : new Error(message);
}

/** The socket's 'data' listener(s) pg installed (its protocol parser). */
type DataListener = (chunk: Buffer) => void;

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
  private readonly socket: ReplicationConnection['stream'];
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
    const socket = (this.socket = replicationConnection(client).stream);
    const pgListeners = socket.listeners('data') as DataListener[];
    const demux = new BackendFrameDemux(
      (chunk, start, end) => this.push(chunk, start, end),
      (bytes) => {
        for (const listener of pgListeners) listener.call(socket, bytes);
      },
    );
    const batchMs = opts.readBatchMs ?? 0;
    const onData = (chunk: Buffer) => {
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
    if (!this.failure && !this.ended) this.failure = mapReplicationError(err, this.opts.slot, this.opts.publication);
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
      this.windowStart = performance.now(); // the time held back is not the source's
      this.windowBytes = 0;
      if (!this.batchTimer) this.socket.resume();
    }
  }

  hasQueued(): boolean {
    return this.count > 0;
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
    replicationConnection(this.client).sendCopyFromChunk(standbyStatusUpdate(status));
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
      replicationConnection(this.client).endCopyFrom();
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

interface ReplicationConnection {
  once(event: 'replicationStart', listener: () => void): void;
  removeListener(event: string, listener: (...args: never[]) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: {
    pause(): void;
    resume(): void;
    destroy(): void;
    listeners(event: 'data'): unknown[];
    on(event: 'data', listener: DataListener): void;
    removeListener(event: 'data', listener: DataListener): void;
  };
}

/** pg's internal Connection (not in its public typings, but stable since pg 7). */
function replicationConnection(client: Client): ReplicationConnection {
  return (client as unknown as { connection: ReplicationConnection }).connection;
}

/**
 * Starts logical replication on a connected, idle `replication: 'database'` client. Resolves
 * when the server accepted (CopyBothResponse); rejects with SlotMissingError,
 * PublicationMissingError, DecoderMissingError or the server's error.
 */
export async function startReplication(client: Client, opts: StartReplicationOptions): Promise<ReplicationStream> {
  // The demux starts framing at the next byte: pg's parser must hold no partial frame, which
  // is so once the last command ended with ReadyForQuery and nothing else is in flight.
  const idle = client as unknown as { readyForQuery?: boolean; _queryQueue?: unknown[] };
  if (idle.readyForQuery !== true || (idle._queryQueue?.length ?? 0) > 0) {
    throw new PgincrError('protocol', `slot ${opts.slot}: START_REPLICATION needs an idle connection (a query is still in flight)`, {
      hint: 'await every query on the replication connection before starting replication',
    });
  }
  const connection = replicationConnection(client);
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
