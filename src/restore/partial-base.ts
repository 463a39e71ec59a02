/**
 * A partial restore's base: after the whole base is loaded into the new database, everything but
 * the chosen tables is removed, in one transaction, before any segment is applied.
 *
 * Kept: the chosen tables (and their partitions), every relation of a chosen schema, the
 * sequences they own or whose `nextval` their defaults call, the sequences no table owns that a
 * function's body names (a kept default's function may call them), the views and materialized views
 * that read only kept relations (a view on a kept view too), and every non-relation object
 * (types, domains, functions, schemas, extensions: what their columns, defaults, constraints and
 * triggers may use; after the segments, restore/partial-objects.ts removes the types and
 * functions no restored relation needs). Removed: every other table, view, materialized view, foreign table and
 * sequence; a view that reads a kept relation and one left out is removed and reported. A chosen table's foreign key to a table left out is dropped and reported, as is a
 * chosen partition detached from a parent left out, and anything of a kept table that the drops
 * take with them (a default, a rule). Names reach SQL through the server's own `format('%I')`.
 * Idempotent: a retry finds less to remove.
 */
import type { Client } from 'pg';
import type { Profile } from '../config';
import { connectProfile } from '../adapters/pg/connect';
import type { QualifiedName, TableSelection } from '../core/restore/table-selection';
import { checksumKey, displayName } from '../core/restore/table-selection';

export interface PartialBaseReport {
  /** The kept tables (display form), partitions and tables of chosen schemas included. */
  tables: string[];
  /** The kept tables, unquoted. */
  keptTables: QualifiedName[];
  /** The kept tables as checksums.json names them (a partial verify compares these). */
  checksumKeys: string[];
  /** Sequences kept (their `setval` lines in the segments apply). */
  sequences: QualifiedName[];
  /** Views and materialized views kept (display form): they read only kept relations. */
  views: string[];
  /** `public.order_summary (reads public.customers)`: views of kept relations removed, since they also read one left out. */
  viewsLeftOut: string[];
  /** Relations removed. */
  removed: number;
  /** `public.order_items.order_items_product_id_fkey references public.products`: dropped, the referenced table was left out. */
  foreignKeys: string[];
  /** Other parts of kept tables that the removal took with it, and partitions detached. */
  alsoChanged: string[];
}

const SYSTEM_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgincr') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;

/** The kept relations' oids: chosen tables, their partitions (descendants), relations of chosen schemas, their sequences. */
const KEPT = `
WITH RECURSIVE chosen AS (
  SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE (c.relkind IN ('r', 'p', 'f') AND (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[])))
      OR (n.nspname = ANY ($3::text[]) AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S'))
  UNION
  SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN chosen ON i.inhparent = chosen.oid
), sequences AS (
  SELECT d.objid AS oid FROM pg_catalog.pg_depend d JOIN chosen ON d.refobjid = chosen.oid
   WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
  UNION
  SELECT d.refobjid FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid JOIN chosen ON ad.adrelid = chosen.oid
   WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
  UNION
  -- A sequence no table owns that a function may call (its body holds the name, or records the
  -- dependency): a default's or trigger's function may be kept (restore/partial-objects.ts).
  SELECT s.oid FROM pg_catalog.pg_class s JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
   WHERE s.relkind = 'S' AND sn.nspname NOT IN ('pg_catalog', 'information_schema', 'pgincr')
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend o WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objid = s.oid
                       AND o.refclassid = 'pg_catalog.pg_class'::regclass AND o.deptype IN ('a', 'i'))
     AND EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
                  WHERE pn.nspname NOT IN ('pg_catalog', 'information_schema', 'pgincr')
                    AND (pg_catalog.strpos(p.prosrc, s.relname) > 0
                         OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend f WHERE f.classid = 'pg_catalog.pg_proc'::regclass AND f.objid = p.oid
                                      AND f.refclassid = 'pg_catalog.pg_class'::regclass AND f.refobjid = s.oid)))
)
SELECT oid FROM chosen UNION SELECT oid FROM sequences`;

interface Rel {
  oid: number;
  nspname: string;
  relname: string;
  relkind: string;
}

async function keptOids(client: Client, selection: TableSelection): Promise<Set<number>> {
  const r = await client.query<{ oid: number }>(KEPT, [selection.tables.map((t) => t.schema), selection.tables.map((t) => t.name), selection.schemas]);
  return new Set(r.rows.map((x) => Number(x.oid)));
}

