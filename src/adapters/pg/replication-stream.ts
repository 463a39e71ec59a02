/**
 * The receive stage: a logical replication stream on plain `pg` (no pg-logical-replication: it
 * acknowledges received positions on a timer, which would lose data).
 *
 * - `startReplication` issues START_REPLICATION on a connected `replication: 'database'` client
 *   and resolves once the server answers CopyBothResponse (or rejects with a mapped error).
 * - `next()` yields XLogData and keepalive messages in order; `null` once the stream ended.
 * - Backpressure: messages wait in a small queue; when it holds more than `highWaterBytes`,
 *   the socket is paused until the consumer drains it, so a huge transaction is never buffered
 *   in memory (TCP pushes back on the walsender).
 * - `sendStatus` sends a standby status update. The caller reports ITS durable position (the
 *   end LSN of the last fsynced transaction), never what was merely received.
 */
import type { Client } from 'pg';
import type { Lsn } from '../../core/lsn';
import { formatLsn } from '../../core/lsn';
import { DecoderMissingError, PgincrError, PublicationMissingError, SlotMissingError } from '../../errors';

/** One WAL data message ('w'): `payload` is one pgoutput message. */
export interface XLogData {
  kind: 'xlog';
  walStart: Lsn;
  walEnd: Lsn;
  /** Microseconds since 2000-01-01 UTC (server clock). */
  sendTime: bigint;
  payload: Buffer;
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
}

export interface StandbyStatus {
  write: Lsn;
  flush: Lsn;
  apply: Lsn;
  replyRequested?: boolean;
}

/** Microseconds between 1970-01-01 and 2000-01-01 (the PostgreSQL epoch). */
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

/** Parses one CopyData payload of the streaming replication protocol. */
export function parseCopyData(chunk: Buffer): ReplicationMessage {
  const tag = chunk[0];
  if (tag === 0x77 /* w */) {
    if (chunk.length < 25) throw new PgincrError('protocol', `replication: XLogData of ${chunk.length} bytes (< 25)`);
    return {
      kind: 'xlog',
      walStart: chunk.readBigUInt64BE(1),
      walEnd: chunk.readBigUInt64BE(9),
      sendTime: chunk.readBigInt64BE(17),
      // Copied: pg-protocol reuses its receive buffer, and we hold messages in a queue.
      payload: Buffer.from(chunk.subarray(25)),
    };
  }
  if (tag === 0x6b /* k */) {
    if (chunk.length < 18) throw new PgincrError('protocol', `replication: keepalive of ${chunk.length} bytes (< 18)`);
    return { kind: 'keepalive', walEnd: chunk.readBigUInt64BE(1), sendTime: chunk.readBigInt64BE(9), replyRequested: chunk[17] === 1 };
  }
  throw new PgincrError('protocol', `replication: unknown CopyData message type 0x${(tag ?? 0).toString(16)}`);
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

/** An open replication stream. Not reusable after `stop()` or an error. */
export class ReplicationStream {
  private queue: Array<ReplicationMessage | undefined> = [];
  private head = 0;
  private queuedBytes = 0;
  private paused = false;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly highWater: number;
  private readonly detach: () => void;
  /** Settles when START_REPLICATION's command completes (stream over). */
  readonly done: Promise<void>;

  constructor(
    private readonly client: Client,
    private readonly opts: StartReplicationOptions,
    commandDone: Promise<unknown>,
  ) {
    this.highWater = opts.highWaterBytes ?? 4 * 1024 * 1024;
    const connection = replicationConnection(client);
    const onCopyData = (msg: { chunk: Buffer }) => this.push(msg.chunk);
    const onError = (err: unknown) => this.fail(err);
    const onEnd = () => this.finish();
    connection.on('copyData', onCopyData);
    client.on('error', onError);
    client.on('end', onEnd);
    this.detach = () => {
      connection.removeListener('copyData', onCopyData);
      client.removeListener('error', onError);
      client.removeListener('end', onEnd);
    };
    this.done = commandDone.then(
      () => this.finish(),
      (err: unknown) => this.fail(err),
    );
  }

  private push(chunk: Buffer): void {
    if (this.ended) return;
    let msg: ReplicationMessage;
    try {
      msg = parseCopyData(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.queue.push(msg);
    this.queuedBytes += msg.kind === 'xlog' ? msg.payload.length : 0;
    if (!this.paused && this.queuedBytes > this.highWater) {
      this.paused = true;
      replicationConnection(this.client).stream.pause();
    }
    this.notify();
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
    if (!this.ended) {
      this.ended = true;
      this.detach();
      this.resumeSocket();
    }
    this.notify();
  }

  private resumeSocket(): void {
    if (this.paused) {
      this.paused = false;
      replicationConnection(this.client).stream.resume();
    }
  }

  hasQueued(): boolean {
    return this.queue.length > this.head;
  }

  /**
   * The next message without waiting: a queued message, `null` once the stream has ended,
   * `undefined` when nothing is queued yet; throws the mapped error. Lets the consumer work
   * through a received batch synchronously (no promise per message).
   */
  poll(): ReplicationMessage | null | undefined {
    if (this.head < this.queue.length) {
      const msg = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      if (msg.kind === 'xlog') this.queuedBytes -= msg.payload.length;
      if (this.paused && this.queuedBytes <= this.highWater / 2) this.resumeSocket();
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
    if (this.queue.length > this.head || this.failure || this.ended) return this.next();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        this.notify();
        resolve(undefined);
      }, ms);
    });
    const arrived = new Promise<void>((resolve) => (this.wake = resolve));
    await Promise.race([arrived, timeout]);
    clearTimeout(timer);
    if (this.queue.length > this.head || this.failure || this.ended) return this.next();
    return undefined;
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
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
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
  on(event: 'copyData', listener: (msg: { chunk: Buffer }) => void): void;
  once(event: 'replicationStart', listener: () => void): void;
  removeListener(event: string, listener: (...args: never[]) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: { pause(): void; resume(): void };
}

/** pg's internal Connection (not in its public typings, but stable since pg 7). */
function replicationConnection(client: Client): ReplicationConnection {
  return (client as unknown as { connection: ReplicationConnection }).connection;
}

/**
 * Starts logical replication on a connected `replication: 'database'` client. Resolves when
 * the server accepted (CopyBothResponse); rejects with SlotMissingError,
 * PublicationMissingError, DecoderMissingError or the server's error.
 */
export async function startReplication(client: Client, opts: StartReplicationOptions): Promise<ReplicationStream> {
  const connection = replicationConnection(client);
  const started = new Promise<void>((resolve) => connection.once('replicationStart', () => resolve()));
  const command = client.query(startReplicationCommand(opts));
  // The stream listens for copyData from now on, before any can arrive (same tick).
  const stream = new ReplicationStream(client, opts, command);
  const outcome = await Promise.race([started.then(() => 'started' as const), stream.done.then(() => 'done' as const)]);
  if (outcome === 'done') {
    const first = await stream.next().then(
      () => undefined,
      (err: unknown) => err,
    );
    throw first ?? new Error(`slot ${opts.slot}: START_REPLICATION ended before streaming began`);
  }
  return stream;
}
