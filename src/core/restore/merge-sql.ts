/**
 * The SQL of a planned batch (merge-changes.ts): each step one statement, a step of one change
 * written as the line itself. Literal types resolve as in the lines as written:
 * - INSERT: `<head>(…), (…);` — a multi-row VALUES list is coerced to the target columns one row
 *   at a time, as a one-row INSERT's is.
 * - UPDATE: `UPDATE ONLY t AS t SET c = v.s0, … FROM (VALUES (<k>::T, <v>::T, …), …) AS v(k0, …, s0, …)
 *   WHERE t.k = v.k0 [AND t.k IN (…)]` — each literal cast to its column's type without typmod,
 *   which is how an untyped literal is read for a column (its input function, typmod -1), the
 *   assignment then applying the typmod as it does for the original; interval keeps its typmod
 *   (its input function reads it, as for an untyped literal). Keys are distinct in a step, so a
 *   row joins at most one VALUES row. The IN list only lets the planner use the key's index.
 * - DELETE: `DELETE FROM ONLY t WHERE k IN (<k>::T, …);` (one key column) or `… USING (VALUES …)`.
 * - FULL identity UPDATE/DELETE (merge-changes.ts, 5), also a single one: the same statements with
 *   the target joined on its full key (`t.k = v.k0`, key literals cast to the column's type) and
 *   every condition of the line kept on the joined row, its literals from VALUES: `t.c IS NULL`,
 *   `t.c = v.oN` (VALUES holding `<v>::<type>` as written), `format('%s', t.c) = v.pN` (VALUES
 *   holding the literal as text, as an untyped literal compared with text is read).
 * - COPY (merge-changes.ts, 6): `COPY t (<the INSERT's columns>) FROM STDIN;`, its rows in COPY
 *   text format (copy-text.ts) carried beside the SQL.
 */
import type { DeleteChange, FullCondition, InsertChange, UpdateChange } from './change-lines';
import { copyRows, copyStatement } from './copy-text';
import type { Step } from './merge-changes';

/** A rendered batch: its statements, and the data of each `COPY … FROM STDIN` among them, in order (COPY text format, UTF-8). */
export interface MergedBatch {
  sql: string;
  copies: Buffer[];
}

/** The statements of the steps, one per line, each line ending with `\n` (no COPY: copy steps are written as INSERTs). */
export function renderSteps(steps: readonly Step[]): string {
  let out = '';
  for (const step of steps) out += `${renderStep(step)}\n`;
  return out;
}

/** The statements of the steps, copy steps as COPY with their data beside. */
export function renderBatch(steps: readonly Step[]): MergedBatch {
  let sql = '';
  const copies: Buffer[] = [];
  for (const step of steps) {
    if (step.kind === 'insert' && step.copy && step.changes.length > 0) {
      sql += `${copyStatement(step.changes[0] as InsertChange)}\n`;
      copies.push(copyRows(step.changes.map((c) => c.row)));
    } else sql += `${renderStep(step)}\n`;
  }
  return { sql, copies };
}

function renderStep(step: Step): string {
  if (step.kind === 'text') return step.text;
  const first = step.changes[0];
  if (!first) return '';
  if (step.kind !== 'insert' && step.keyAt && (first as UpdateChange | DeleteChange).full) return fullSql(step.kind, step.changes, step.types, step.keyAt);
  if (step.changes.length === 1) return first.line;
  switch (step.kind) {
    case 'insert': {
      let sql = (step.changes[0] as InsertChange).head;
      step.changes.forEach((c, i) => {
        sql += i === 0 ? c.row : `, ${c.row}`;
      });
      return `${sql};`;
    }
    case 'update':
      return updateSql(step.changes, step.types);
    case 'delete':
      return deleteSql(step.changes, step.types);
  }
}

