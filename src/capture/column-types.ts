/**
 * The typed equality a REPLICA IDENTITY FULL match uses for column types that are not built in
 * (core/sql/full-match.ts): read from the catalog once per Relation message, by the type OIDs the
 * message carries (the types the decoded rows have, even if a column's type changed since).
 *
 * - A domain is compared as its base type (a cast to the domain would re-check its constraints).
 * - An enum: exact (labels are unique, `=` is "same label").
 * - A range or multirange: typed with a text recheck (their subtype has a btree class).
 * - An array: typed with a recheck when its element (not a domain) is.
 * - Another base type (an extension's, e.g. citext): typed with a recheck when it has a default
 *   btree or hash operator class of its own.
 * - A composite, a pseudo-type or a type that is gone: compared by text (null).
 * Names are `schema.name` (quote_ident each), as bytes of the database encoding.
 */
import type { Client } from 'pg';
import { BUILTIN_MATCH_TYPES, FIRST_NORMAL_OID, type MatchType } from '../core/sql/full-match';

const TYPES_SQL = `
SELECT t.oid::pg_catalog.int8 AS oid, t.typtype::text AS typtype, t.typbasetype::pg_catalog.int8 AS base, t.typelem::pg_catalog.int8 AS elem,
       t.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc AS is_array,
       encode(convert_to(pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname), pg_catalog.getdatabaseencoding()), 'hex') AS name_hex,
       EXISTS (SELECT 1 FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_am am ON am.oid = o.opcmethod
                WHERE o.opcdefault AND am.amname IN ('btree', 'hash') AND o.opcintype = t.oid) AS has_eq
  FROM pg_catalog.pg_type t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE t.oid = ANY ($1::pg_catalog.oid[])`;

interface TypeRow {
  oid: string;
  typtype: string;
  base: string;
  elem: string;
  is_array: boolean;
  name_hex: string;
  has_eq: boolean;
}

const needsLookup = (oid: number) => oid >= FIRST_NORMAL_OID && !BUILTIN_MATCH_TYPES.has(oid);

/** The match types of the non-built-in OIDs among `typeOids` (a few queries: domains and arrays follow their base or element). */
export async function lookupMatchTypes(client: Client, typeOids: readonly number[]): Promise<Map<number, MatchType | null>> {
  const rows = new Map<number, TypeRow>();
  let wanted = [...new Set(typeOids.filter(needsLookup))];
  const asked = new Set<number>();
  for (let depth = 0; wanted.length > 0 && depth < 8; depth++) {
    wanted.forEach((o) => asked.add(o));
    const r = await client.query<TypeRow>(TYPES_SQL, [wanted]);
    for (const row of r.rows) rows.set(Number(row.oid), row);
    wanted = r.rows.flatMap((row) => [Number(row.base), Number(row.elem)]).filter((o) => o !== 0 && needsLookup(o) && !asked.has(o));
  }
  const out = new Map<number, MatchType | null>();
  for (const oid of new Set(typeOids.filter(needsLookup))) out.set(oid, resolve(oid, rows, 0));
  return out;
}

function resolve(oid: number, rows: ReadonlyMap<number, TypeRow>, depth: number): MatchType | null {
  const builtin = BUILTIN_MATCH_TYPES.get(oid);
  if (builtin) return builtin;
  const row = rows.get(oid);
  if (!row || depth > 8) return null;
  const name = Buffer.from(row.name_hex, 'hex').toString('latin1');
  switch (row.typtype) {
    case 'd':
      return resolve(Number(row.base), rows, depth + 1);
    case 'e':
      return { cast: name, exact: true };
    case 'r':
    case 'm':
      return { cast: name, exact: false };
    case 'b': {
      if (!row.is_array || Number(row.elem) === 0) return row.has_eq ? { cast: name, exact: false } : null;
      const elem = rows.get(Number(row.elem));
      if (elem?.typtype === 'd' || (!elem && !BUILTIN_MATCH_TYPES.has(Number(row.elem)))) return null;
      return resolve(Number(row.elem), rows, depth + 1) ? { cast: name, exact: false } : null;
    }
    default:
      return null;
  }
}
