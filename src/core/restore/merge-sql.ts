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
 */
import type { DeleteChange, InsertChange, UpdateChange } from './change-lines';
import type { Step } from './merge-changes';

/** The statements of the steps, one per line, each line ending with `\n`. */
export function renderSteps(steps: readonly Step[]): string {
  let out = '';
  for (const step of steps) out += `${renderStep(step)}\n`;
  return out;
}

function renderStep(step: Step): string {
  if (step.kind === 'text') return step.text;
  const first = step.changes[0];
  if (!first) return '';
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
  if (first.keyColumns.length === 1) return `DELETE FROM ONLY ${first.table} WHERE ${first.keyColumns[0] as string} IN (${keyList(changes, types[0] as string)});`;
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
