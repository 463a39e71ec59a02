/**
 * The whole pipeline through the real activities, called directly (no Temporal): setup + base,
 * capture until the slot confirms the workload, stop (sequences recorded, segment sealed),
 * restore into a new database; and the comparisons of a restore with its source (schema-only
 * dumps, table checksums, sequences). Several chains can share one cluster: each database gets
 * its own slot and repository.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { databaseChecksums } from '../../src/adapters/pg/checksums';
import { EventTriggerFilter } from './dump-text-filter';
import type { ApplyResult, BaseResult } from '../../src/activities/types';
import type { PgCluster } from './pg-cluster';
import { pgincrTestEnv, waitFor, type PgincrTestEnv } from './pgincr-env';

export interface DirectChain {
  db: string;
  slot: string;
  env: PgincrTestEnv;
  base: BaseResult;
  chainDir: string;
  lastDurableLsn?: string;
}

/** Creates `db` with `schemaSql`, installs pgincr and takes the base (the chain's start). */
export async function setUpChain(pg: PgCluster, db: string, schemaSql: string): Promise<DirectChain> {
  await pg.createDatabase(db);
  if (schemaSql.trim()) await pg.query(schemaSql, [], db);
  const slot = `pgincr_${db}`;
  const env = pgincrTestEnv(pg, db, { capture: { slot, publication: 'pgincr_pub' } });
  const a = env.activities;
  await a.installCaptureSchema({ profile: 'default' });
  await a.fixReplicaIdentity({ profile: 'default' });
  await a.ensurePublication({ profile: 'default' });
  const base = await a.takeBase({ profile: 'default', temporarySlot: false });
  await a.writeMetadata({ profile: 'default', baseId: base.baseId });
  const { chainDir } = await a.inspectSetup({ profile: 'default' });
  return { db, slot, env, base, chainDir };
}

async function confirmedAtLeast(pg: PgCluster, chain: DirectChain, lsn: string): Promise<boolean> {
  const rows = await pg.query<{ ok: boolean }>(
    'SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $2',
    [lsn, chain.slot],
    chain.db,
  );
  return rows[0]?.ok === true;
}

/**
 * Runs captureChanges until the slot has confirmed the WAL position of now (after the
 * workload), then the stopping run (sequence positions recorded) and seals the segment.
 */
