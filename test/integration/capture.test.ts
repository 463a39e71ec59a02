/**
 * The capture engine against a real cluster: a mixed workload streamed into segments, which
 * verify on their own and replay with psql into an identical copy; acknowledgements never pass
 * what is written (docs/design.md invariant 2); a crash, a torn partial and a rewound slot write no
 * transaction twice and lose none (docs/design.md invariant 3); an idle database's slot keeps moving.
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';
import { parseLsn, formatLsn, type Lsn } from '../../src/core/lsn';
import { migrate } from '../../src/adapters/pg/migrations';
import { loadCatalog } from '../../src/adapters/fs/catalog-store';
import { verifySegmentFile } from '../../src/adapters/fs/segment-files';
import { runCapture, type CaptureInput, type CaptureResult } from '../../src/capture/capture-engine';
import { createCaptureDeps } from '../../src/capture/capture-deps';
import type { HeartbeatDetails } from '../../src/capture/capture-types';
import { waitFor } from '../helpers/wait';

jest.setTimeout(240_000);

let pg: PgCluster;
const dirs: string[] = [];

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

const SCHEMA = String.raw`
CREATE TABLE items (id serial PRIMARY KEY, name text, price numeric(12,3), f8 float8, f4 real, tags text[],
  doc jsonb, raw bytea, at timestamptz, d date, iv interval, flag boolean, ch char(3), ip inet, big bigint);
CREATE TABLE ident (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text, twice int GENERATED ALWAYS AS (length(v) * 2) STORED);
CREATE TABLE nokey (a int, b text);
ALTER TABLE nokey REPLICA IDENTITY FULL;
CREATE TABLE "Odd ""Name""" ("Col A" text PRIMARY KEY, "select" int);
CREATE TABLE log (n int PRIMARY KEY, xid bigint DEFAULT txid_current());
CREATE SEQUENCE counter;
`;

beforeAll(async () => {
  pg = await startCluster();
});
afterAll(async () => {
  await pg?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A source database with the pgincr schema, the test schema, a publication and a slot. */
