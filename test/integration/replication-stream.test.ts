/**
 * The receive stage against a real walsender: START_REPLICATION, XLogData/keepalive parsing,
 * pinned session settings (exact floats, LATIN1 bytes), acknowledgement is ours alone,
 * backpressure, error mapping (at start and mid-stream), a clean connection after stop().
 */
import type { Client } from 'pg';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';
import { parseLsn } from '../../src/core/lsn';
import { parsePgoutput } from '../../src/core/decoding/pgoutput';
import type { PgoutputMessage } from '../../src/core/decoding/model';
import { parseCopyData, standbyStatusUpdate, startReplication, type ReplicationStream } from '../../src/adapters/pg/replication-stream';
import { pinSessionSettings, replicationSessionOptions } from '../../src/adapters/pg/replication-session';
import { waitFor } from '../helpers/wait';

let pg: PgCluster;

beforeAll(async () => {
  pg = await startCluster();
  await pg.createDatabase('latin', { encoding: 'LATIN1', locale: 'C' });
  for (const db of ['postgres', 'latin']) {
    await pg.query('CREATE TABLE t (id int PRIMARY KEY, f float8, r real, s text, ts timestamptz, iv interval, b bytea)', [], db);
    await pg.query('CREATE PUBLICATION p FOR ALL TABLES', [], db);
  }
});
afterAll(async () => {
  await pg?.stop();
});

async function replicationClient(db: string, encoding: string): Promise<Client> {
  const client = await pg.connect(db, { replication: 'database', options: replicationSessionOptions() } as never);
  client.on('error', () => undefined);
  await pinSessionSettings(client, encoding);
  return client;
}

