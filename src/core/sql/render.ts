/**
 * Decoded row changes → SQL statements, one per change, each ending with `;\n`.
 *
 * Values are written as untyped quoted literals of their text output form (exact for every type,
 * given the session settings a segment pins: DateStyle ISO, IntervalStyle postgres, TimeZone
 * UTC, extra_float_digits 3, bytea_output hex). NULL is `NULL`; an unchanged TOAST value is
 * never written. Rows are found by the replica identity:
 * - DEFAULT / INDEX: `key = '…'` on the identity columns (old key if sent, else the new row's);
 * - FULL: every old column compared so that an index can answer and the match stays that of its
 *   exact text form (`full-match.ts`: `col = '…'::type`, with `format('%s', col) = '…'` as a
 *   recheck where `=` is looser than identity, or that text comparison alone for types without an
 *   equality; `format`, not `col::text`, which differs from the output function for boolean,
 *   char(n) and inet), and exactly one row affected even among identical duplicates, via
 *   `ctid = (SELECT ctid FROM ONLY t WHERE … LIMIT 1)`.
 * UPDATE and DELETE use `ONLY` so rows of inheritance children are never touched.
 *
 * Speed: everything that depends only on the relation (quoted names, which columns are written,
 * the INSERT prefix) is computed once per RelationInfo object and kept in a WeakMap, so a change
 * costs one literal per value and a few concatenations.
 */
import type { RelationMessage, Tuple, TupleValue } from '../decoding/model';
import { fullCondition, matchTypeFor, type MatchType } from './full-match';
import { qualifiedName, quoteIdent, quoteLiteral } from './quote';
import { RenderError } from './render-error';

/** A relation as pgoutput describes it, plus what the capture looked up in the catalog. */
export type RelationInfo = Omit<RelationMessage, 'tag'> & {
  /** Columns GENERATED ALWAYS AS IDENTITY: INSERT needs OVERRIDING SYSTEM VALUE, UPDATE never sets them. */
  identityAlways: ReadonlySet<string>;
  /** Generated (stored) columns: never written. */
  generated: ReadonlySet<string>;
  /** A partitioned table (publish_via_partition_root): no ONLY, rows found by (tableoid, ctid). */
  partitioned?: boolean;
  /** What the catalog said of column types that are not built in (full-match.ts); absent: compared by text. */
  matchTypes?: ReadonlyMap<number, MatchType | null>;
};

/** The old row of an UPDATE/DELETE: the key columns only (`K`) or the whole row under FULL (`O`). */
export interface OldTuple {
  kind: 'key' | 'old';
  tuple: Tuple;
}

export interface TruncateOptions {
  cascade: boolean;
  restartIdentity: boolean;
}

/** What rendering needs of a relation, derived once (RelationInfo objects are not mutated). */
export interface Plan {
  name: string;
  /** `ONLY name`, or `name` for a partitioned root. */
  target: string;
  quoted: string[];
  generated: boolean[];
  identityAlways: boolean[];
  /** `INSERT INTO t (a, b)[ OVERRIDING SYSTEM VALUE] VALUES (`, or null when no column is writable. */
  insertPrefix: string | null;
  /** Column indexes an INSERT writes (not generated). */
  insertColumns: number[];
  /** Column indexes of the replica identity (DEFAULT/INDEX). */
  keyColumns: number[];
  /** The column of the no-op `SET c = c` (neither generated nor identity ALWAYS), or -1. */
  noopColumn: number;
  /** Per column, the typed equality of a FULL match, or null for a text comparison (full-match.ts). */
  matchTypes: Array<MatchType | null>;
}

const plans = new WeakMap<RelationInfo, Plan>();