/** Each view's and materialized view's relations (its rewrite rule's dependencies), among `candidates`. */
async function viewReads(client: Client, views: readonly number[], candidates: ReadonlySet<number>): Promise<Map<number, number[]>> {
  const r = await client.query<{ view: number; ref: number }>(
    `SELECT DISTINCT w.ev_class AS view, d.refobjid AS ref FROM pg_catalog.pg_rewrite w
       JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = w.oid
      WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> w.ev_class AND w.ev_class = ANY ($1::oid[])`,
    [views],
  );
  const out = new Map<number, number[]>(views.map((v) => [v, []]));
  for (const row of r.rows) if (candidates.has(Number(row.ref))) out.get(Number(row.view))?.push(Number(row.ref));
  return out;
}

/**
 * The kept set with views settled: a view that reads only kept relations (at least one) is kept,
 * one that reads a relation left out is not (fixpoints, so views on views follow).
 */
function settleViews(kept: Set<number>, reads: ReadonlyMap<number, number[]>): void {
  for (let changed = true; changed;) {
    changed = false;
    for (const [view, refs] of reads) {
      if (!kept.has(view) && refs.length > 0 && refs.every((r) => kept.has(r))) {
        kept.add(view);
        changed = true;
      }
    }
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const [view, refs] of reads) if (kept.has(view) && !refs.every((r) => kept.has(r))) changed = kept.delete(view);
  }
}

/** Chosen tables the base does not have (the segments create them). */
async function missingTables(client: Client, selection: TableSelection): Promise<QualifiedName[]> {
  const r = await client.query<{ schema: string; name: string }>(
    `SELECT t.schema, t.name FROM unnest($1::text[], $2::text[]) AS t(schema, name)
      WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = t.schema AND c.relname = t.name AND c.relkind IN ('r', 'p', 'f'))`,
    [selection.tables.map((t) => t.schema), selection.tables.map((t) => t.name)],
  );
  return r.rows;
}