export async function captureAndStop(pg: PgCluster, chain: DirectChain, timeoutMs = 60_000): Promise<void> {
  const a = chain.env.activities;
  const [{ lsn }] = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn', [], chain.db)) as [{ lsn: string }];
  const deadline = Date.now() + timeoutMs;
  do {
    const r = await a.captureChanges({ profile: 'default', runForMs: 700, ...(chain.lastDurableLsn ? { lastDurableLsn: chain.lastDurableLsn } : {}) });
    chain.lastDurableLsn = r.lastDurableLsn;
    if (Date.now() > deadline) throw new Error(`slot ${chain.slot} did not confirm ${lsn} within ${timeoutMs} ms`);
  } while (!(await confirmedAtLeast(pg, chain, lsn)));
  const last = await a.captureChanges({
    profile: 'default',
    runForMs: 500,
    stopping: true,
    ...(chain.lastDurableLsn ? { lastDurableLsn: chain.lastDurableLsn } : {}),
  });
  chain.lastDurableLsn = last.lastDurableLsn;
  await a.sealCurrentSegment({ profile: 'default' });
  await waitFor('no open partial segment', async () => readdirSafe(join(chain.chainDir, 'segments', 'partial')).length === 0, 10_000);
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The sealed segments' text (gunzipped), in LSN order. */
export function sealedSegmentText(chain: DirectChain): string {
  const root = join(chain.chainDir, 'segments');
  const days = readdirSafe(root)
    .filter((d) => /^\d{4}-\d\d-\d\d$/.test(d))
    .sort();
  const files = days.flatMap((d) => readdirSafe(join(root, d)).map((f) => ({ d, f }))).sort((x, y) => x.f.localeCompare(y.f));
  return files
    .map(({ d, f }) => {
      const raw = readFileSync(join(root, d, f));
      return (f.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    })
    .join('');
}

/** The restore runbook as the workflow runs it, step by step, into `targetDb`. */
export async function restoreChain(chain: DirectChain, targetDb: string): Promise<ApplyResult> {
  const a = chain.env.activities;
  const restoreId = `r_${targetDb}`;
  const target = { kind: 'latest' as const };
  const plan = await a.planRestore({ profile: 'default', target });
  await a.createTargetDatabase({
    profile: 'default',
    targetProfile: 'admin',
    targetDb,
    restoreId,
    encoding: plan.encoding,
    ...(plan.databaseOwner ? { owner: plan.databaseOwner } : {}),
    ...(plan.databaseGrants ? { grants: plan.databaseGrants } : {}),
  });
  await a.restoreBase({ targetProfile: 'admin', targetDb, restoreId, plan });
  const applied = await a.applySegments({ targetProfile: 'admin', targetDb, restoreId, plan, target });
  await a.fixSequences({ targetProfile: 'admin', targetDb });
  await a.finishRestore({ targetProfile: 'admin', targetDb, restoreId, dropDatabase: false });
  return applied;
}

/**
 * `pg_dump --schema-only` without pgincr's own objects (schema, event triggers, publication)
 * and without comment lines, blank lines (pg_dump's TOC comments carry nothing else) and the
 * per-run \restrict keys. Owners (`ALTER … OWNER TO`) and privileges (GRANT/REVOKE, ALTER
 * DEFAULT PRIVILEGES) are part of it, and so are the database's own owner and ACL (a last line).
 */
export function schemaDump(pg: PgCluster, db: string): string {
  const text = execFileSync('pg_dump', ['--schema-only', '--exclude-schema=pgincr', '--no-publications', '--no-subscriptions', db], {
    encoding: 'latin1',
    env: { ...process.env, ...pg.env(db) },
    maxBuffer: 64 * 1024 * 1024,
  });
  const filter = new EventTriggerFilter();
  const filtered = filter.push(text) + filter.end();
  const database = execFileSync(
    'psql',
    [
      '-X',
      '-A',
      '-t',
      '-c',
      "SELECT 'database owner ' || pg_get_userbyid(datdba) || ' acl ' || coalesce(datacl::text, 'default') FROM pg_database WHERE datname = current_database()",
    ],
    {
      encoding: 'latin1',
      env: { ...process.env, ...pg.env(db) },
    },
  ).trim();
  // \restrict / \unrestrict carry a random key per run (pg_dump 15.14+).
  return [...filtered.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('--') && !/^\\(un)?restrict /.test(l)), database].join('\n');
}

/** Table checksums and sequence states of a live database. */
export async function stateOf(pg: PgCluster, db: string): Promise<Awaited<ReturnType<typeof databaseChecksums>>> {
  return databaseChecksums(pg.profile(db));
}

/** Restores the chain into `targetDb` and asserts it equals the source: schema, data, sequences. */
export async function expectRestoreEqualsSource(pg: PgCluster, chain: DirectChain, targetDb: string): Promise<ApplyResult> {
  const applied = await restoreChain(chain, targetDb);
  expect(schemaDump(pg, targetDb)).toEqual(schemaDump(pg, chain.db));
  const [source, restored] = await Promise.all([stateOf(pg, chain.db), stateOf(pg, targetDb)]);
  expect(restored.tables).toEqual(source.tables);
  // The stopping capture run wrote every sequence's position into the stream: exact equality.
  expect(restored.sequences).toEqual(source.sequences);
  return applied;
}

/** Drops the chain's slot and both databases (keeps a shared cluster's slots free). */
export async function tearDownChain(pg: PgCluster, chain: DirectChain, restoredDb?: string): Promise<void> {
  await chain.env.activities.dropChainSlot({ profile: 'default' });
  for (const db of [chain.db, restoredDb]) if (db) await pg.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  chain.env.cleanup();
}