function buildPlan(rel: RelationInfo): Plan {
  const name = qualifiedName(rel.schema, rel.table);
  const quoted = rel.columns.map((c) => quoteIdent(c.name));
  const generated = rel.columns.map((c) => rel.generated.has(c.name));
  const identityAlways = rel.columns.map((c) => rel.identityAlways.has(c.name));
  const insertColumns: number[] = [];
  const keyColumns: number[] = [];
  let overriding = false;
  let noopColumn = -1;
  rel.columns.forEach((c, i) => {
    if (c.isKey) keyColumns.push(i);
    if (generated[i]) return;
    insertColumns.push(i);
    if (identityAlways[i]) overriding = true;
    else if (noopColumn < 0) noopColumn = i;
  });
  const over = overriding ? ' OVERRIDING SYSTEM VALUE' : '';
  const insertPrefix = insertColumns.length === 0 ? null : `INSERT INTO ${name} (${insertColumns.map((i) => quoted[i]).join(', ')})${over} VALUES (`;
  const target = rel.partitioned ? name : `ONLY ${name}`;
  const matchTypes = rel.columns.map((c) => matchTypeFor(c.typeOid, rel.matchTypes));
  return { name, target, quoted, generated, identityAlways, insertPrefix, insertColumns, keyColumns, noopColumn, matchTypes };
}

export function planOf(rel: RelationInfo): Plan {
  let plan = plans.get(rel);
  if (!plan) {
    plan = buildPlan(rel);
    plans.set(rel, plan);
  }
  return plan;
}

function checkArity(rel: RelationInfo, plan: Plan, tuple: Tuple, what: string): void {
  if (tuple.length !== rel.columns.length) {
    throw new RenderError(`${what} tuple for ${plan.name} has ${tuple.length} values but the relation has ${rel.columns.length} columns`, {
      hint: 'the relation message and the row disagree: the decoder state is out of sync with the stream',
    });
  }
}

function literal(v: TupleValue, plan: Plan, i: number): string {
  if (v.kind === 'text') return quoteLiteral(v.value);
  if (v.kind === 'null') return 'NULL';
  throw new RenderError(`unchanged toast value for column ${plan.quoted[i]} of ${plan.name} where a value is needed`, {
    hint: 'set REPLICA IDENTITY FULL on the table, or include the column in its replica identity',
  });
}

function sameValue(a: TupleValue, b: TupleValue): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind !== 'text' || a.value === (b as { value: string }).value;
}

/** `INSERT INTO t (cols) [OVERRIDING SYSTEM VALUE] VALUES (…);` (generated columns left out). */
export function renderInsert(rel: RelationInfo, tuple: Tuple): string {
  const plan = planOf(rel);
  checkArity(rel, plan, tuple, 'insert');
  if (plan.insertPrefix === null) return `INSERT INTO ${plan.name} DEFAULT VALUES;\n`;
  const cols = plan.insertColumns;
  let sql = plan.insertPrefix;
  for (let k = 0; k < cols.length; k++) {
    const i = cols[k]!;
    sql += (k === 0 ? '' : ', ') + literal(tuple[i]!, plan, i);
  }
  return `${sql});\n`;
}

interface RowMatch {
  /** The WHERE clause, without the keyword. */
  where: string;
  /** The old values the match is built on: the key columns (`key`), or every sent column (`full`). */
  source: Tuple;
  full: boolean;
}

/** The value a column is known to hold before the change, if the match says. */
function knownBefore(match: RowMatch, plan: Plan, i: number, rel: RelationInfo): TupleValue | undefined {
  const v = match.source[i]!;
  if (match.full) return v.kind === 'unchanged' ? undefined : v;
  return rel.columns[i]!.isKey ? v : undefined;
}

function keyMatch(rel: RelationInfo, plan: Plan, source: Tuple, what: string): RowMatch {
  const keys = plan.keyColumns;
  if (keys.length === 0) {
    throw new RenderError(`${what} on ${plan.name} has no replica identity columns`, {
      hint: 'give the table a primary key, REPLICA IDENTITY USING INDEX, or REPLICA IDENTITY FULL',
    });
  }
  let where = '';
  for (let k = 0; k < keys.length; k++) {
    const i = keys[k]!;
    const v = source[i]!;
    where += (k === 0 ? '' : ' AND ') + (v.kind === 'null' ? `${plan.quoted[i]} IS NULL` : `${plan.quoted[i]} = ${literal(v, plan, i)}`);
  }
  return { where, source, full: false };
}

