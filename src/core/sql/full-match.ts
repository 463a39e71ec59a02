/**
 * How an UPDATE/DELETE under REPLICA IDENTITY FULL names its row (render.ts): one condition per
 * old column, chosen by the column's type so that an index of the target can answer it.
 *
 * - NULL: `col IS NULL`.
 * - A type whose default btree or hash equality is exactly "same output text" (integers, oid,
 *   bool, bytea, "char", date, time, timestamp, timestamptz, uuid, enums): `col = '…'::type`.
 * - Another type with a default btree or hash equality: `col = '…'::type AND format('%s', col) =
 *   '…'`. The typed equality is what an index answers; the text comparison is a recheck where `=`
 *   is looser than identity (numeric `1.0` = `1.00`, float `-0` = `0`, text under a
 *   nondeterministic collation, citext, interval `1 day` = `24:00:00`, bpchar's trailing blanks,
 *   jsonb numbers, arrays, ranges of those…).
 * - A type without one (json, xml, point, polygon, reg* names, money, composites, arrays of those,
 *   types the catalog no longer knows): `format('%s', col) = '…'` alone, as every column was
 *   compared before.
 *
 * The rows a condition matches are exactly those whose value prints as the literal: the typed
 * part is implied by the recheck, because a value's type reads its own output back as an equal
 * value (`input(output(v)) = v` under the type's `=`), and for the exact types the typed part
 * alone means the same text. So the typed form chooses among the same rows as the text form; the
 * one-row `ctid = (SELECT … LIMIT 1)` wrapper (render.ts) still picks one of identical duplicates.
 *
 * Cast names: built-in types by a fixed table (OIDs below 10000 are fixed across versions), others
 * from the catalog (`src/capture/column-types.ts`) as `schema.name`, a domain as its base type (a
 * cast to the domain would re-check constraints added since the row was written). Names resolve
 * under the segment's `search_path = ''` (pg_catalog is always searched). `bpchar`, `"bit"`,
 * `varchar` without a length: a typmod would pad, truncate or refuse the literal.
 */
import type { TupleValue } from '../decoding/model';
import { quoteLiteral } from './quote';

/** The cast of a typed equality and whether `=` on the type means "same output text". */
export interface MatchType {
  /** The type name in SQL, resolvable under `search_path = ''` (`integer`, `public.mood`). */
  cast: string;
  /** Equal values print alike: no text recheck needed. */
  exact: boolean;
}

/** OIDs from here on belong to objects created after initdb (PostgreSQL's FirstNormalObjectId). */
export const FIRST_NORMAL_OID = 16384;

const exact = (cast: string): MatchType => ({ cast, exact: true });
const loose = (cast: string): MatchType => ({ cast, exact: false });

/** Built-in types compared with a typed equality (others built in are compared by text). */
export const BUILTIN_MATCH_TYPES: ReadonlyMap<number, MatchType> = new Map<number, MatchType>([
  [16, exact('boolean')],
  [17, exact('bytea')],
  [18, exact('"char"')],
  [20, exact('bigint')],
  [21, exact('smallint')],
  [23, exact('integer')],
  [26, exact('oid')],
  [1082, exact('date')],
  [1083, exact('time')],
  [1114, exact('timestamp')],
  [1184, exact('timestamptz')],
  [2950, exact('uuid')],
  [19, loose('name')],
  [25, loose('text')],
  [650, loose('cidr')],
  [700, loose('real')],
  [701, loose('double precision')],
  [774, loose('macaddr8')],
  [829, loose('macaddr')],
  [869, loose('inet')],
  [1042, loose('bpchar')],
  [1043, loose('varchar')],
  [1186, loose('interval')],
  [1266, loose('timetz')],
  [1560, loose('"bit"')],
  [1562, loose('varbit')],
  [1700, loose('numeric')],
  [3220, loose('pg_lsn')],
  [3614, loose('tsvector')],
  [3615, loose('tsquery')],
  [3802, loose('jsonb')],
  [3904, loose('int4range')],
  [3906, loose('numrange')],
  [3908, loose('tsrange')],
  [3910, loose('tstzrange')],
  [3912, loose('daterange')],
  [3926, loose('int8range')],
  [1000, loose('boolean[]')],
  [1001, loose('bytea[]')],
  [1005, loose('smallint[]')],
  [1007, loose('integer[]')],
  [1016, loose('bigint[]')],
  [1009, loose('text[]')],
  [1015, loose('varchar[]')],
  [1014, loose('bpchar[]')],
  [1021, loose('real[]')],
  [1022, loose('double precision[]')],
  [1231, loose('numeric[]')],
  [1182, loose('date[]')],
  [1115, loose('timestamp[]')],
  [1185, loose('timestamptz[]')],
  [2951, loose('uuid[]')],
  [3807, loose('jsonb[]')],
  [1041, loose('inet[]')],
  [1028, loose('oid[]')],
  [1187, loose('interval[]')],
]);

/**
 * The typed equality for a column of type `typeOid`, or null for a text comparison: built-ins by
 * the table above, others by what the catalog said (`looked`; absent: text).
 */
export function matchTypeFor(typeOid: number, looked: ReadonlyMap<number, MatchType | null> | undefined): MatchType | null {
  const builtin = BUILTIN_MATCH_TYPES.get(typeOid);
  if (builtin) return builtin;
  if (typeOid < FIRST_NORMAL_OID) return null;
  return looked?.get(typeOid) ?? null;
}

/** The condition on one old column (`col` quoted); the value is NULL or text. */
export function fullCondition(col: string, value: TupleValue & { kind: 'null' | 'text' }, type: MatchType | null): string {
  if (value.kind === 'null') return `${col} IS NULL`;
  const lit = quoteLiteral(value.value);
  const text = `format('%s', ${col}) = ${lit}`;
  if (type === null) return text;
  const typed = `${col} = ${lit}::${type.cast}`;
  return type.exact ? typed : `${typed} AND ${text}`;
}
