/**
 * What pgincr costs the source in WAL: bytes per pgbench transaction on three databases of one
 * server (wal_level=logical for all), side by side in the same run:
 * - not set up: `pgbench -i`, nothing else;
 * - set up: pgincr's setup steps (capture schema, replica identities, publication, slot), then
 *   `pgbench -i`: the tables get FULL when created and DEFAULT when their keys are added;
 * - set up, FULL kept: the same, then the pgbench tables set back to REPLICA IDENTITY FULL, as
 *   they stayed before the identity followed the schema (every UPDATE logs the whole old row).
 * A round: VACUUM and CHECKPOINT, then `pgbench -n -c C -j C -t T`; WAL bytes =
 * pg_current_wal_lsn() after minus before, divided by the transactions pgbench processed. A run is
 * one round of each database with full_page_writes on (each round pays its own full-page images
 * after its checkpoint, as a source does after every checkpoint) and one with it off (the WAL
 * records alone, where the replica identity makes its difference), in ABC, CBA, ABC … order
 * (drift cancels). No capture streams meanwhile: what the source writes does not depend on who
 * reads the slot.
 *
 *   npm run bench:source-wal
 *   options: --scale 5  --clients 2  --transactions 2000 (per client)  --runs 3
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config';
import { createLogger } from '../src/logger';
import { ensurePublication, fixReplicaIdentity, installCaptureSchema } from '../src/setup/setup';
import { startCluster, type PgCluster } from '../test/helpers/pg-cluster';
import { exitOnInterrupt, fmtInt, fmtRatio, loadNote, log, markdownTable, run, waitUntil } from './bench-util';
import { createSlot, currentLsn } from './capture-run';

const { values: args } = parseArgs({
  options: {
    scale: { type: 'string', default: '5' },
    clients: { type: 'string', default: '2' },
    transactions: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '3' },
  },
});

/** WAL as a production source writes it (full_page_writes is switched per round); no autovacuum noise. */
const SERVER = {
  full_page_writes: 'on',
  shared_buffers: '256MB',
  max_wal_size: '8GB',
  checkpoint_timeout: '30min',
  autovacuum: 'off',
};

type Kind = 'plain' | 'pgincr' | 'full';
const KINDS: readonly Kind[] = ['plain', 'pgincr', 'full'];
const LABEL: Record<Kind, string> = { plain: 'not set up', pgincr: 'set up', full: 'set up, FULL kept' };
const PGBENCH_TABLES = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers'];

async function prepare(pg: PgCluster, kind: Kind, repository: string): Promise<string> {
  const db = `wal_${kind}`;
  await pg.createDatabase(db);
  if (kind !== 'plain') {
    const config = parseConfig({ repository, profiles: { default: pg.profile(db) }, capture: { slot: `pgincr_${kind}` } }, {});
    const deps = { config, logger: createLogger({ level: 'warn', pretty: false }) };
    await installCaptureSchema(deps, { profile: 'default' });
    await fixReplicaIdentity(deps, { profile: 'default' });
    await ensurePublication(deps, { profile: 'default' });
    await createSlot(pg, db, `pgincr_${kind}`);
  }
  log(`${db}: pgbench -i -s ${args.scale}`);
  await run('pgbench', ['-i', '-q', '-s', args.scale], pg.env(db));
  if (kind === 'full') {
    for (const t of PGBENCH_TABLES) await pg.query(`ALTER TABLE ${t} REPLICA IDENTITY FULL`, [], db);
  }
  const idents = await pg.query<{ relname: string; relreplident: string }>(
    'SELECT relname, relreplident FROM pg_class WHERE relname = ANY($1) ORDER BY 1',
    [PGBENCH_TABLES],
    db,
  );
  log(`${db}: replica identities ${idents.map((r) => `${r.relname}=${r.relreplident}`).join(' ')}`);
  return db;
}

/** One round: WAL bytes per transaction of `pgbench -n -c C -j C -t T` after VACUUM and CHECKPOINT. */
async function round(pg: PgCluster, db: string): Promise<number> {
  await pg.query('VACUUM', [], db);
  await pg.query('CHECKPOINT', [], db);
  const before = await currentLsn(pg, db);
  const out = await run('pgbench', ['-n', '-c', args.clients, '-j', args.clients, '-t', args.transactions], pg.env(db));
  const after = await currentLsn(pg, db);
  const m = /number of transactions actually processed: (\d+)/.exec(out);
  if (!m) throw new Error(`no transaction count in pgbench output:\n${out}`);
  return Number(after - before) / Number(m[1]);
}

/** Switches full_page_writes (a reload; the CHECKPOINT of the next round makes it effective). */
async function setFullPageWrites(pg: PgCluster, on: boolean): Promise<void> {
  await pg.query(`ALTER SYSTEM SET full_page_writes = ${on ? 'on' : 'off'}`);
  await pg.query('SELECT pg_reload_conf()');
  const want = on ? 'on' : 'off';
  await waitUntil(
    `full_page_writes = ${want}`,
    async () => (await pg.query<{ v: string }>("SELECT current_setting('full_page_writes') AS v"))[0]?.v === want,
    10_000,
  );
}

async function main(): Promise<void> {
  exitOnInterrupt();
  const pg = await startCluster({ settings: SERVER });
  const repository = mkdtempSync(join(tmpdir(), 'pgincr-bench-wal-'));
  try {
    const dbs = {} as Record<Kind, string>;
    for (const kind of KINDS) dbs[kind] = await prepare(pg, kind, repository);
    const runs = Number(args.runs);
    const perTxn = { on: { plain: [], pgincr: [], full: [] }, off: { plain: [], pgincr: [], full: [] } } as Record<'on' | 'off', Record<Kind, number[]>>;
    let step = 0;
    for (let r = 0; r < runs; r++) {
      for (const fpw of ['on', 'off'] as const) {
        await setFullPageWrites(pg, fpw === 'on');
        const order = step++ % 2 === 0 ? KINDS : [...KINDS].reverse();
        for (const kind of order) {
          const bytes = await round(pg, dbs[kind]);
          perTxn[fpw][kind].push(bytes);
          log(`run ${r + 1}/${runs}, full_page_writes ${fpw}, ${LABEL[kind]}: ${fmtInt(bytes)} WAL bytes per transaction`);
        }
      }
    }
    await setFullPageWrites(pg, true);
    const rows = Array.from({ length: runs }, (_, r) =>
      (['on', 'off'] as const).map((fpw) => {
        const v = perTxn[fpw];
        return [String(r + 1), fpw, ...KINDS.map((k) => fmtInt(v[k][r]!)), fmtRatio(v.pgincr[r]! / v.plain[r]!), fmtRatio(v.full[r]! / v.plain[r]!)];
      }),
    ).flat();
    process.stdout.write(
      [
        `WAL bytes per pgbench transaction (scale ${args.scale}, ${args.clients} clients, ${args.transactions} transactions each per round, VACUUM and CHECKPOINT before each round)`,
        '',
        markdownTable(['run', 'full_page_writes', ...KINDS.map((k) => LABEL[k]), 'set up / not', 'FULL kept / not'], rows),
        '',
        loadNote(),
        '',
      ].join('\n'),
    );
  } finally {
    await pg.stop();
    rmSync(repository, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
