import { DecodeError } from '../../../src/core/decoding/decode-error';
import fc from 'fast-check';
import { commitTimeToIso, commitTimeToIsoExact, parsePgoutput } from '../../../src/core/decoding/pgoutput';

/** Builds pgoutput payloads the way the walsender writes them (network byte order). */
class Msg {
  private parts: Buffer[] = [];
  constructor(letter: string) {
    this.byte(letter);
  }
  byte(v: number | string): this {
    this.parts.push(Buffer.from([typeof v === 'string' ? v.charCodeAt(0) : v]));
    return this;
  }
  i16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    this.parts.push(b);
    return this;
  }
  i32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    this.parts.push(b);
    return this;
  }
  i64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    this.parts.push(b);
    return this;
  }
  str(s: string | Buffer): this {
    this.parts.push(typeof s === 'string' ? Buffer.from(s, 'utf8') : s, Buffer.from([0]));
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  /** TupleData: [null | 'u' (unchanged TOAST) | text value] */
  tuple(values: Array<null | Buffer | string>): this {
    this.i16(values.length);
    for (const v of values) {
      if (v === null) this.byte('n');
      else if (v === 'u') this.byte('u');
      else {
        const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
        this.byte('t').i32(b.length).raw(b);
      }
    }
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

describe('parsePgoutput', () => {
  it('decodes Begin', () => {
    const buf = new Msg('B').i64(0x16b37a0n).i64(848_152_800_123_456n).u32(3_000_000_000).build();
    expect(parsePgoutput(buf)).toEqual({ tag: 'begin', finalLsn: 0x16b37a0n, commitTime: 848_152_800_123_456n, xid: 3_000_000_000 });
  });

  it('decodes Commit', () => {
    const buf = new Msg('C').byte(0).i64(0x16b37a0n).i64(0x16b37d8n).i64(1n).build();
    expect(parsePgoutput(buf)).toEqual({ tag: 'commit', flags: 0, commitLsn: 0x16b37a0n, endLsn: 0x16b37d8n, commitTime: 1n });
  });

  it('decodes Origin', () => {
    const buf = new Msg('O').i64(0xabn).str('pg_restore_1').build();
    expect(parsePgoutput(buf)).toEqual({ tag: 'origin', originLsn: 0xabn, name: 'pg_restore_1' });
  });

  it('decodes Relation with byte-string names, identity and key flags', () => {
    const buf = new Msg('R')
      .u32(16384)
      .str('public')
      .str('tä"ble')
      .byte('f')
      .i16(2)
      .byte(1)
      .str('id')
      .u32(23)
      .i32(-1)
      .byte(0)
      .str('name')
      .u32(1043)
      .i32(36)
      .build();
    expect(parsePgoutput(buf)).toEqual({
      tag: 'relation',
      relationId: 16384,
      schema: 'public',
      table: Buffer.from('tä"ble', 'utf8').toString('latin1'),
      replicaIdentity: 'f',
      columns: [
        { name: 'id', typeOid: 23, typeMod: -1, isKey: true },
        { name: 'name', typeOid: 1043, typeMod: 36, isKey: false },
      ],
    });
  });

  it('decodes Type', () => {
    const buf = new Msg('Y').u32(16400).str('public').str('mood').build();
    expect(parsePgoutput(buf)).toEqual({ tag: 'type', typeOid: 16400, schema: 'public', name: 'mood' });
  });

  it('decodes Insert, keeping null, unchanged and empty text distinct', () => {
    const buf = new Msg('I').u32(16384).byte('N').tuple(['1', null, 'u', '', 'é\n']).build();
    expect(parsePgoutput(buf)).toEqual({
      tag: 'insert',
      relationId: 16384,
      newTuple: [
        { kind: 'text', value: '1' },
        { kind: 'null' },
        { kind: 'unchanged' },
        { kind: 'text', value: '' },
        { kind: 'text', value: '\u00c3\u00a9\n' }, // the two UTF-8 bytes of é, as a byte string
      ],
    });
  });

  it('decodes Update without old tuple, with key tuple, with old tuple', () => {
    expect(parsePgoutput(new Msg('U').u32(1).byte('N').tuple(['2']).build())).toEqual({
      tag: 'update',
      relationId: 1,
      newTuple: [{ kind: 'text', value: '2' }],
    });
    expect(parsePgoutput(new Msg('U').u32(1).byte('K').tuple(['1', null]).byte('N').tuple(['2', 'u']).build())).toEqual({
      tag: 'update',
      relationId: 1,
      keyTuple: [{ kind: 'text', value: '1' }, { kind: 'null' }],
      newTuple: [{ kind: 'text', value: '2' }, { kind: 'unchanged' }],
    });
    expect(parsePgoutput(new Msg('U').u32(1).byte('O').tuple(['1']).byte('N').tuple(['2']).build())).toEqual({
      tag: 'update',
      relationId: 1,
      oldTuple: [{ kind: 'text', value: '1' }],
      newTuple: [{ kind: 'text', value: '2' }],
    });
  });

  it('decodes Delete with key or old tuple', () => {
    expect(parsePgoutput(new Msg('D').u32(7).byte('K').tuple(['1']).build())).toEqual({
      tag: 'delete',
      relationId: 7,
      keyTuple: [{ kind: 'text', value: '1' }],
    });
    expect(parsePgoutput(new Msg('D').u32(7).byte('O').tuple([null]).build())).toEqual({
      tag: 'delete',
      relationId: 7,
      oldTuple: [{ kind: 'null' }],
    });
  });

  it('decodes Truncate options', () => {
    const buf = new Msg('T').u32(2).byte(3).u32(10).u32(11).build();
    expect(parsePgoutput(buf)).toEqual({ tag: 'truncate', cascade: true, restartIdentity: true, relationIds: [10, 11] });
    expect(parsePgoutput(new Msg('T').u32(1).byte(2).u32(10).build())).toMatchObject({ cascade: false, restartIdentity: true });
  });

  it('decodes logical Message with binary content', () => {
    const content = Buffer.from([0, 1, 2, 255]);
    const buf = new Msg('M').byte(1).i64(99n).str('pgincr').u32(content.length).raw(content).build();
    const msg = parsePgoutput(buf);
    expect(msg).toEqual({ tag: 'message', transactional: true, lsn: 99n, prefix: 'pgincr', content });
  });

  it('rejects truncated, unknown, binary and over-long payloads', () => {
    expect(() => parsePgoutput(Buffer.alloc(0))).toThrow(DecodeError);
    expect(() => parsePgoutput(new Msg('B').i64(1n).build())).toThrow(/truncated pgoutput begin message: need 8 bytes at offset 9/);
    expect(() => parsePgoutput(new Msg('S').build())).toThrow(/unknown pgoutput message kind "S"/);
    const bin = new Msg('I').u32(1).byte('N').i16(1).byte('b').i32(0).build();
    expect(() => parsePgoutput(bin)).toThrow(/binary tuple data/);
    const long = Buffer.concat([new Msg('Y').u32(1).str('s').str('t').build(), Buffer.from([0])]);
    expect(() => parsePgoutput(long)).toThrow(/1 trailing bytes/);
    expect(() => parsePgoutput(new Msg('I').u32(1).byte('X').build())).toThrow(/expected tuple marker 'N'/);
    expect(() => parsePgoutput(new Msg('I').u32(1).byte('N').i16(1).byte('t').i32(-1).build())).toThrow(/negative value length -1 \(column 1\)/);
    expect(() => parsePgoutput(new Msg('I').u32(1).byte('N').i16(1).byte('t').i32(5).raw(Buffer.from('abc')).build())).toThrow(
      /truncated pgoutput insert message: need 5 bytes at offset 13, payload has 16/,
    );
  });

  it('cuts every value of a row from one decoding of the payload, byte for byte', () => {
    const bytes = Buffer.from([0x41, 0x00, 0xff, 0x0a, 0xc3, 0xa9]);
    const msg = parsePgoutput(
      new Msg('I')
        .u32(7)
        .byte('N')
        .tuple([bytes, 'x', '', null, bytes.subarray(4)])
        .build(),
    );
    expect(msg).toEqual({
      tag: 'insert',
      relationId: 7,
      newTuple: [
        { kind: 'text', value: bytes.toString('latin1') },
        { kind: 'text', value: 'x' },
        { kind: 'text', value: '' },
        { kind: 'null' },
        { kind: 'text', value: '\u00c3\u00a9' },
      ],
    });
  });
});

describe('commitTimeToIso', () => {
  it('formats microseconds since 2000-01-01 UTC as PostgreSQL does with TimeZone UTC', () => {
    expect(commitTimeToIso(0n)).toBe('2000-01-01 00:00:00.000000+00');
    // 2026-11-27 14:00:00.123456 UTC
    const micros = (BigInt(Date.UTC(2026, 10, 27, 14, 0, 0)) - 946_684_800_000n) * 1000n + 123_456n;
    expect(commitTimeToIso(micros)).toBe('2026-11-27 14:00:00.123456+00');
    expect(commitTimeToIso(-1n)).toBe('1999-12-31 23:59:59.999999+00');
  });

  it('equals the exact bigint form for any time, including repeated seconds (its cache) and far times', () => {
    const second = 848_152_800_000_000n;
    const near = fc.bigInt({ min: second - 5_000_000n, max: second + 5_000_000n });
    const any = fc.bigInt({ min: -(2n ** 56n), max: 2n ** 56n });
    fc.assert(
      fc.property(fc.array(fc.oneof(near, any), { minLength: 1, maxLength: 20 }), (times) => {
        for (const t of times) expect(commitTimeToIso(t)).toBe(commitTimeToIsoExact(t));
      }),
      { numRuns: 300 },
    );
  });
});
