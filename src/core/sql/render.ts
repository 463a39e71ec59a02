/**
 * Decoded row changes → SQL statements, one per change, each ending with `;\n`.
 *
 * Values are written as untyped quoted literals of their text output form (exact for every type,
 * given the session settings a segment pins: DateStyle ISO, IntervalStyle postgres, TimeZone
 * UTC, extra_float_digits 3, bytea_output hex). NULL is `NULL`; an unchanged TOAST value is
 * never written. Rows are found by the replica identity:
 * - DEFAULT / INDEX: `key = '…'` on the identity columns (old key if sent, else the new row's);
 * - FULL: every old column compared by its exact text form, `format('%s', col) = '…'` (not
 *   `col::text`, which differs from the output function for boolean, char(n) and inet), and
 *   exactly one row affected even among identical duplicates, via
 *   `ctid = (SELECT ctid FROM ONLY t WHERE … LIMIT 1)`.
 * UPDATE and DELETE use `ONLY` so rows of inheritance children are never touched.
 */
import type { RelationMessage, Tuple, TupleValue } from '../decoding/model';
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

function tableName(rel: RelationInfo): string {
  return qualifiedName(rel.schema, rel.table);
}

function target(rel: RelationInfo): string {
  return rel.partitioned ? tableName(rel) : `ONLY ${tableName(rel)}`;
}

function checkArity(rel: RelationInfo, tuple: Tuple, what: string): void {
  if (tuple.length !== rel.columns.length) {
    throw new RenderError(
      `${what} tuple for ${tableName(rel)} has ${tuple.length} values but the relation has ${rel.columns.length} columns`,
      { hint: 'the relation message and the row disagree: the decoder state is out of sync with the stream' },
    );
  }
}

function literal(v: TupleValue, rel: RelationInfo, column: string): string {
  if (v.kind === 'null') return 'NULL';
  if (v.kind === 'text') return quoteLiteral(v.value);
  throw new RenderError(`unchanged toast value for column ${quoteIdent(column)} of ${tableName(rel)} where a value is needed`, {
    hint: 'set REPLICA IDENTITY FULL on the table, or include the column in its replica identity',
  });
}

function sameValue(a: TupleValue, b: TupleValue): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind !== 'text' || a.value === (b as { value: string }).value;
}

/** `INSERT INTO t (cols) [OVERRIDING SYSTEM VALUE] VALUES (…);` (generated columns left out). */
export function renderInsert(rel: RelationInfo, tuple: Tuple): string {
  checkArity(rel, tuple, 'insert');
  const cols: string[] = [];
  const vals: string[] = [];
  let overriding = false;
  rel.columns.forEach((c, i) => {
    if (rel.generated.has(c.name)) return;
    cols.push(quoteIdent(c.name));
    vals.push(literal(tuple[i]!, rel, c.name));
    if (rel.identityAlways.has(c.name)) overriding = true;
  });
  if (cols.length === 0) return `INSERT INTO ${tableName(rel)} DEFAULT VALUES;\n`;
  const over = overriding ? ' OVERRIDING SYSTEM VALUE' : '';
  return `INSERT INTO ${tableName(rel)} (${cols.join(', ')})${over} VALUES (${vals.join(', ')});\n`;
}

interface RowMatch {
  /** The WHERE clause, without the keyword. */
  where: string;
  /** Values the row is known to hold before the change (per column index), to skip no-op SETs. */
  known: Map<number, TupleValue>;
}

function keyMatch(rel: RelationInfo, source: Tuple, what: string): RowMatch {
  const known = new Map<number, TupleValue>();
  const conds: string[] = [];
  rel.columns.forEach((c, i) => {
    if (!c.isKey) return;
    const v = source[i]!;
    known.set(i, v);
    conds.push(v.kind === 'null' ? `${quoteIdent(c.name)} IS NULL` : `${quoteIdent(c.name)} = ${literal(v, rel, c.name)}`);
  });
  if (conds.length === 0) {
    throw new RenderError(`${what} on ${tableName(rel)} has no replica identity columns`, {
      hint: 'give the table a primary key, REPLICA IDENTITY USING INDEX, or REPLICA IDENTITY FULL',
    });
  }
  return { where: conds.join(' AND '), known };
}

