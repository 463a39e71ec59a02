/**
 * Parser for pgoutput protocol version 1 messages ("Logical Replication Message Formats" in the
 * PostgreSQL docs). Takes one XLogData payload (the bytes after the 25-byte `w` header) and
 * never touches a socket. Strings are returned as byte strings (`latin1`), values in text form.
 */
import type { Lsn } from '../lsn';
import { DecodeError } from './decode-error';
import type { PgoutputMessage, RelationColumn, ReplicaIdentity, Tuple, TupleValue, UpdateMessage } from './model';

class Reader {
  pos = 0;
  private text: string | undefined;
  constructor(
    readonly buf: Buffer,
    readonly kind: string,
  ) {}

  /**
   * `buf[start, end)` as a byte string. The whole payload is decoded once and values are cut
   * from it: one call into C++ per message instead of one per column (byte offsets are char
   * offsets in latin1).
   */
  latin1(start: number, end: number): string {
    this.text ??= this.buf.toString('latin1');
    return this.text.substring(start, end);
  }

  need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new DecodeError(`truncated pgoutput ${this.kind} message: need ${n} bytes at offset ${this.pos}, payload has ${this.buf.length}`);
    }
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  i16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A NUL-terminated string, as a byte string. */
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new DecodeError(`truncated pgoutput ${this.kind} message: unterminated string at offset ${this.pos}`);
    const s = this.buf.toString('latin1', this.pos, end);
    this.pos = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  lsn(): Lsn {
    return this.u64();
  }
}

/** Shared values for the two kinds without data (never mutated). */
const NULL_VALUE: TupleValue = Object.freeze({ kind: 'null' });
const UNCHANGED_VALUE: TupleValue = Object.freeze({ kind: 'unchanged' });

/** TupleData: the hottest loop of the capture (once per column of every row), so bytes are read in place. */
function tuple(r: Reader): Tuple {
  const n = r.i16();
  const values: TupleValue[] = new Array<TupleValue>(n);
  for (let i = 0; i < n; i++) {
    const kind = r.u8();
    if (kind === 0x74 /* t */) {
      const len = r.i32();
      if (len < 0) throw new DecodeError(`pgoutput ${r.kind} message has a negative value length ${len} (column ${i + 1})`);
      r.need(len);
      values[i] = { kind: 'text', value: r.latin1(r.pos, r.pos + len) };
      r.pos += len;
    } else if (kind === 0x6e /* n */) values[i] = NULL_VALUE;
    else if (kind === 0x75 /* u */) values[i] = UNCHANGED_VALUE;
    else if (kind === 0x62 /* b */) {
      throw new DecodeError(`pgoutput ${r.kind} message has binary tuple data (column ${i + 1})`, {
        hint: 'start replication without the binary option: pgincr renders the text form',
      });
    } else throw new DecodeError(`pgoutput ${r.kind} message has unknown tuple data kind ${JSON.stringify(String.fromCharCode(kind))} (column ${i + 1})`);
  }
  return values;
}

function expectTupleMarker(r: Reader, marker: number, expected: string): void {
  if (String.fromCharCode(marker) !== expected) {
    throw new DecodeError(`pgoutput ${r.kind} message: expected tuple marker '${expected}', got ${JSON.stringify(String.fromCharCode(marker))}`);
  }
}

const IDENTITIES = new Set<ReplicaIdentity>(['d', 'n', 'f', 'i']);

type Decoder = (r: Reader) => PgoutputMessage;

