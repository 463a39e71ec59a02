/**
 * The restore bench's real-workload cases (not tests): changes made on a source database by
 * pgbench or by `psql -f` of a workload script, decoded from a pgoutput slot and rendered by the
 * capture's renderer (render.ts, relation facts and column types read from the catalog as the
 * capture does), written as segments, then replayed into fresh copies of the source's starting
 * state by pgincr's applier and by `psql -f`. Every target must end equal to the source.
 *
 * - pgbench after setup: `pgbench -i` tables whose identity stays FULL (what setup left on them
 *   before identities followed the schema, and what a table that stays FULL gets), then pgbench
 *   with 4 clients; the same decoded changes are also rendered as a DEFAULT-identity capture
 *   writes them (the old row by its primary key), the comparison the issue asks for.
 * - A FULL-identity table without a key (an index on `id` only) under a `psql -f` script of small
 *   transactions, restored into a target with the same index and into one with a primary key.
 * The source's own write rate for the same changes (pgbench's, or `psql -f` of the script) is the
 * physical reference.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { catalogFactsLookup, RelationCache } from '../src/capture/relation-cache';
import { parsePgoutput } from '../src/core/decoding/pgoutput';
import type { Tuple } from '../src/core/decoding/model';
import { formatLsn, parseLsn } from '../src/core/lsn';
import { renderDelete, renderInsert, renderUpdate, type RelationInfo } from '../src/core/sql/render';
import { applySegments, finishRestore } from '../src/restore/apply-segments';
import type { PgCluster } from '../test/helpers/pg-cluster';
import { Recorder } from '../test/helpers/restore-fixture';
import { tableSums } from '../test/helpers/workload';
import { fmtInt, fmtRatio, log, msSince, perSecond, run } from './bench-util';

const BASE_LSN = parseLsn('0/3000000');
const PINNED = "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 3; SET bytea_output = 'hex';";

/** How decoded changes are written: as captured (`full`), as older segments did (`text`), as under DEFAULT identity (`default`). */
type Form = 'full' | 'text' | 'default';

interface Decoded {
  changes: number;
  paths: Record<Form, string[]>;
}

/** Relation variants per form (plans are cached per object, so each is made once). */
class Forms {
  private readonly made = new WeakMap<RelationInfo, Record<Form, RelationInfo>>();
  constructor(private readonly keys: ReadonlyMap<string, readonly string[]>) {}

  of(rel: RelationInfo): Record<Form, RelationInfo> {
    let f = this.made.get(rel);
    if (!f) {
      const key = this.keys.get(`${rel.schema}.${rel.table}`);
      f = {
        full: rel,
        text: { ...rel, columns: rel.columns.map((c) => ({ ...c, typeOid: 0 })) },
        // A table without a primary key would stay FULL under DEFAULT rules too.
        default: key ? { ...rel, replicaIdentity: 'd', columns: rel.columns.map((c) => ({ ...c, isKey: key.includes(c.name) })) } : rel,
      };
      this.made.set(rel, f);
    }
    return f;
  }
}

function render(form: Form, rel: RelationInfo, kind: 'update' | 'delete', old: Tuple, newTuple?: Tuple): string {
  const o = { kind: form === 'default' && rel.replicaIdentity === 'd' ? ('key' as const) : ('old' as const), tuple: old };
  return (kind === 'update' ? renderUpdate(rel, newTuple as Tuple, o) : renderDelete(rel, o)).trimEnd();
}

