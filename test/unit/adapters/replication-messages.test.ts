/**
 * The replication protocol's messages (parse and build) and the START_REPLICATION text, pure.
 */
import { parseCopyData, standbyStatusUpdate } from '../../../src/adapters/pg/replication-messages';
import { startReplicationCommand } from '../../../src/adapters/pg/replication-command';

test('XLogData: header read on demand, payload a view of the message', () => {
  const msg = Buffer.alloc(25 + 3);
  msg[0] = 0x77;
  msg.writeBigUInt64BE(0x16b3748n, 1);
  msg.writeBigUInt64BE(0x16b37d8n, 9);
  msg.writeBigInt64BE(123n, 17);
  msg.write('BIC', 25, 'latin1');
  const parsed = parseCopyData(msg);
  if (parsed.kind !== 'xlog') throw new Error('not xlog');
  expect([parsed.walStart, parsed.walEnd, parsed.sendTime, parsed.payload.toString('latin1')]).toEqual([0x16b3748n, 0x16b37d8n, 123n, 'BIC']);
  expect(parsed.payload.buffer).toBe(msg.buffer);
});

test('primary keepalive', () => {
  const msg = Buffer.alloc(18);
  msg[0] = 0x6b;
  msg.writeBigUInt64BE(0xabcdn, 1);
  msg.writeBigInt64BE(7n, 9);
  msg[17] = 1;
  expect(parseCopyData(msg)).toEqual({ kind: 'keepalive', walEnd: 0xabcdn, sendTime: 7n, replyRequested: true });
});

test('short or unknown messages are protocol errors naming what was wrong', () => {
  expect(() => parseCopyData(Buffer.from([0x77, 0, 0]))).toThrow('XLogData of 3 bytes (< 25)');
  expect(() => parseCopyData(Buffer.from([0x6b, 0]))).toThrow('keepalive of 2 bytes (< 18)');
  expect(() => parseCopyData(Buffer.from([0x71]))).toThrow('unknown CopyData message type 0x71');
  expect(() => parseCopyData(Buffer.alloc(0))).toThrow('unknown CopyData message type 0x0');
});

test('standby status update: 34 bytes, positions, clock in microseconds since 2000-01-01, reply flag', () => {
  const buf = standbyStatusUpdate({ write: 3n, flush: 2n, apply: 1n, replyRequested: true }, Date.UTC(2000, 0, 1, 0, 0, 1));
  expect(buf.length).toBe(34);
  expect([String.fromCharCode(buf[0]!), buf.readBigUInt64BE(1), buf.readBigUInt64BE(9), buf.readBigUInt64BE(17), buf.readBigInt64BE(25), buf[33]]).toEqual([
    'r',
    3n,
    2n,
    1n,
    1_000_000n,
    1,
  ]);
  expect(standbyStatusUpdate({ write: 0n, flush: 0n, apply: 0n }, 0)[33]).toBe(0);
});

test('START_REPLICATION: names always double-quoted (the replication grammar has keywords of its own)', () => {
  expect(startReplicationCommand({ slot: 'logical', startLsn: 0x16b3748n, publication: 'pub"x', messages: true })).toBe(
    `START_REPLICATION SLOT "logical" LOGICAL 0/16B3748 (proto_version '1', publication_names '"pub""x"', messages 'true')`,
  );
});
