/**
 * The streaming replication protocol's CopyData messages, parsed and built (pure): XLogData
 * ('w') and primary keepalive ('k') from the server, the standby status update ('r') to it.
 */
import type { Lsn } from '../../core/lsn';
import { PgincrError } from '../../errors';

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

export interface StandbyStatus {
  write: Lsn;
  flush: Lsn;
  apply: Lsn;
  replyRequested?: boolean;
}

/** Microseconds between 1970-01-01 and 2000-01-01 (the PostgreSQL epoch). */
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

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
export function parseCopyDataAt(frame: Buffer, start: number, end: number): ReplicationMessage {
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
