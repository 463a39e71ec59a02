/**
 * A chain through the real activities (no Temporal) for either decoder, as `pgincr setup` makes
 * it: capture schema, replica identities, the publication (pgoutput) or the decoder_raw triggers
 * (decoder_raw), a base in the slot's snapshot. And a capture run until the slot has confirmed
 * the WAL position of now, then the stopping run (sequences recorded, segment sealed).
 */
import type { PgCluster } from '../../helpers/pg-cluster';
import { pgincrTestEnv, waitFor } from '../../helpers/pgincr-env';
import type { DirectChain } from '../../helpers/direct-pipeline';

export type Decoder = 'pgoutput' | 'decoder_raw';

export async function setUpDecoderChain(
  pg: PgCluster,
  db: string,
  schemaSql: string,
  decoder: Decoder,
  capture: Record<string, unknown> = {},
): Promise<DirectChain> {
  await pg.createDatabase(db);
  if (schemaSql.trim()) await pg.query(schemaSql, [], db);
  const slot = `pgincr_${db}`;
  const env = pgincrTestEnv(pg, db, { capture: { slot, decoder, publication: `pgincr_pub_${db}`, ...capture } });
  const a = env.activities;
  await a.installCaptureSchema({ profile: 'default' });
  await a.fixReplicaIdentity({ profile: 'default' });
  await a.ensurePublication({ profile: 'default' }); // decoder_raw: installs its triggers instead
  const base = await a.takeBase({ profile: 'default', temporarySlot: false });
  await a.writeMetadata({ profile: 'default', baseId: base.baseId });
  const { chainDir } = await a.inspectSetup({ profile: 'default' });
  const [slotRow] = await pg.query<{ plugin: string }>('SELECT plugin FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  expect(slotRow?.plugin).toBe(decoder);
  return { db, slot, env, base, chainDir };
}

/**
 * Captures until the slot confirms the WAL insert position of now, then stops (sequences
 * recorded, segment sealed). decoder_raw runs are a few seconds: pg_recvlogical confirms only
 * in its status updates.
 */
export async function captureUntilConfirmed(pg: PgCluster, chain: DirectChain, decoder: Decoder): Promise<void> {
  const a = chain.env.activities;
  const [{ lsn }] = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn', [], chain.db)) as [{ lsn: string }];
  const runForMs = decoder === 'decoder_raw' ? 3000 : 700;
  await waitFor(
    `slot ${chain.slot} to confirm ${lsn}`,
    async () => {
      const r = await a.captureChanges({ profile: 'default', runForMs, ...(chain.lastDurableLsn ? { lastDurableLsn: chain.lastDurableLsn } : {}) });
      chain.lastDurableLsn = r.lastDurableLsn;
      const rows = await pg.query<{ ok: boolean }>(
        'SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $2',
        [lsn, chain.slot],
        chain.db,
      );
      return rows[0]?.ok === true;
    },
    90_000,
    0,
  );
  const last = await a.captureChanges({
    profile: 'default',
    runForMs: 1000,
    stopping: true,
    ...(chain.lastDurableLsn ? { lastDurableLsn: chain.lastDurableLsn } : {}),
  });
  chain.lastDurableLsn = last.lastDurableLsn;
  await a.sealCurrentSegment({ profile: 'default' });
}

/** Runs statements one by one (each its own transaction, as psql does), in one session. */
export { runStatements } from '../../helpers/workload';
