/**
 * A partial restore's last structural step, after the segments applied: the types and functions
 * no restored relation needs are removed (core/restore/needed-objects.ts decides from pg_depend
 * and the kept functions' bodies). One transaction. As a guard, the columns, defaults,
 * constraints, triggers, indexes, rules and policies of the restored relations are counted
 * before and after: if a removal would take any of them, nothing is removed and the report says
 * why. Idempotent: a retry finds nothing more to remove. Names reach SQL through the server's
 * own `regprocedure`/`regtype` output with an empty search_path (always schema-qualified).
 */
import type { Profile } from '../config';
import { connectProfile } from '../adapters/pg/connect';
import { neededObjects, type Candidate, type DependEdge } from '../core/restore/needed-objects';

export interface PartialObjectsReport {
  /** `function public.f(integer)`, `type public.mood`: removed, no restored relation uses them. */
  removed: string[];
  /** Kept because a kept function's body names them (a body is text: they may be called). */
  keptByName: string[];
  /** Set when nothing was removed because a removal would have taken a part of a restored relation. */
  notRemoved?: string;
}

const USER_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgincr') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;
const NOT_EXTENSION = (classid: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = '${classid}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;

const CANDIDATES = `
SELECT 'pg_catalog.pg_proc'::regclass::oid::text || ':' || p.oid AS key, p.proname AS name,
       CASE WHEN p.prosqlbody IS NULL AND l.lanname NOT IN ('c', 'internal') THEN p.prosrc END AS body,
       pg_catalog.pg_describe_object('pg_catalog.pg_proc'::regclass, p.oid, 0) AS describe,
       pg_catalog.format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure) AS drop, 0 AS ord
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE ${USER_SCHEMA} AND ${NOT_EXTENSION('pg_catalog.pg_proc', 'p.oid')}
UNION ALL
SELECT 'pg_catalog.pg_type'::regclass::oid::text || ':' || t.oid, t.typname, NULL,
       pg_catalog.pg_describe_object('pg_catalog.pg_type'::regclass, t.oid, 0),
       pg_catalog.format(CASE t.typtype WHEN 'd' THEN 'DROP DOMAIN IF EXISTS %s CASCADE' ELSE 'DROP TYPE IF EXISTS %s CASCADE' END, t.oid::regtype), 1
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE t.typtype IN ('d', 'e', 'r', 'c') AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
   AND ${USER_SCHEMA} AND ${NOT_EXTENSION('pg_catalog.pg_type', 't.oid')}
 ORDER BY ord, describe`;

const EDGES = `
SELECT classid::oid::text || ':' || objid AS "from", refclassid::oid::text || ':' || refobjid AS "to", deptype::text AS type
  FROM pg_catalog.pg_depend WHERE deptype IN ('n', 'a', 'i')`;

/** What a removal must never take: the parts of the restored relations, counted. */
const RELATION_PARTS = `
SELECT (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE ${USER_SCHEMA} AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'i', 'I'))
    || '/' || (SELECT count(*) FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE ${USER_SCHEMA} AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped)
    || '/' || (SELECT count(*) FROM pg_catalog.pg_attrdef)
    || '/' || (SELECT count(*) FROM pg_catalog.pg_constraint WHERE conrelid <> 0)
    || '/' || (SELECT count(*) FROM pg_catalog.pg_trigger)
    || '/' || (SELECT count(*) FROM pg_catalog.pg_rewrite)
    || '/' || (SELECT count(*) FROM pg_catalog.pg_policy) AS parts`;

type Row = Candidate & { drop: string };

export async function removeUnneededObjects(profile: Profile): Promise<PartialObjectsReport> {
  const client = await connectProfile(profile);
  try {
    await client.query('BEGIN');
    await client.query("SET LOCAL search_path = ''");
    const candidates = (await client.query<Row>(CANDIDATES)).rows;
    const edges = (await client.query<DependEdge>(EDGES)).rows;
    const needed = neededObjects(candidates, edges);
    const report: PartialObjectsReport = { removed: needed.removed.map((c) => c.describe), keptByName: needed.keptByName.map((c) => c.describe) };
    if (needed.removed.length === 0) {
      await client.query('COMMIT');
      return report;
    }
    const before = (await client.query<{ parts: string }>(RELATION_PARTS)).rows[0]!.parts;
    for (const c of needed.removed as Row[]) await client.query(c.drop);
    const after = (await client.query<{ parts: string }>(RELATION_PARTS)).rows[0]!.parts;
    if (after !== before) {
      await client.query('ROLLBACK');
      return {
        removed: [],
        keptByName: report.keptByName,
        notRemoved: `removing ${needed.removed.length} unused type(s) and function(s) would also remove a part of a restored relation (columns/defaults/constraints/triggers/rules/policies ${before} before, ${after} after): all kept`,
      };
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