function fullMatch(rel: RelationInfo, plan: Plan, old: Tuple): RowMatch {
  const conds: string[] = [];
  for (let i = 0; i < old.length; i++) {
    const v = old[i]!;
    if (v.kind === 'unchanged') continue;
    conds.push(fullCondition(plan.quoted[i]!, v, plan.matchTypes[i]!));
  }
  const where = conds.length > 0 ? conds.join(' AND ') : 'true';
  const row = rel.partitioned ? '(tableoid, ctid)' : 'ctid';
  return { where: `${row} = (SELECT ${row === 'ctid' ? 'ctid' : 'tableoid, ctid'} FROM ${plan.target} WHERE ${where} LIMIT 1)`, source: old, full: true };
}

function rowMatch(rel: RelationInfo, plan: Plan, what: string, newTuple: Tuple | undefined, old: OldTuple | undefined): RowMatch {
  if (old) checkArity(rel, plan, old.tuple, `${what} old`);
  switch (rel.replicaIdentity) {
    case 'f':
      if (old?.kind !== 'old') {
        throw new RenderError(`${what} on ${plan.name} (replica identity full) came without the old row`);
      }
      return fullMatch(rel, plan, old.tuple);
    case 'd':
    case 'i': {
      const source = old?.tuple ?? newTuple;
      if (!source) throw new RenderError(`${what} on ${plan.name} came without the old key`);
      return keyMatch(rel, plan, source, what);
    }
    case 'n':
      throw new RenderError(`${what} on ${plan.name}, which has replica identity nothing`, {
        hint: 'give the table a primary key, REPLICA IDENTITY USING INDEX, or REPLICA IDENTITY FULL',
      });
  }
}

/**
 * `UPDATE ONLY t SET … WHERE …;`. SET holds every column the change wrote except unchanged
 * TOAST values, generated columns, identity ALWAYS columns and columns known to keep their value.
 */
export function renderUpdate(rel: RelationInfo, newTuple: Tuple, old?: OldTuple): string {
  const plan = planOf(rel);
  checkArity(rel, plan, newTuple, 'update new');
  const match = rowMatch(rel, plan, 'update', newTuple, old);
  let sets = '';
  for (let i = 0; i < newTuple.length; i++) {
    const v = newTuple[i]!;
    if (v.kind === 'unchanged' || plan.generated[i]) continue;
    const before = knownBefore(match, plan, i, rel);
    if (before && sameValue(before, v)) continue;
    if (plan.identityAlways[i]) {
      if (before === undefined) continue; // not known to change
      throw new RenderError(
        `update on ${plan.name} changes identity column ${plan.quoted[i]} (generated always) from ${literal(before, plan, i)} to ${literal(v, plan, i)}`,
        { hint: 'an identity GENERATED ALWAYS column can only be set to DEFAULT by UPDATE; use GENERATED BY DEFAULT' },
      );
    }
    sets += `${sets === '' ? '' : ', '}${plan.quoted[i]} = ${literal(v, plan, i)}`;
  }
  if (sets === '') {
    // The row keeps every value we can write: a no-op assignment keeps one statement per change.
    if (plan.noopColumn < 0) return `-- update on ${plan.name} writes no column\n`;
    const c = plan.quoted[plan.noopColumn]!;
    sets = `${c} = ${c}`;
  }
  return `UPDATE ${plan.target} SET ${sets} WHERE ${match.where};\n`;
}

/** `DELETE FROM ONLY t WHERE …;` on the replica identity (see the module comment). */
export function renderDelete(rel: RelationInfo, old: OldTuple): string {
  const plan = planOf(rel);
  const match = rowMatch(rel, plan, 'delete', undefined, old);
  return `DELETE FROM ${plan.target} WHERE ${match.where};\n`;
}

/** `TRUNCATE ONLY a, ONLY b [RESTART IDENTITY] [CASCADE];` (each table named with ONLY). */
export function renderTruncate(rels: readonly RelationInfo[], options: TruncateOptions): string {
  if (rels.length === 0) throw new RenderError('truncate message names no relation');
  const names = rels.map((r) => planOf(r).target).join(', ');
  return `TRUNCATE ${names}${options.restartIdentity ? ' RESTART IDENTITY' : ''}${options.cascade ? ' CASCADE' : ''};\n`;
}
