/**
 * The target catalog's facts that exact merging needs (core/restore/merge-changes.ts): per
 * table, its live non-generated columns with the type a literal is cast to, whether it is quiet
 * (nothing but the statement can act on a change under `session_replication_role = replica`),
 * its identity key when rows may be told apart by their key literals, and the key FULL identity
 * changes are merged by (its identity key, else its primary key, else another unique index). Read once per table and
 * again after every batch that held DDL (`clear`). The query runs on the applier's own session, so
 * `format_type` names types as the merged statements, run under the same search_path, resolve them.
 */
import type { Client } from 'pg';
import type { TableShape } from '../core/restore/merge-changes';

/**
 * Key column types whose values each print one way only (equal literal texts ⇔ equal values):
 * bool, int8, int2, int4, text, oid, varchar, date, timestamp, timestamptz, uuid. Not numeric
 * (`1.0` = `1.00`), floats (`-0` = `0`), bpchar (trailing blanks), citext or other types.
 */
const KEY_TYPES = [16, 20, 21, 23, 25, 26, 1043, 1082, 1114, 1184, 2950];

/**
 * Built-in types whose input function, given a typmod, applies it exactly as their assignment
 * length coercion does (so COPY, which passes the column's typmod to the input, stores what an
 * INSERT of an untyped literal stores: input with typmod -1, then the coercion; copy-text.ts):
 * bpchar, varchar, numeric, bit, varbit, time, timetz, timestamp, timestamptz, interval, and
 * their arrays (array input hands the typmod to each element's input).
 */
const COPY_TYPMOD_TYPES = [1042, 1043, 1700, 1560, 1562, 1083, 1266, 1114, 1184, 1186, 1014, 1015, 1231, 1561, 1563, 1183, 1270, 1115, 1185, 1187];

const SHAPES_SQL = `
SELECT n.nspname AS schema, c.relname AS table,
  c.relkind = 'r' AND NOT c.relrowsecurity
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.tgrelid = c.oid AND g.tgenabled IN ('A', 'R'))
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid AND r.ev_enabled IN ('A', 'R') AND r.ev_type <> '1')
    AS quiet,
  NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
               LEFT JOIN pg_catalog.pg_type bt ON bt.oid = ty.typbasetype
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                AND NOT (a.atttypid = ANY ($4::pg_catalog.oid[])
                  OR (a.atttypmod = -1 AND (ty.typtype <> 'd' OR ty.typbasetype = ANY ($4::pg_catalog.oid[])
                                            OR (ty.typtypmod = -1 AND bt.typtype <> 'd'))))) AS copy,
  EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity = 'a') AS identity_always,
  (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attname,
            pg_catalog.format_type(a.atttypid, CASE WHEN a.atttypid = 'pg_catalog.interval'::pg_catalog.regtype THEN a.atttypmod ELSE -1 END))
          ORDER BY a.attnum)
     FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS columns,
  (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attname,
            a.attnotnull AND a.atttypid = ANY ($3::pg_catalog.oid[]) AND (a.attcollation = 0 OR co.collisdeterministic))
          ORDER BY k.ord)
     FROM pg_catalog.pg_index i
     CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
    WHERE i.indrelid = c.oid AND k.ord <= i.indnkeyatts
      AND i.indisunique AND i.indimmediate AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
      AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))) AS key,
  (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attname, a.atttypid::pg_catalog.int8) ORDER BY k.ord)
     FROM (SELECT u.indexrelid, u.indkey, u.indnkeyatts FROM pg_catalog.pg_index u
            WHERE u.indrelid = c.oid AND u.indisunique AND u.indimmediate AND u.indisvalid AND u.indpred IS NULL AND u.indexprs IS NULL
              AND NOT EXISTS (
                SELECT 1 FROM pg_catalog.unnest(u.indkey::pg_catalog.int2[]) WITH ORDINALITY AS uk(attnum, ord)
                  JOIN pg_catalog.pg_attribute ua ON ua.attrelid = u.indrelid AND ua.attnum = uk.attnum
                  LEFT JOIN pg_catalog.pg_collation uc ON uc.oid = ua.attcollation
                 WHERE uk.ord <= u.indnkeyatts
                   AND NOT (ua.attnotnull AND ua.atttypid = ANY ($3::pg_catalog.oid[]) AND (ua.attcollation = 0 OR uc.collisdeterministic)))
            ORDER BY ((c.relreplident = 'd' AND u.indisprimary) OR (c.relreplident = 'i' AND u.indisreplident)) DESC, u.indisprimary DESC, u.indexrelid
            LIMIT 1) i
     CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
    WHERE k.ord <= i.indnkeyatts) AS full_key
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS w(s, t) ON n.nspname = w.s AND c.relname = w.t`;

interface ShapeRow {
  schema: string;
  table: string;
  quiet: boolean;
  copy: boolean;
  identity_always: boolean;
  columns: [string, string][] | null;
  key: [string, boolean][] | null;
  full_key: [string, number][] | null;
}

/** Table shapes by the table's name as written in statements (`public.items`), cached. */
export class TableShapes {
  private readonly cache = new Map<string, TableShape | null>();

  /** True when some of the tables are not cached. */
  missing(tables: ReadonlyMap<string, unknown>): boolean {
    for (const written of tables.keys()) if (!this.cache.has(written)) return true;
    return false;
  }

  /** Reads the shapes of the tables not cached yet (one query). */
  async load(client: Client, tables: ReadonlyMap<string, { schema: string; table: string }>): Promise<void> {
    const missing = [...tables].filter(([written]) => !this.cache.has(written));
    if (missing.length === 0) return;
    const r = await client.query<ShapeRow>(SHAPES_SQL, [missing.map(([, t]) => t.schema), missing.map(([, t]) => t.table), KEY_TYPES, COPY_TYPMOD_TYPES]);
    const found = new Map(r.rows.map((row) => [`${row.schema}\u0000${row.table}`, row]));
    for (const [written, t] of missing) {
      const row = found.get(`${t.schema}\u0000${t.table}`);
      this.cache.set(written, row ? shapeOf(row) : null);
    }
  }

  get(written: string): TableShape | undefined {
    return this.cache.get(written) ?? undefined;
  }

  /** Forgets every shape (after DDL). */
  clear(): void {
    this.cache.clear();
  }
}

function shapeOf(row: ShapeRow): TableShape {
  const columns = new Map(row.columns ?? []);
  const keyRows = row.key ?? [];
  const keyed = row.quiet && keyRows.length > 0 && keyRows.every(([name, fits]) => fits && columns.has(name));
  const key = keyed ? keyRows.map(([name]) => name) : null;
  // The identity key when keyed (it is then the best unique index the query picks first), else another.
  const fullRows = row.quiet ? (row.full_key ?? []) : [];
  const fullKey =
    fullRows.length > 0 && fullRows.every(([name]) => columns.has(name))
      ? { columns: fullRows.map(([name]) => name), typeOids: fullRows.map(([, oid]) => Number(oid)) }
      : null;
  return { columns, quiet: row.quiet, key, fullKey, copy: row.quiet && row.copy, identityAlways: row.identity_always };
}