/** Removes everything but the chosen tables from the freshly loaded base (module comment). */
export async function keepOnlySelection(profile: Profile, selection: TableSelection): Promise<PartialBaseReport> {
  const client = await connectProfile(profile);
  try {
    // The plan checked every name against the base and the segments (restore/check-selection.ts): one the base lacks is created by them.
    const later = await missingTables(client, selection);
    await client.query('BEGIN');
    // Every name the server prints (regclass, pg_describe_object) schema-qualified.
    await client.query("SET LOCAL search_path = ''");
    const kept = await keptOids(client, selection);
    const keptList = [...kept];
    const rels = (
      await client.query<Rel>(
        `SELECT c.oid, n.nspname, c.relname, c.relkind::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND ${SYSTEM_SCHEMAS}
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
          ORDER BY n.nspname, c.relname`,
      )
    ).rows.map((r) => ({ ...r, oid: Number(r.oid) }));
    const views = rels.filter((r) => r.relkind === 'v' || r.relkind === 'm');
    const reads = await viewReads(
      client,
      views.map((v) => v.oid),
      new Set(rels.map((r) => r.oid)),
    );
    settleViews(kept, reads);
    const byOid = new Map(rels.map((r) => [r.oid, r]));
    const drop = rels.filter((r) => !kept.has(r.oid));
    const dropOids = drop.map((r) => r.oid);
    const keptTables = rels.filter((r) => kept.has(r.oid) && 'rpf'.includes(r.relkind)).map((r) => ({ schema: r.nspname, name: r.relname }));
    const report: PartialBaseReport = {
      tables: keptTables.map(displayName),
      keptTables,
      checksumKeys: keptTables.filter((t) => rels.some((r) => r.relkind === 'r' && r.nspname === t.schema && r.relname === t.name)).map(checksumKey),
      sequences: rels.filter((r) => kept.has(r.oid) && r.relkind === 'S').map((r) => ({ schema: r.nspname, name: r.relname })),
      views: views.filter((v) => kept.has(v.oid)).map((v) => displayName({ schema: v.nspname, name: v.relname })),
      viewsLeftOut: views
        .filter((v) => !kept.has(v.oid) && (reads.get(v.oid) ?? []).some((r) => kept.has(r)))
        .map((v) => {
          const out = (reads.get(v.oid) ?? []).filter((r) => !kept.has(r)).map((r) => byOid.get(r)!);
          return `${displayName({ schema: v.nspname, name: v.relname })} (reads ${out.map((o) => displayName({ schema: o.nspname, name: o.relname })).join(', ')})`;
        }),
      removed: drop.length,
      foreignKeys: [],
      alsoChanged: later.map((t) => `${displayName(t)} is not in the base: created by the segments`),
    };
    // Foreign keys of kept tables to tables left out: reported, then dropped by name.
    const fks = await client.query<{ describe: string; stmt: string }>(
      `SELECT format('%s.%I references %s', c.conrelid::regclass, c.conname, c.confrelid::regclass) AS describe,
              format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) AS stmt
         FROM pg_catalog.pg_constraint c
        WHERE c.contype = 'f' AND c.conrelid = ANY ($1::oid[]) AND NOT (c.confrelid = ANY ($1::oid[])) AND c.conparentid = 0
        ORDER BY 1`,
      [keptList],
    );
    for (const fk of fks.rows) {
      report.foreignKeys.push(fk.describe);
      await client.query(fk.stmt);
    }
    // A kept partition or inheritance child of a parent left out: detached, not dropped with it.
    const parents = await client.query<{ describe: string; stmt: string }>(
      `SELECT format('%s detached from %s (left out)', i.inhrelid::regclass, i.inhparent::regclass) AS describe,
              CASE WHEN c.relispartition THEN format('ALTER TABLE %s DETACH PARTITION %s', i.inhparent::regclass, i.inhrelid::regclass)
                   ELSE format('ALTER TABLE %s NO INHERIT %s', i.inhrelid::regclass, i.inhparent::regclass) END AS stmt
         FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
        WHERE i.inhrelid = ANY ($1::oid[]) AND NOT (i.inhparent = ANY ($1::oid[]))`,
      [keptList],
    );
    for (const p of parents.rows) {
      report.alsoChanged.push(p.describe);
      await client.query(p.stmt);
    }
    // What else of the kept relations depends on what goes (CASCADE would take it).
    const dependents = await client.query<{ what: string }>(
      `SELECT DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS what
         FROM pg_catalog.pg_depend d
        WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = ANY ($2::oid[]) AND d.deptype = 'n'
          AND ((d.classid = 'pg_catalog.pg_attrdef'::regclass AND (SELECT adrelid FROM pg_catalog.pg_attrdef WHERE oid = d.objid) = ANY ($1::oid[]))
            OR (d.classid = 'pg_catalog.pg_constraint'::regclass AND (SELECT conrelid FROM pg_catalog.pg_constraint WHERE oid = d.objid) = ANY ($1::oid[]))
            OR (d.classid = 'pg_catalog.pg_rewrite'::regclass AND (SELECT ev_class FROM pg_catalog.pg_rewrite WHERE oid = d.objid) = ANY ($1::oid[]))
            OR (d.classid = 'pg_catalog.pg_trigger'::regclass AND (SELECT tgrelid FROM pg_catalog.pg_trigger WHERE oid = d.objid) = ANY ($1::oid[]))
            OR (d.classid = 'pg_catalog.pg_policy'::regclass AND (SELECT polrelid FROM pg_catalog.pg_policy WHERE oid = d.objid) = ANY ($1::oid[])))
        ORDER BY 1`,
      [keptList, dropOids],
    );
    report.alsoChanged.push(...dependents.rows.map((d) => `${d.what} removed (it depends on a relation left out)`));
    const kinds: Record<string, string> = { v: 'VIEW', m: 'MATERIALIZED VIEW', r: 'TABLE', p: 'TABLE', f: 'FOREIGN TABLE', S: 'SEQUENCE' };
    for (const kind of ['v', 'm', 'r', 'p', 'f', 'S']) {
      for (const r of drop.filter((x) => x.relkind === kind)) {
        const stmt = await client.query<{ stmt: string }>(`SELECT format('DROP ${kinds[kind]} IF EXISTS %I.%I CASCADE', $1::text, $2::text) AS stmt`, [
          r.nspname,
          r.relname,
        ]);
        await client.query(stmt.rows[0]!.stmt);
      }
    }
    await client.query('COMMIT');
    return report;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}