/** One decoder per message letter (the dispatch table porsager/postgres uses). */
const DECODERS: Record<string, Decoder> = {
  B: (r) => ({ tag: 'begin', finalLsn: r.lsn(), commitTime: r.i64(), xid: r.u32() }),
  C: (r) => ({ tag: 'commit', flags: r.u8(), commitLsn: r.lsn(), endLsn: r.lsn(), commitTime: r.i64() }),
  O: (r) => ({ tag: 'origin', originLsn: r.lsn(), name: r.cstring() }),
  R: (r) => {
    const relationId = r.u32();
    const schema = r.cstring();
    const table = r.cstring();
    const ident = String.fromCharCode(r.u8()) as ReplicaIdentity;
    if (!IDENTITIES.has(ident)) throw new DecodeError(`pgoutput relation message for ${schema}.${table}: unknown replica identity ${JSON.stringify(ident)}`);
    const n = r.i16();
    const columns: RelationColumn[] = [];
    for (let i = 0; i < n; i++) {
      const flags = r.u8();
      columns.push({ isKey: (flags & 1) === 1, name: r.cstring(), typeOid: r.u32(), typeMod: r.i32() });
    }
    return { tag: 'relation', relationId, schema, table, replicaIdentity: ident, columns };
  },
  Y: (r) => ({ tag: 'type', typeOid: r.u32(), schema: r.cstring(), name: r.cstring() }),
  I: (r) => {
    const relationId = r.u32();
    expectTupleMarker(r, r.u8(), 'N');
    return { tag: 'insert', relationId, newTuple: tuple(r) };
  },
  U: (r) => {
    const relationId = r.u32();
    let marker = String.fromCharCode(r.u8());
    let keyTuple: Tuple | undefined;
    let oldTuple: Tuple | undefined;
    if (marker === 'K') keyTuple = tuple(r);
    else if (marker === 'O') oldTuple = tuple(r);
    if (marker === 'K' || marker === 'O') marker = String.fromCharCode(r.u8());
    expectTupleMarker(r, marker.charCodeAt(0), 'N');
    const newTuple = tuple(r);
    const msg: UpdateMessage = { tag: 'update', relationId, newTuple };
    if (keyTuple) msg.keyTuple = keyTuple;
    if (oldTuple) msg.oldTuple = oldTuple;
    return msg;
  },
  D: (r) => {
    const relationId = r.u32();
    const marker = String.fromCharCode(r.u8());
    if (marker === 'K') return { tag: 'delete', relationId, keyTuple: tuple(r) };
    if (marker === 'O') return { tag: 'delete', relationId, oldTuple: tuple(r) };
    throw new DecodeError(`pgoutput delete message: expected tuple marker 'K' or 'O', got ${JSON.stringify(marker)}`);
  },
  T: (r) => {
    const n = r.u32();
    const options = r.u8();
    const relationIds: number[] = [];
    for (let i = 0; i < n; i++) relationIds.push(r.u32());
    return { tag: 'truncate', cascade: (options & 1) !== 0, restartIdentity: (options & 2) !== 0, relationIds };
  },
  M: (r) => {
    const flags = r.u8();
    const lsn = r.lsn();
    const prefix = r.cstring();
    const content = Buffer.from(r.bytes(r.u32()));
    return { tag: 'message', transactional: (flags & 1) !== 0, lsn, prefix, content };
  },
};

const NAMES: Record<string, string> = {
  B: 'begin',
  C: 'commit',
  O: 'origin',
  R: 'relation',
  Y: 'type',
  I: 'insert',
  U: 'update',
  D: 'delete',
  T: 'truncate',
  M: 'message',
};

/**
 * Decodes one pgoutput v1 message. Throws DecodeError on unknown kinds (including the
 * streaming/two-phase kinds of protocol versions 2+), truncated payloads and trailing bytes.
 */
export function parsePgoutput(buf: Buffer): PgoutputMessage {
  if (buf.length === 0) throw new DecodeError('empty pgoutput payload');
  const letter = String.fromCharCode(buf[0]!);
  const decode = DECODERS[letter];
  if (!decode) {
    throw new DecodeError(`unknown pgoutput message kind ${JSON.stringify(letter)} (byte 0x${buf[0]!.toString(16)})`, {
      hint: 'pgincr speaks pgoutput proto_version 1 without streaming or two_phase',
    });
  }
  const r = new Reader(buf, NAMES[letter]!);
  r.pos = 1;
  const msg = decode(r);
  if (r.pos !== buf.length) {
    throw new DecodeError(`pgoutput ${r.kind} message has ${buf.length - r.pos} trailing bytes after offset ${r.pos}`);
  }
  return msg;
}

/** 2000-01-01 00:00:00 UTC in Unix milliseconds: the PostgreSQL epoch. */
const PG_EPOCH_MS = 946_684_800_000n;
const PG_EPOCH_MS_NUMBER = 946_684_800_000;

/**
 * The date and time (to the second) of the last commit time formatted: a stream's commit times
 * share their second, and formatting a Date costs more than the rest of a BEGIN line.
 */
const lastSecond = { secs: Number.NaN, iso: '' };

/**
 * Formats a commit time (microseconds since 2000-01-01 UTC) as PostgreSQL prints a timestamptz
 * with TimeZone UTC, always with six fractional digits: `2026-11-27 14:00:00.123456+00`.
 */
export function commitTimeToIso(micros: bigint): string {
  const us = Number(micros);
  if (!Number.isSafeInteger(us)) return commitTimeToIsoExact(micros); // beyond ±285 years of 2000
  const secs = Math.floor(us / 1_000_000);
  if (secs !== lastSecond.secs) {
    const iso = new Date(PG_EPOCH_MS_NUMBER + secs * 1000).toISOString(); // 2026-11-27T14:00:00.000Z
    lastSecond.secs = secs;
    lastSecond.iso = `${iso.slice(0, 10)} ${iso.slice(11, 19)}.`;
  }
  return `${lastSecond.iso}${String(us - secs * 1_000_000).padStart(6, '0')}+00`;
}

/** {@link commitTimeToIso} in bigint arithmetic, for any value. */
export function commitTimeToIsoExact(micros: bigint): string {
  let secs = micros / 1_000_000n;
  if (micros < 0n && micros % 1_000_000n !== 0n) secs -= 1n; // floor, not truncate
  const frac = micros - secs * 1_000_000n;
  const iso = new Date(Number(PG_EPOCH_MS + secs * 1000n)).toISOString(); // 2026-11-27T14:00:00.000Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${frac.toString().padStart(6, '0')}+00`;
}