function updateSql(changes: readonly UpdateChange[], types: readonly string[]): string {
  const first = changes[0] as UpdateChange;
  const keys = first.keyColumns.map((_, i) => `k${i}`);
  const sets = first.setColumns.map((_, i) => `s${i}`);
  const set = first.setColumns.map((c, i) => `${c} = v.${sets[i] as string}`).join(', ');
  const where = first.keyColumns.map((c, i) => `t.${c} = v.${keys[i] as string}`).join(' AND ');
  const rows = changes.map((u) => row([...u.keyValues, ...u.setValues], types)).join(', ');
  const keyIn = first.keyColumns.length === 1 ? ` AND t.${first.keyColumns[0] as string} IN (${keyList(changes, types[0] as string)})` : '';
  return `UPDATE ONLY ${first.table} AS t SET ${set} FROM (VALUES ${rows}) AS v(${[...keys, ...sets].join(', ')}) WHERE ${where}${keyIn};`;
}

function deleteSql(changes: readonly DeleteChange[], types: readonly string[]): string {
  const first = changes[0] as DeleteChange;
  if (first.keyColumns.length === 1)
    return `DELETE FROM ONLY ${first.table} WHERE ${first.keyColumns[0] as string} IN (${keyList(changes, types[0] as string)});`;
  const names = first.keyColumns.map((_, i) => `k${i}`);
  const where = first.keyColumns.map((c, i) => `t.${c} = v.${names[i] as string}`).join(' AND ');
  const rows = changes.map((d) => row(d.keyValues, types)).join(', ');
  return `DELETE FROM ONLY ${first.table} AS t USING (VALUES ${rows}) AS v(${names.join(', ')}) WHERE ${where};`;
}

function keyList(changes: readonly (UpdateChange | DeleteChange)[], type: string): string {
  return changes.map((c) => `${c.keyValues[0] as string}::${type}`).join(', ');
}

function row(values: readonly string[], types: readonly string[]): string {
  return `(${values.map((v, i) => `${v}::${types[i] as string}`).join(', ')})`;
}

/** A FULL identity step (see the module comment); `keyAt`: the key columns' positions among the conditions. */
function fullSql(kind: 'update' | 'delete', changes: readonly (UpdateChange | DeleteChange)[], types: readonly string[], keyAt: readonly number[]): string {
  const first = changes[0] as UpdateChange | DeleteChange;
  const full = first.full as FullCondition[];
  const names: string[] = keyAt.map((_, i) => `k${i}`);
  const where: string[] = keyAt.map((at, i) => `t.${first.keyColumns[at] as string} = v.k${i}`);
  full.forEach((f, i) => {
    const col = `t.${first.keyColumns[i] as string}`;
    if (first.keyValues[i] === 'NULL') {
      where.push(`${col} IS NULL`);
      return;
    }
    if (f.typed !== null) {
      names.push(`o${i}`);
      where.push(`${col} = v.o${i}`);
    }
    if (f.text) {
      names.push(`p${i}`);
      where.push(`format('%s', ${col}) = v.p${i}`);
    }
  });
  const sets = kind === 'update' ? (first as UpdateChange).setColumns : [];
  sets.forEach((_, i) => names.push(`s${i}`));
  const rows = changes.map((c) => {
    const values = keyAt.map((at, i) => `${c.keyValues[at] as string}::${types[i] as string}`);
    (c.full as FullCondition[]).forEach((f, i) => {
      const v = c.keyValues[i] as string;
      if (v === 'NULL') return;
      if (f.typed !== null) values.push(`${v}::${f.typed}`);
      if (f.text) values.push(v);
    });
    if (kind === 'update') (c as UpdateChange).setValues.forEach((v, i) => values.push(`${v}::${types[keyAt.length + i] as string}`));
    return `(${values.join(', ')})`;
  });
  if (keyAt.length === 1) {
    const k = `t.${first.keyColumns[keyAt[0] as number] as string}`;
    where.push(`${k} IN (${changes.map((c) => `${c.keyValues[keyAt[0] as number] as string}::${types[0] as string}`).join(', ')})`);
  }
  const from = `(VALUES ${rows.join(', ')}) AS v(${names.join(', ')})`;
  if (kind === 'delete') return `DELETE FROM ONLY ${first.table} AS t USING ${from} WHERE ${where.join(' AND ')};`;
  const set = sets.map((c, i) => `${c} = v.s${i}`).join(', ');
  return `UPDATE ONLY ${first.table} AS t SET ${set} FROM ${from} WHERE ${where.join(' AND ')};`;
}
