/**
 * What a point-in-time restore guarantees with decoder_raw (docs/decoders.md, "Restore targets
 * with decoder_raw"), beside pgoutput on the same interleaving. decoder_raw writes no LSNs: a
 * transaction's position is its first write (raised to stay in commit order), its time is its
 * commit timestamp where the server keeps them (`track_commit_timestamp = on`), else its first
 * write. Transactions are in commit order and xids are exact either way.
 *
 * The interleaving: A writes (then stays open), B commits, target M, A commits, C commits.
 * Commit order B, A, C; A's first write is before M, its commit after.
 * - `--to-xid`: exact for both decoders.
 * - `--to-lsn M` (exclusive): pgoutput restores B; decoder_raw restores B and A (A had written before M).
 *   Before anything committed (target L0 between A's and B's first writes): nothing, for both.
 * - `--to-time M`: pgoutput restores B; decoder_raw the same with commit timestamps, B and A
 *   without (first-write times).
 */
import type { PgCluster } from '../../helpers/pg-cluster';
import { startCluster } from '../../helpers/pg-cluster';
import type { DirectChain } from '../../helpers/direct-pipeline';
import type { RestoreTarget } from '../../../src/core/restore/plan';
import { decoderRawInstalled, describeRaw, startRawCluster } from './raw-cluster';
import { captureUntilConfirmed, setUpDecoderChain, type Decoder } from './raw-chain';

jest.setTimeout(300_000);

interface Marks {
  xidA: number;
  xidB: number;
  /** After A's first write, before B's. */
  l0: string;
  /** After B's commit, before A's commit. */
  mid: { lsn: string; at: string };
}

const NOW = `SELECT pg_current_wal_insert_lsn()::text AS lsn, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`;
const XID = `(pg_current_xact_id()::text::bigint % 4294967296)::int AS xid`;

/** Runs the interleaving on table t (ids A = 1, B = 2, C = 3). */
async function interleave(pg: PgCluster, db: string): Promise<Marks> {
  const a = await pg.connect(db);
  const b = await pg.connect(db);
  try {
    await a.query('BEGIN');
    const xidA = (await a.query<{ xid: number }>(`INSERT INTO t VALUES (1, 'A') RETURNING ${XID}`)).rows[0]!.xid;
    const l0 = (await b.query<{ lsn: string }>(NOW)).rows[0]!.lsn;
    const xidB = (await b.query<{ xid: number }>(`INSERT INTO t VALUES (2, 'B') RETURNING ${XID}`)).rows[0]!.xid;
    const mid = (await b.query<{ lsn: string; at: string }>(NOW)).rows[0]!;
    await a.query('COMMIT');
    await b.query(`INSERT INTO t VALUES (3, 'C')`);
    return { xidA, xidB, l0, mid };
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
}

async function restoredIds(pg: PgCluster, chain: DirectChain, targetDb: string, target: RestoreTarget): Promise<number[]> {
  const a = chain.env.activities;
  const restoreId = `r_${targetDb}`;
  const plan = await a.planRestore({ profile: 'default', target });
  await a.createTargetDatabase({ profile: 'default', targetProfile: 'admin', targetDb, restoreId, encoding: plan.encoding });
  await a.restoreBase({ targetProfile: 'admin', targetDb, restoreId, plan });
  await a.applySegments({ targetProfile: 'admin', targetDb, restoreId, plan, target });
  await a.finishRestore({ targetProfile: 'admin', targetDb, restoreId, dropDatabase: false });
  const rows = await pg.query<{ id: number }>('SELECT id FROM t ORDER BY id', [], targetDb);
  return rows.map((r) => r.id);
}

/** The ids each target restores, for one decoder. */
async function outcomes(pg: PgCluster, decoder: Decoder, db: string): Promise<Record<string, number[]>> {
  const chain = await setUpDecoderChain(pg, db, 'CREATE TABLE t (id int PRIMARY KEY, v text)', decoder);
  try {
    const m = await interleave(pg, db);
    await captureUntilConfirmed(pg, chain, decoder);
    const targets: Record<string, RestoreTarget> = {
      'through xid B': { kind: 'xid', xid: m.xidB, inclusive: true },
      'before xid A': { kind: 'xid', xid: m.xidA, inclusive: false },
      'through xid A': { kind: 'xid', xid: m.xidA, inclusive: true },
      'lsn L0': { kind: 'lsn', lsn: m.l0, inclusive: true },
      // Exclusive: A's commit record may start exactly at M (nothing written between).
      'lsn M': { kind: 'lsn', lsn: m.mid.lsn, inclusive: false },
      'time M': { kind: 'time', time: m.mid.at, inclusive: true },
    };
    const out: Record<string, number[]> = {};
    let i = 0;
    for (const [name, target] of Object.entries(targets)) out[name] = await restoredIds(pg, chain, `${db}_r${i++}`, target);
    return out;
  } finally {
    chain.env.cleanup();
  }
}

const EXACT = { 'through xid B': [2], 'before xid A': [2], 'through xid A': [1, 2], 'lsn L0': [], 'lsn M': [2], 'time M': [2] };

describe('restore targets: pgoutput exact, decoder_raw within its documented bounds', () => {
  let pg: PgCluster;
  beforeAll(async () => {
    pg = decoderRawInstalled ? await startRawCluster() : await startCluster();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it('pgoutput: every target is exact', async () => {
    expect(await outcomes(pg, 'pgoutput', 'pos_pgoutput')).toEqual(EXACT);
  });

  describeRaw('decoder_raw', () => {
    it('without commit timestamps: xid exact; lsn and time include a transaction that had written by the target', async () => {
      const [row] = await pg.query<{ s: string }>(`SELECT current_setting('track_commit_timestamp') AS s`);
      expect(row?.s).toBe('off');
      expect(await outcomes(pg, 'decoder_raw', 'pos_raw')).toEqual({ ...EXACT, 'lsn M': [1, 2], 'time M': [1, 2] });
    });
  });
});

describeRaw('restore targets with decoder_raw and track_commit_timestamp = on', () => {
  let pg: PgCluster;
  beforeAll(async () => {
    pg = await startRawCluster({ settings: { track_commit_timestamp: 'on' } });
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it('time targets are exact (the commit timestamps); lsn as without them', async () => {
    expect(await outcomes(pg, 'decoder_raw', 'pos_raw_ts')).toEqual({ ...EXACT, 'lsn M': [1, 2] });
  });
});