function fullMatch(rel: RelationInfo, old: Tuple): RowMatch {
  const known = new Map<number, TupleValue>();
  const conds: string[] = [];
  rel.columns.forEach((c, i) => {
    const v = old[i]!;
    if (v.kind === 'unchanged') return;
    known.set(i, v);
    const col = quoteIdent(c.name);
    conds.push(v.kind === 'null' ? `${col} IS NULL` : `format('%s', ${col}) = ${quoteLiteral(v.value)}`);
  });
  const where = conds.length > 0 ? conds.join(' AND ') : 'true';
  const row = rel.partitioned ? '(tableoid, ctid)' : 'ctid';
  return { where: `${row} = (SELECT ${row === 'ctid' ? 'ctid' : 'tableoid, ctid'} FROM ${target(rel)} WHERE ${where} LIMIT 1)`, known };
}

function rowMatch(rel: RelationInfo, what: string, newTuple: Tuple | undefined, old: OldTuple | undefined): RowMatch {
  if (old) checkArity(rel, old.tuple, `${what} old`);
  switch (rel.replicaIdentity) {
    case 'f':
      if (old?.kind !== 'old') {
        throw new RenderError(`${what} on ${tableName(rel)} (replica identity full) came without the old row`);
      }
      return fullMatch(rel, old.tuple);
    case 'd':
    case 'i': {
      const source = old?.tuple ?? newTuple;
      if (!source) throw new RenderError(`${what} on ${tableName(rel)} came without the old key`);
      return keyMatch(rel, source, what);
    }
    case 'n':
      throw new RenderError(`${what} on ${tableName(rel)}, which has replica identity nothing`, {
        hint: 'give the table a primary key, REPLICA IDENTITY USING INDEX, or REPLICA IDENTITY FULL',
      });
  }
}

/**
 * `UPDATE ONLY t SET … WHERE …;`. SET holds every column the change wrote except unchanged
 * TOAST values, generated columns, identity ALWAYS columns and columns known to keep their value.
 */
export function renderUpdate(rel: RelationInfo, newTuple: Tuple, old?: OldTuple): string {
  checkArity(rel, newTuple, 'update new');
  const match = rowMatch(rel, 'update', newTuple, old);
  const sets: string[] = [];
  rel.columns.forEach((c, i) => {
    const v = newTuple[i]!;
    const before = match.known.get(i);
    if (v.kind === 'unchanged' || rel.generated.has(c.name)) return;
    if (before && sameValue(before, v)) return;
    if (rel.identityAlways.has(c.name)) {
      if (before === undefined) return; // not known to change
      throw new RenderError(
        `update on ${tableName(rel)} changes identity column ${quoteIdent(c.name)} (generated always) from ${literal(before, rel, c.name)} to ${literal(v, rel, c.name)}`,
        { hint: 'an identity GENERATED ALWAYS column can only be set to DEFAULT by UPDATE; use GENERATED BY DEFAULT' },
      );
    }
    sets.push(`${quoteIdent(c.name)} = ${literal(v, rel, c.name)}`);
  });
  if (sets.length === 0) {
    // The row keeps every value we can write: a no-op assignment keeps one statement per change.
    const c = rel.columns.find((col) => !rel.generated.has(col.name) && !rel.identityAlways.has(col.name));
    if (!c) return `-- update on ${tableName(rel)} writes no column\n`;
    sets.push(`${quoteIdent(c.name)} = ${quoteIdent(c.name)}`);
  }
  return `UPDATE ${target(rel)} SET ${sets.join(', ')} WHERE ${match.where};\n`;
}

/** `DELETE FROM ONLY t WHERE …;` on the replica identity (see the module comment). */
export function renderDelete(rel: RelationInfo, old: OldTuple): string {
  const match = rowMatch(rel, 'delete', undefined, old);
  return `DELETE FROM ${target(rel)} WHERE ${match.where};\n`;
}

/** `TRUNCATE ONLY a, ONLY b [RESTART IDENTITY] [CASCADE];` (each table named with ONLY). */
export function renderTruncate(rels: readonly RelationInfo[], options: TruncateOptions): string {
  if (rels.length === 0) throw new RenderError('truncate message names no relation');
  const names = rels.map((r) => target(r)).join(', ');
  return `TRUNCATE ${names}${options.restartIdentity ? ' RESTART IDENTITY' : ''}${options.cascade ? ' CASCADE' : ''};\n`;
}