/** Drains the slot into segments, one per form, 2000 source transactions per segment. */
async function decode(client: Client, dir: string, keys: ReadonlyMap<string, readonly string[]>): Promise<Decoded> {
  const cache = new RelationCache(catalogFactsLookup(client));
  const forms = new Forms(keys);
  const recorders = Object.fromEntries((['full', 'text', 'default'] as const).map((f) => [f, new Recorder(null as never, join(dir, f), BASE_LSN)])) as Record<
    Form,
    Recorder
  >;
  const txn: Record<Form, string[]> = { full: [], text: [], default: [] };
  let changes = 0;
  let txns = 0;
  for (;;) {
    const { rows } = await client.query<{ data: Buffer }>(
      "SELECT data FROM pg_logical_slot_get_binary_changes('bench', NULL, 200000, 'proto_version', '1', 'publication_names', 'bench')",
    );
    if (rows.length === 0) break;
    for (const { data } of rows) {
      const msg = parsePgoutput(data);
      if (msg.tag === 'relation') await cache.remember(msg);
      else if (msg.tag === 'insert') {
        const sql = renderInsert(cache.get(msg.relationId), msg.newTuple).trimEnd();
        for (const f of ['full', 'text', 'default'] as const) txn[f].push(sql);
        changes += 1;
      } else if (msg.tag === 'update' || msg.tag === 'delete') {
        const r = forms.of(cache.get(msg.relationId));
        const old = msg.oldTuple ?? msg.keyTuple ?? (msg.tag === 'update' ? msg.newTuple : undefined);
        for (const f of ['full', 'text', 'default'] as const)
          txn[f].push(render(f, r[f], msg.tag, old as Tuple, msg.tag === 'update' ? msg.newTuple : undefined));
        changes += 1;
      } else if (msg.tag === 'commit' && txn.full.length > 0) {
        for (const f of ['full', 'text', 'default'] as const) {
          recorders[f].record(txn[f]);
          txn[f] = [];
          if ((txns + 1) % 2000 === 0) recorders[f].cut(false);
        }
        txns += 1;
      }
    }
  }
  for (const f of ['full', 'text', 'default'] as const) if (txns % 2000 !== 0) recorders[f].cut(false);
  return {
    changes,
    paths: Object.fromEntries((['full', 'text', 'default'] as const).map((f) => [f, recorders[f].segments.map((s) => s.path)])) as Record<Form, string[]>,
  };
}

/** Primary-key columns by `schema.table` (the DEFAULT form's key). */
async function primaryKeys(client: Client): Promise<Map<string, string[]>> {
  const { rows } = await client.query<{ t: string; cols: string[] }>(`
    SELECT n.nspname || '.' || c.relname AS t, array_agg(a.attname ORDER BY k.ord) AS cols
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
     WHERE i.indisprimary GROUP BY 1`);
  return new Map(rows.map((r) => [r.t, r.cols]));
}

async function applier(pg: PgCluster, db: string, paths: string[]): Promise<number> {
  const t = process.hrtime.bigint();
  await applySegments({ profile: pg.profile(db), restoreId: db, segments: paths, stopAt: { kind: 'latest' }, startLsn: formatLsn(BASE_LSN) });
  const ms = msSince(t);
  await finishRestore(pg.profile(db), db);
  return ms;
}

function psqlFiles(pg: PgCluster, db: string, paths: string[]): number {
  const t = process.hrtime.bigint();
  for (const p of paths)
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', p], { env: { ...process.env, ...pg.env(db) }, stdio: ['ignore', 'ignore', 'inherit'] });
  return msSince(t);
}

async function sameAs(pg: PgCluster, expected: Record<string, unknown>, db: string): Promise<void> {
  const got = await tableSums(pg, db);
  if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`${db} differs from the source: ${JSON.stringify(got)} vs ${JSON.stringify(expected)}`);
}

export interface CaseResult {
  /** [replay, rows/s, time, ratio] rows for the README table. */
  rows: string[][];
  /** The ratios the targets are about. */
  ratios: Record<string, number>;
}

async function startSlot(pg: PgCluster, db: string): Promise<void> {
  await pg.query('CREATE PUBLICATION bench FOR ALL TABLES', [], db);
  await pg.query("SELECT pg_create_logical_replication_slot('bench', 'pgoutput')", [], db);
}