async function setupSource(db: string, slot: string): Promise<Lsn> {
  // The returned LSN stands for the base: the chain starts there (setup passes it as lastDurableLsn).
  await pg.createDatabase(db);
  const c = await pg.connect(db);
  try {
    await migrate(c);
    await c.query(SCHEMA);
    await c.query('CREATE PUBLICATION p FOR ALL TABLES');
    const { rows } = await c.query<{ lsn: string }>(`SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    return parseLsn(rows[0]!.lsn);
  } finally {
    await c.end();
  }
}

/** Mixed workload; `from` keeps log ids unique across calls. */
async function workload(db: string, from: number, txns = 30): Promise<void> {
  const c = await pg.connect(db);
  try {
    for (let i = from; i < from + txns; i++) {
      await c.query('BEGIN');
      await c.query(
        `INSERT INTO items (name, price, f8, f4, tags, doc, raw, at, d, iv, flag, ch, ip, big) VALUES
         ($1, 12.345, 0.1::float8 + 0.2::float8, 'NaN', ARRAY['a,b', NULL, 'q"uote', ''], '{"k": [1, "x\\ny"]}',
          '\\x00ff5c27', '2026-03-04 05:06:07.123456+02', 'infinity', '1 mon -2 days 03:00:00.5', true, 'ab', '10.1.2.3/8', 9223372036854775807)`,
        [`it\\em ${i} 'q' \n line2 é ☃`],
      );
      await c.query('INSERT INTO log (n) VALUES ($1)', [i]);
      await c.query(`INSERT INTO ident (v) VALUES ($1)`, [`v${i}`]);
      await c.query(`INSERT INTO nokey VALUES (1, 'dup'), (1, 'dup')`);
      await c.query(`SELECT nextval('counter')`);
      if (i % 3 === 0) await c.query(`UPDATE items SET price = price + 1, doc = NULL WHERE id % 3 = 0`);
      if (i % 4 === 0) await c.query(`DELETE FROM nokey WHERE ctid = (SELECT ctid FROM nokey LIMIT 1)`);
      if (i % 5 === 0) await c.query(`UPDATE ident SET v = v || '!' WHERE id % 2 = 0`);
      await c.query(`INSERT INTO "Odd ""Name""" VALUES ($1, $2) ON CONFLICT ("Col A") DO UPDATE SET "select" = EXCLUDED."select"`, [`k${i % 7}`, i]);
      await c.query('COMMIT');
      if (i % 10 === 7) {
        await c.query('BEGIN');
        await c.query('INSERT INTO log (n) VALUES (-1)');
        await c.query('ROLLBACK'); // never in the stream
      }
    }
    await c.query(`INSERT INTO log (n) SELECT g FROM generate_series(${from * 1000 + 100000}, ${from * 1000 + 100000 + 1499}) g`); // one big txn
    if (from === 0) {
      await c.query('TRUNCATE nokey');
      await c.query("ALTER TABLE items ADD COLUMN extra text DEFAULT 'x'"); // DDL in the stream
      await c.query(`INSERT INTO items (name, extra) VALUES ('after ddl', 'y')`);
    }
    await c.query('SELECT pgincr.record_sequence_positions()');
  } finally {
    await c.end();
  }
}

async function currentLsn(db: string): Promise<Lsn> {
  return parseLsn((await pg.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l', [], db))[0]!.l);
}

async function confirmedFlush(slot: string, db: string): Promise<Lsn> {
  const rows = await pg.query<{ c: string }>('SELECT confirmed_flush_lsn::text AS c FROM pg_replication_slots WHERE slot_name = $1', [slot], db);
  return parseLsn(rows[0]!.c);
}

function chainDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pgincr-chain-'));
  dirs.push(d);
  return d;
}

function captureInput(slot: string, overrides: Partial<CaptureInput> = {}): CaptureInput {
  return {
    slot,
    publication: 'p',
    segmentMaxBytes: 16 * 1024,
    segmentMaxAgeMs: 60_000,
    runForMs: 120_000,
    heartbeatEveryMs: 100,
    statusEveryMs: 1000,
    sequenceEveryMs: 0,
    idleMessageEveryMs: 0,
    compress: 'none',
    ddlInFunction: 'fail',
    ...overrides,
  };
}

interface RunHandle {
  done: Promise<CaptureResult>;
  abort(): void;
  heartbeats: HeartbeatDetails[];
}

function startRun(db: string, chain: string, input: CaptureInput): RunHandle {
  const controller = new AbortController();
  const heartbeats: HeartbeatDetails[] = [];
  const deps = createCaptureDeps({ profile: pg.profile(db), chainDir: chain, flushBytes: 4096 });
  const done = runCapture(deps, input, {
    heartbeat: (d) => heartbeats.push(d),
    signal: controller.signal,
    rotateRequested: () => false,
    now: () => Date.now(),
  });
  return { done, abort: () => controller.abort(), heartbeats };
}

const until = (what: string, cond: () => Promise<boolean>, ms = 60_000): Promise<void> => waitFor(what, cond, ms, 50);

/** Runs capture until the slot's confirmed flush reaches the WAL position now, then stops it. */
async function captureUntilCaughtUp(db: string, slot: string, chain: string, input: Partial<CaptureInput> = {}): Promise<CaptureResult> {
  const target = await currentLsn(db);
  const run = startRun(db, chain, captureInput(slot, input));
  let failed = false;
  run.done.catch(() => (failed = true));
  await until(`slot ${slot} to reach ${formatLsn(target)}`, async () => failed || (await confirmedFlush(slot, db)) >= target);
  run.abort();
  return run.done;
}

/** Every segment file of the chain (sealed in order, then the partial), as text. */
function segmentTexts(chain: string): string[] {
  const out: string[] = [];
  const segs = join(chain, 'segments');
  for (const date of listDir(segs).filter((d) => /^\d{4}-\d\d-\d\d$/.test(d))) {
    for (const name of listDir(join(segs, date))) {
      const bytes = readFileSync(join(segs, date, name));
      out.push((name.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('latin1'));
    }
  }
  for (const name of listDir(join(segs, 'partial'))) out.push(readFileSync(join(segs, 'partial', name), 'latin1'));
  return out;
}

/** Committed transactions in the files: xid and end LSN of each complete COMMIT line. */
function committedTxns(chain: string): { xid: number; endLsn: Lsn }[] {
  return segmentTexts(chain).flatMap((t) =>
    [...t.matchAll(/^COMMIT; -- xid (\d+) end_lsn (\S+) changes \d+$/gm)].map((m) => ({ xid: Number(m[1]), endLsn: parseLsn(m[2]!) })),
  );
}

const TABLES = ['items', 'ident', 'nokey', '"Odd ""Name"""', 'log'];

async function checksums(db: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const t of TABLES) {
    const rows = await pg.query(
      `SELECT count(*)::text AS n, coalesce(sum(('x' || substr(md5(x::text), 1, 16))::bit(64)::bigint::numeric), 0)::text AS s FROM ${t} x`,
      [],
      db,
    );
    out[t] = rows[0];
  }
  out.counter = (await pg.query(`SELECT last_value::text, is_called FROM counter`, [], db))[0];
  return out;
}

/** Replays the chain's segments, in order, into a fresh database with the same schema. */
async function replay(chain: string, target: string): Promise<void> {
  await pg.createDatabase(target);
  await pg.query(SCHEMA, [], target);
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-replay-'));
  dirs.push(dir);
  segmentTexts(chain).forEach((text, i) => {
    const file = join(dir, `${String(i).padStart(4, '0')}.sql`);
    writeFileSync(file, Buffer.from(text, 'latin1'));
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file], { env: { ...process.env, ...pg.env(target) }, stdio: 'pipe' });
  });
}

test('a mixed workload: verified, contiguous segments that replay to an identical copy; acks never pass the files', async () => {
  const base = await setupSource('src1', 's1');
  const chain = chainDir();
  const run = startRun('src1', chain, captureInput('s1', { lastDurableLsn: base, sealOnExit: true, sequenceEveryMs: 300 }));
  // While the workload streams, every acknowledged transaction must already be in the files.
  const samples: { confirmed: Lsn; xids: Set<number> }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const confirmed = await confirmedFlush('s1', 'src1');
      samples.push({ confirmed, xids: new Set(committedTxns(chain).map((t) => t.xid)) });
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await workload('src1', 0);
  const target = await currentLsn('src1');
  await until('capture to catch up', async () => (await confirmedFlush('s1', 'src1')) >= target);
  // A size rotation waits for the sequence positions it records to arrive: let it finish.
  await until('a rotation by size', async () => ((await loadCatalog(chain))?.segments.length ?? 0) >= 1);
  sampling = false;
  await sampler;
  run.abort();
  const result = await run.done;

  const catalog = await loadCatalog(chain);
  const segments = catalog?.segments ?? [];
  // At least one rotation by size (16 KiB) happened (waited for above); the seal on stop adds
  // one more only when transactions arrived after that rotation.
  expect(segments.length).toBeGreaterThanOrEqual(1);
  expect(segments.every((s) => s.bytes > 0)).toBe(true);
  expect(result.segmentsSealed).toBe(segments.length);
  for (let i = 0; i < segments.length; i++) {
    await verifySegmentFile(join(chain, segments[i]!.file));
    if (i > 0) expect(segments[i]!.startLsn).toBe(segments[i - 1]!.endLsn);
  }
  const txns = committedTxns(chain);
  expect(new Set(txns.map((t) => t.xid)).size).toBe(txns.length);
  expect(result.transactions).toBe(txns.length);
  // docs/design.md invariant 2: a transaction whose end LSN was acknowledged was in the files at that moment.
  const endOf = new Map(txns.map((t) => [t.xid, t.endLsn]));
  for (const s of samples) {
    for (const [xid, end] of endOf) if (end <= s.confirmed) expect(s.xids.has(xid) ? xid : `xid ${xid} acked before written`).toBe(xid);
  }
  expect(result.lastDurableLsn).toBe(formatLsn(await confirmedFlush('s1', 'src1')));
  const text = segmentTexts(chain).join('');
  expect(text).toContain('ALTER TABLE items ADD COLUMN extra');
  expect(text).toMatch(/SELECT pg_catalog\.setval\('public\.counter', 30, true\);/);

  await replay(chain, 'dst1');
  expect(await checksums('dst1')).toEqual(await checksums('src1'));
});

test('crash, torn partial and a rewound slot: no transaction lost or written twice', async () => {
  const base = await setupSource('src2', 's2');
  const chain = chainDir();
  // A copy of the slot made now still points before everything below: a rewind.
  await pg.query(`SELECT pg_copy_logical_replication_slot('s2', 's2_rewound')`, [], 'src2');
  const first = startRun('src2', chain, captureInput('s2', { lastDurableLsn: base }));
  const load = workload('src2', 0, 20);
  await until('some transactions durable', async () => committedTxns(chain).length >= 5);
  first.abort(); // mid-stream: the partial stays open, possibly with a transaction in progress
  await first.done;
  await load;
  const before = committedTxns(chain).length;
  // A crash in the middle of writing a transaction: a torn tail after the last COMMIT.
  const partialDir = join(chain, 'segments', 'partial');
  const partial = join(partialDir, readdirSync(partialDir)[0]!);
  appendFileSync(partial, '\nBEGIN; -- xid 4000000 commit_lsn FF/0 committed 2026-01-01 00:00:00.000000+00\nINSERT INTO log (n) VALUES (-42);\nINSERT INTO lo');

  await workload('src2', 100, 10);
  await captureUntilCaughtUp('src2', 's2_rewound', chain);
  expect(segmentTexts(chain).join('')).not.toContain('4000000');
  const afterRewind = committedTxns(chain);
  expect(afterRewind.length).toBeGreaterThan(before);
  expect(new Set(afterRewind.map((t) => t.xid)).size).toBe(afterRewind.length);

  await captureUntilCaughtUp('src2', 's2', chain, { sealOnExit: true });
  const all = committedTxns(chain);
  expect(new Set(all.map((t) => t.xid)).size).toBe(all.length);
  expect(all.map((t) => t.endLsn)).toEqual([...all.map((t) => t.endLsn)].sort((a, b) => (a < b ? -1 : 1)));
  await replay(chain, 'dst2');
  expect(await checksums('dst2')).toEqual(await checksums('src2'));
});

test('an idle database: the slot follows WAL written elsewhere (keepalive acknowledgement)', async () => {
  const base = await setupSource('idle', 's3');
  const chain = chainDir();
  const start = await confirmedFlush('s3', 'idle');
  await pg.query('CREATE TABLE busy AS SELECT g FROM generate_series(1, 20000) g', [], 'postgres');
  const target = await currentLsn('postgres');
  expect(target).toBeGreaterThan(start);
  const result = await captureUntilCaughtUp('idle', 's3', chain, { lastDurableLsn: base });
  expect(result.transactions).toBe(0);
  expect(await confirmedFlush('s3', 'idle')).toBeGreaterThanOrEqual(target);
  expect(parseLsn(result.lastDurableLsn)).toBeGreaterThanOrEqual(target);
});

test('idle messages: with nothing written anywhere, the slot still moves (pg_logical_emit_message)', async () => {
  const base = await setupSource('quiet', 's4');
  const chain = chainDir();
  const run = startRun('quiet', chain, captureInput('s4', { lastDurableLsn: base, idleMessageEveryMs: 200, sequenceEveryMs: 0 }));
  try {
    const start = await confirmedFlush('s4', 'quiet');
    // No client writes anything; only the capture's own non-transactional messages make WAL.
    await until('the quiet slot to move past its start', async () => (await confirmedFlush('s4', 'quiet')) > start, 10_000);
  } finally {
    run.abort();
  }
  const result = await run.done;
  expect(result.transactions).toBe(0);
});

test('a failed fsync stops the capture; nothing past the last good fsync is acknowledged', async () => {
  const base = await setupSource('src5', 's5');
  const chain = chainDir();
  const deps = createCaptureDeps({ profile: pg.profile('src5'), chainDir: chain, flushBytes: 4096 });
  // Fault injection at the file: the first group-commit fsync (the one running in the
  // background while the stream goes on) fails with EIO, the others succeed; a later success
  // must not acknowledge what the failed one should have made durable.
  let failed = false;
  let lastGood: Lsn = 0n;
  const openWriter = deps.openWriter.bind(deps);
  deps.openWriter = async (header, startLsn) => {
    const writer = await openWriter(header, startLsn);
    const sync = writer.sync.bind(writer);
    writer.sync = async () => {
      const covers = writer.stats().lastEndLsn; // everything committed so far is in this fsync
      if (!failed && /syncInBackground/.test(new Error().stack ?? '')) {
        failed = true;
        throw Object.assign(new Error('EIO: i/o error, fsync (injected)'), { code: 'EIO' });
      }
      const lsn = await sync();
      if (!failed) lastGood = covers;
      return lsn;
    };
    return writer;
  };
  let failure: unknown = null;
  const done = runCapture(deps, captureInput('s5', { lastDurableLsn: base }), {
    heartbeat: () => undefined,
    signal: new AbortController().signal,
    rotateRequested: () => false,
    now: () => Date.now(),
  }).catch((error: unknown) => void (failure = error));
  let n = 0;
  await until('the capture to fail on fsync', async () => {
    if (failure === null) await pg.query(`INSERT INTO log (n) VALUES ($1)`, [--n], 'src5');
    return failure !== null;
  });
  await done;
  expect(String(failure)).toMatch(/EIO/);
  expect(failed).toBe(true);
  // The first transaction the failed fsync should have made durable was never acknowledged.
  const firstUnsafe = committedTxns(chain)
    .map((t) => t.endLsn)
    .find((end) => end > lastGood);
  expect(firstUnsafe).toBeDefined();
  expect(await confirmedFlush('s5', 'src5')).toBeLessThan(firstUnsafe!);
});

describe('one capture per chain', () => {
  it('a second capture of the same slot fails fast with CaptureBusyError and never touches the open segment', async () => {
    const db = 'busy_db';
    const slot = 'busy_slot';
    const baseLsn = await setupSource(db, slot);
    const chain = chainDir();
    const first = startRun(db, chain, captureInput(slot, { lastDurableLsn: baseLsn }));
    await workload(db, 0, 5);
    await until(
      'the first capture to write its partial segment',
      async () =>
        listDir(join(chain, 'segments/partial')).length === 1 &&
        readFileSync(join(chain, 'segments/partial', listDir(join(chain, 'segments/partial'))[0]!)).length > 0,
    );
    const second = startRun(db, chain, captureInput(slot, { lastDurableLsn: baseLsn }));
    try {
      await expect(second.done).rejects.toMatchObject({
        name: 'CaptureBusyError',
        message: expect.stringContaining(`slot ${slot}: another capture holds this chain`),
      });
    } catch (err) {
      // A capture left running would fail later, inside whichever test file this worker runs next.
      first.abort();
      await first.done.catch(() => undefined);
      throw err;
    }
    // The first capture carries on, and everything reaches the files exactly once.
    await workload(db, 100, 5);
    const target = await currentLsn(db);
    await until('the first capture to confirm the workload', async () => (await confirmedFlush(slot, db)) >= target);
    first.abort();
    await first.done;
    const files = readdirSync(join(chain, 'segments'), { recursive: true, encoding: 'utf8' }).filter((f) => /\.sql(\.partial)?$/.test(f));
    const xids = files.flatMap((f) => [...readFileSync(join(chain, 'segments', f), 'latin1').matchAll(/^COMMIT; -- xid (\d+) /gm)].map((m) => m[1]));
    expect(xids.length).toBeGreaterThanOrEqual(10);
    expect(new Set(xids).size).toBe(xids.length);
    // After the first one stops, a new capture takes the chain.
    const third = startRun(db, chain, captureInput(slot, { lastDurableLsn: baseLsn, runForMs: 500 }));
    await expect(third.done).resolves.toBeDefined();
  });
});