async function createSlot(name: string, db: string): Promise<bigint> {
  const rows = await pg.query<{ lsn: string }>(`SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [name], db);
  return parseLsn(rows[0]!.lsn);
}

async function slotFlush(name: string, db = 'postgres'): Promise<bigint | null> {
  const rows = await pg.query<{ c: string | null }>('SELECT confirmed_flush_lsn::text AS c FROM pg_replication_slots WHERE slot_name = $1', [name], db);
  return rows[0]?.c ? parseLsn(rows[0].c) : null;
}

/** Reads decoded messages until `until` says stop (or the deadline passes). */
async function collect(stream: ReplicationStream, until: (msgs: PgoutputMessage[]) => boolean, ms = 20000): Promise<PgoutputMessage[]> {
  const out: PgoutputMessage[] = [];
  const deadline = Date.now() + ms;
  while (!until(out)) {
    if (Date.now() > deadline) throw new Error(`timed out; got ${out.map((m) => m.tag).join(' ')}`);
    const msg = await stream.nextWithin(500);
    if (msg && msg.kind === 'xlog') out.push(parsePgoutput(msg.payload));
  }
  return out;
}

function commits(msgs: PgoutputMessage[]): number {
  return msgs.filter((m) => m.tag === 'commit').length;
}

test('parses XLogData and keepalive, builds a 34-byte status update', () => {
  const w = Buffer.alloc(28);
  w[0] = 0x77;
  w.writeBigUInt64BE(0x1_00000010n, 1);
  w.writeBigUInt64BE(0x1_00000020n, 9);
  w.writeBigInt64BE(42n, 17);
  w.write('abc', 25, 'latin1');
  const x = parseCopyData(w);
  // The header is read on demand; the payload is a view of the frame.
  expect(x.kind === 'xlog' && [x.walStart, x.walEnd, x.sendTime, x.payload]).toEqual([0x1_00000010n, 0x1_00000020n, 42n, Buffer.from('abc')]);
  const k = Buffer.alloc(18);
  k[0] = 0x6b;
  k.writeBigUInt64BE(77n, 1);
  k[17] = 1;
  expect(parseCopyData(k)).toEqual({ kind: 'keepalive', walEnd: 77n, sendTime: 0n, replyRequested: true });
  const r = standbyStatusUpdate({ write: 1n, flush: 2n, apply: 3n }, 946_684_800_000);
  expect(r.length).toBe(34);
  expect([r[0], r.readBigUInt64BE(9), r.readBigInt64BE(25), r[33]]).toEqual([0x72, 2n, 0n, 0]);
  expect(() => parseCopyData(Buffer.from([0x78]))).toThrow(/unknown CopyData message type 0x78/);
});

test('streams exact values with pinned settings; the slot moves only when we acknowledge', async () => {
  const start = await createSlot('s_exact', 'postgres');
  await pg.query(
    `INSERT INTO t VALUES (1, 0.1::float8 + 0.2::float8, 0.1, E'a\\nb''c', '2026-01-02 03:04:05.123456+05', '1 year 2 mons 3 days 04:05:06.5', '\\x00ff'),
                          (2, 'NaN', '-Infinity', NULL, 'infinity', '-1 days', '')`,
  );
  const client = await replicationClient('postgres', 'UTF8');
  const stream = await startReplication(client, { slot: 's_exact', startLsn: 0n, publication: 'p', messages: true });
  const msgs = await collect(stream, (m) => commits(m) >= 1);
  const inserts = msgs.filter((m) => m.tag === 'insert');
  const values = inserts.map((m) => m.newTuple.map((v) => (v.kind === 'text' ? v.value : v.kind)));
  expect(values).toEqual([
    ['1', '0.30000000000000004', '0.1', "a\nb'c", '2026-01-01 22:04:05.123456+00', '1 year 2 mons 3 days 04:05:06.5', '\\x00ff'],
    ['2', 'NaN', '-Infinity', 'null', 'infinity', '-1 days', '\\x'],
  ]);
  // Nothing acknowledged yet: the slot has not moved, whatever we received.
  expect(await slotFlush('s_exact')).toBe(start);
  const commit = msgs.find((m) => m.tag === 'commit');
  if (commit?.tag !== 'commit') throw new Error('no commit');
  stream.sendStatus({ write: commit.endLsn, flush: commit.endLsn, apply: commit.endLsn });
  await waitFor('the acknowledgement in the slot', async () => (await slotFlush('s_exact')) === commit.endLsn, 10_000, 50);
  expect(await stream.stop()).toBe(true);
  await client.end();
});

test('a LATIN1 database: the bytes arrive unconverted', async () => {
  await createSlot('s_latin', 'latin');
  // 'é' is 0xE9 in LATIN1; written via a UTF8 client, stored as one byte.
  await pg.query(`INSERT INTO t (id, s) VALUES (1, 'café')`, [], 'latin');
  const client = await replicationClient('latin', 'LATIN1');
  const stream = await startReplication(client, { slot: 's_latin', startLsn: 0n, publication: 'p' });
  const msgs = await collect(stream, (m) => commits(m) >= 1);
  const insert = msgs.find((m) => m.tag === 'insert');
  if (insert?.tag !== 'insert') throw new Error('no insert');
  const s = insert.newTuple[3];
  expect(s?.kind === 'text' && Buffer.from(s.value, 'latin1')).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
  await stream.stop();
  await client.end();
});

test('backpressure: a large transaction is consumed slowly without unbounded buffering', async () => {
  await createSlot('s_big', 'postgres');
  await pg.query(`INSERT INTO t (id, s) SELECT g, repeat('x', 2000) FROM generate_series(1000, 4999) g`);
  const client = await replicationClient('postgres', 'UTF8');
  const stream = await startReplication(client, { slot: 's_big', startLsn: 0n, publication: 'p', highWaterBytes: 64 * 1024 });
  let maxQueued = 0;
  let inserts = 0;
  const msgs = await collect(
    stream,
    (m) => {
      inserts = m.filter((x) => x.tag === 'insert').length;
      maxQueued = Math.max(maxQueued, (stream as unknown as { queuedBytes: number }).queuedBytes);
      return commits(m) >= 1;
    },
    60000,
  );
  expect(inserts).toBe(4000);
  expect(msgs.length).toBeGreaterThan(4000);
  // 8 MB were sent; what waited in memory stayed near the high-water mark (+ one socket read).
  expect(maxQueued).toBeLessThan(64 * 1024 + 1024 * 1024);
  await stream.stop();
  await client.end();
});

test('errors are mapped: missing slot, missing publication', async () => {
  const c1 = await replicationClient('postgres', 'UTF8');
  await expect(startReplication(c1, { slot: 'nope', startLsn: 0n, publication: 'p' })).rejects.toMatchObject({ name: 'SlotMissingError' });
  await c1.end();

  await createSlot('s_nopub', 'postgres');
  await pg.query(`INSERT INTO t (id) VALUES (9000)`);
  const c2 = await replicationClient('postgres', 'UTF8');
  // pgoutput loads the publication when it first decodes a change: the error can come later.
  const failure = startReplication(c2, { slot: 's_nopub', startLsn: 0n, publication: 'missing_pub' }).then(async (stream) => {
    for (;;) if ((await stream.next()) === null) return null;
  });
  await expect(failure).rejects.toMatchObject({ name: 'PublicationMissingError' });
  await c2.end().catch(() => undefined);
});

/** Reads until the stream fails (returns the error) or ends (returns null). */
async function untilFailure(stream: ReplicationStream): Promise<unknown> {
  try {
    for (;;) if ((await stream.next()) === null) return null;
  } catch (err) {
    return err;
  }
}

test('an ErrorResponse mid-stream is surfaced mapped: the publication dropped while streaming', async () => {
  await pg.query('CREATE PUBLICATION p_drop FOR ALL TABLES');
  await createSlot('s_drop', 'postgres');
  await pg.query(`INSERT INTO t (id) VALUES (20000)`);
  const client = await replicationClient('postgres', 'UTF8');
  const stream = await startReplication(client, { slot: 's_drop', startLsn: 0n, publication: 'p_drop' });
  expect(commits(await collect(stream, (m) => commits(m) >= 1))).toBe(1);
  // pgoutput reloads its publications at the next change and finds this one gone: ERROR.
  await pg.query('DROP PUBLICATION p_drop');
  await pg.query(`INSERT INTO t (id) VALUES (20001)`);
  expect(await untilFailure(stream)).toMatchObject({ name: 'PublicationMissingError', message: expect.stringContaining('slot s_drop') });
  await client.end().catch(() => undefined);
});

test('the walsender terminated mid-stream: its FATAL error surfaces, not a clean end', async () => {
  await createSlot('s_term', 'postgres');
  await pg.query(`INSERT INTO t (id) VALUES (20002)`);
  const client = await replicationClient('postgres', 'UTF8');
  const stream = await startReplication(client, { slot: 's_term', startLsn: 0n, publication: 'p' });
  expect(commits(await collect(stream, (m) => commits(m) >= 1))).toBe(1);
  const rows = await pg.query<{ t: boolean }>('SELECT pg_terminate_backend(active_pid) AS t FROM pg_replication_slots WHERE slot_name = $1', ['s_term']);
  expect(rows[0]?.t).toBe(true);
  expect(await untilFailure(stream)).toMatchObject({ code: '57P01' }); // admin_shutdown
  await client.end().catch(() => undefined);
});

test('stop() mid-stream leaves a clean connection: pg has the socket back', async () => {
  await createSlot('s_stop', 'postgres');
  await pg.query(`INSERT INTO t (id, s) SELECT g, repeat('y', 2000) FROM generate_series(30000, 33999) g`);
  const client = await replicationClient('postgres', 'UTF8');
  // Small high-water mark: the socket pauses and resumes as we read; megabytes are in flight when we stop.
  const stream = await startReplication(client, { slot: 's_stop', startLsn: 0n, publication: 'p', highWaterBytes: 16 * 1024 });
  const some = await collect(stream, (m) => m.filter((x) => x.tag === 'insert').length >= 100);
  expect(commits(some)).toBe(0);
  expect(await stream.stop()).toBe(true);
  expect(await stream.next()).toBeNull();
  // The same connection answers commands again (pg's parser is in step with the server).
  expect((await client.query('IDENTIFY_SYSTEM')).rows).toHaveLength(1);
  expect((await client.query('SELECT count(*)::int AS n FROM t WHERE id >= 30000')).rows).toEqual([{ n: 4000 }]);
  await client.end();
});

test('read batching: a trickle arrives whole and in order, a bulk transaction is not held back, stop() while resting is clean', async () => {
  await createSlot('s_batch', 'postgres');
  const client = await replicationClient('postgres', 'UTF8');
  // A long rest makes the test sharp: every message must still arrive, and in commit order.
  const stream = await startReplication(client, { slot: 's_batch', startLsn: 0n, publication: 'p', readBatchMs: 200, highWaterBytes: 64 * 1024 });
  const source = await pg.connect('postgres');
  try {
    for (let i = 0; i < 40; i++) await source.query('INSERT INTO t (id, s) VALUES ($1, $2)', [50_000 + i, `trickle ${i}`]);
    const trickle = await collect(stream, (m) => commits(m) >= 40);
    const ids = trickle.flatMap((m) => (m.tag === 'insert' && m.newTuple[0]!.kind === 'text' ? [Number(m.newTuple[0]!.value)] : []));
    expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => 50_000 + i));
    // Then a bulk transaction (8 MB): far above a trickle, so it streams through. Were every
    // read followed by a 200 ms rest, its 128+ reads would take over 25 s.
    await source.query(`INSERT INTO t (id, s) SELECT g, repeat('z', 2000) FROM generate_series(60000, 63999) g`);
    const bulk = await collect(stream, (m) => commits(m) >= 1, 15_000);
    expect(bulk.filter((m) => m.tag === 'insert')).toHaveLength(4000);
    // One more small transaction puts the socket to rest; stop() right then still ends cleanly.
    await source.query('INSERT INTO t (id, s) VALUES (64000, $1)', ['last']);
    await collect(stream, (m) => commits(m) >= 1);
    expect(await stream.stop()).toBe(true);
    expect((await client.query('IDENTIFY_SYSTEM')).rows).toHaveLength(1);
  } finally {
    await source.end();
    await client.end();
  }
});