/** pgbench -i -s `scale` with FULL identity kept, pgbench -c 4 for `seconds`, restored three ways. */
export async function pgbenchCase(pg: PgCluster, scale: number, seconds: number): Promise<CaseResult> {
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-bench-pgbench-'));
  try {
    log(`pgbench -i -s ${scale}`);
    await pg.createDatabase('pgb_init');
    await run('pgbench', ['-i', '-q', '-s', String(scale)], pg.env('pgb_init'));
    const targets = ['pgb_default', 'pgb_full', 'pgb_full_2', 'pgb_default_2', 'pgb_psql'];
    for (const db of ['pgb_src', ...targets]) await pg.createDatabase(db, { template: 'pgb_init' });
    // The source's identity stays FULL; the FULL targets get it too, as the base backup would carry it.
    const full = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history'].map((t) => `ALTER TABLE ${t} REPLICA IDENTITY FULL;`).join(' ');
    for (const db of ['pgb_src', 'pgb_full', 'pgb_full_2', 'pgb_psql']) await pg.query(full, [], db);
    await startSlot(pg, 'pgb_src');
    log(`pgbench -c 4 -T ${seconds} (identity FULL)`);
    const t = process.hrtime.bigint();
    await run('pgbench', ['-c', '4', '-j', '2', '-T', String(seconds)], pg.env('pgb_src'));
    const sourceMs = msSince(t);
    const client = await pg.connect('pgb_src');
    let decoded: Decoded;
    try {
      await client.query(PINNED);
      decoded = await decode(client, dir, await primaryKeys(client));
    } finally {
      await client.end();
    }
    await pg.query("SELECT pg_drop_replication_slot('bench')", [], 'pgb_src');
    const expected = await tableSums(pg, 'pgb_src');
    log(`pgbench: ${fmtInt(decoded.changes)} row changes; applying`);
    // DEFAULT, FULL, FULL, DEFAULT: the faster of each pair (a shared machine's noise only slows).
    const d1 = await applier(pg, 'pgb_default', decoded.paths.default);
    const f1 = await applier(pg, 'pgb_full', decoded.paths.full);
    const f2 = await applier(pg, 'pgb_full_2', decoded.paths.full);
    const d2 = await applier(pg, 'pgb_default_2', decoded.paths.default);
    log(`pgbench applier: DEFAULT ${d1.toFixed(0)}, ${d2.toFixed(0)} ms; FULL ${f1.toFixed(0)}, ${f2.toFixed(0)} ms`);
    const [defaultMs, fullMs] = [Math.min(d1, d2), Math.min(f1, f2)];
    const psqlMs = psqlFiles(pg, 'pgb_psql', decoded.paths.full);
    for (const db of targets) await sameAs(pg, expected, db);
    const rate = (ms: number) => perSecond(decoded.changes, ms);
    const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    return {
      rows: [
        [
          `source: pgbench -c 4 wrote ${fmtInt(decoded.changes)} row changes (scale ${scale}, identity FULL)`,
          fmtInt(rate(sourceMs)),
          secs(sourceMs),
          'reference',
        ],
        [
          'applier, the same changes as a DEFAULT-identity capture writes them (faster of 2)',
          fmtInt(rate(defaultMs)),
          secs(defaultMs),
          fmtRatio(sourceMs / defaultMs),
        ],
        [
          "applier, FULL-identity segments, merged by the target's primary keys (faster of 2)",
          fmtInt(rate(fullMs)),
          secs(fullMs),
          `${fmtRatio(sourceMs / fullMs)}; ${fmtRatio(defaultMs / fullMs)} of DEFAULT`,
        ],
        [
          '`psql -f`, FULL-identity segments (typed equality, index scans)',
          fmtInt(rate(psqlMs)),
          secs(psqlMs),
          `${fmtRatio(sourceMs / psqlMs)}; applier ${fmtRatio(psqlMs / fullMs)}`,
        ],
      ],
      ratios: { pgbenchFullVsDefault: defaultMs / fullMs, pgbenchFullVsSource: sourceMs / fullMs },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A workload script: `txns` transactions, each updating 5 rows by id, deleting one and inserting one. */
function fullWorkload(rows: number, txns: number): string {
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed % n) + 1;
  };
  const out: string[] = [];
  for (let k = 0; k < txns; k++) {
    const ups = Array.from({ length: 5 }, () => `UPDATE public.fr SET v = v + 1, at = now() WHERE id = ${rnd(rows)};`);
    out.push(
      `BEGIN; ${ups.join(' ')} DELETE FROM public.fr WHERE id = ${rnd(rows)}; INSERT INTO public.fr VALUES (${rows + k + 1}, 0, 'new ${k}', now(), 1.50); COMMIT;`,
    );
  }
  return `${out.join('\n')}\n`;
}

const FR_SCHEMA = `CREATE TABLE public.fr (id int NOT NULL, v int, note text, at timestamptz, price numeric);
  ALTER TABLE public.fr REPLICA IDENTITY FULL;`;

/** A FULL-identity table without a key on the source, restored into a target without and with a key. */
export async function fullTableCase(pg: PgCluster, rows: number, txns: number): Promise<CaseResult> {
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-bench-full-'));
  try {
    await pg.createDatabase('fr_init');
    await pg.query(
      `${FR_SCHEMA} INSERT INTO public.fr SELECT i, 0, 'row ' || i, '2026-01-01', i / 100.0 FROM generate_series(1, ${rows}) i;
      CREATE INDEX fr_id ON public.fr (id); ANALYZE public.fr;`,
      [],
      'fr_init',
    );
    for (const db of ['fr_src', 'fr_nokey', 'fr_nokey_psql', 'fr_key', 'fr_key_psql', 'fr_key_text']) await pg.createDatabase(db, { template: 'fr_init' });
    for (const db of ['fr_key', 'fr_key_psql', 'fr_key_text']) await pg.query('ALTER TABLE public.fr ADD PRIMARY KEY (id)', [], db);
    await startSlot(pg, 'fr_src');
    const script = join(dir, 'workload.sql');
    writeFileSync(script, fullWorkload(rows, txns));
    log(`FULL table: psql -f of ${fmtInt(txns)} transactions on the source`);
    const sourceMs = psqlFiles(pg, 'fr_src', [script]);
    const client = await pg.connect('fr_src');
    let decoded: Decoded;
    try {
      await client.query(PINNED);
      decoded = await decode(client, join(dir, 'segments'), new Map());
    } finally {
      await client.end();
    }
    await pg.query("SELECT pg_drop_replication_slot('bench')", [], 'fr_src');
    const expected = await tableSums(pg, 'fr_src');
    const nokeyMs = await applier(pg, 'fr_nokey', decoded.paths.full);
    const nokeyPsqlMs = psqlFiles(pg, 'fr_nokey_psql', decoded.paths.full);
    const keyMs = await applier(pg, 'fr_key', decoded.paths.full);
    const keyPsqlMs = psqlFiles(pg, 'fr_key_psql', decoded.paths.full);
    const keyTextMs = await applier(pg, 'fr_key_text', decoded.paths.text);
    for (const db of ['fr_nokey', 'fr_nokey_psql', 'fr_key', 'fr_key_psql', 'fr_key_text']) await sameAs(pg, expected, db);
    const rate = (ms: number) => fmtInt(perSecond(decoded.changes, ms));
    const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const vs = (ms: number) => fmtRatio(sourceMs / ms);
    return {
      rows: [
        [
          `source: \`psql -f\` of the workload, ${fmtInt(decoded.changes)} row changes in ${fmtInt(txns)} transactions on a ${fmtInt(rows)}-row FULL table (index on id)`,
          rate(sourceMs),
          secs(sourceMs),
          'reference',
        ],
        ['applier, target without a key (index on id)', rate(nokeyMs), secs(nokeyMs), vs(nokeyMs)],
        [
          '`psql -f` of the segments, target without a key',
          rate(nokeyPsqlMs),
          secs(nokeyPsqlMs),
          `${vs(nokeyPsqlMs)}; applier ${fmtRatio(nokeyPsqlMs / nokeyMs)}`,
        ],
        ['applier, target with a primary key (merged by it)', rate(keyMs), secs(keyMs), vs(keyMs)],
        ['`psql -f` of the segments, target with a primary key', rate(keyPsqlMs), secs(keyPsqlMs), `${vs(keyPsqlMs)}; applier ${fmtRatio(keyPsqlMs / keyMs)}`],
        ['applier, the same changes in the older text-only form, target with a primary key', rate(keyTextMs), secs(keyTextMs), vs(keyTextMs)],
      ],
      ratios: { fullNoKeyVsSource: sourceMs / nokeyMs, fullKeyVsSource: sourceMs / keyMs },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
