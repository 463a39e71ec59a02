/**
 * Exact set-based rewriting of one applier batch (several source transactions' statements, run
 * in ONE target transaction): the renderer's one-row INSERTs, UPDATEs and DELETEs on tables that
 * are keyed and quiet (below) become a few multi-row statements — `INSERT … VALUES (…), (…)`,
 * `UPDATE ONLY t SET c = v.c … FROM (VALUES …) v WHERE t.key = v.key`, `DELETE FROM ONLY t WHERE
 * key IN (…)` — instead of one statement per row, which is where the server's time went.
 *
 * Why the target ends in the very same state (the argument, step by step):
 * 1. A table is *quiet* when nothing but the statement itself can act on a change: an ordinary
 *    table (relkind `r`), no trigger or rule that fires under `session_replication_role =
 *    replica` (ENABLE ALWAYS/REPLICA; foreign keys are triggers too and, like ordinary triggers,
 *    do not fire), no row-level security. It is *keyed* when its replica identity is an
 *    immediate (not deferrable) unique, non-partial index on plain NOT NULL columns whose types
 *    print each value one way only (integers, text/varchar under a deterministic collation,
 *    uuid, date, timestamps, bool, oid): equal literal texts ⇔ the same row.
 * 2. A merged change names every non-generated column (INSERT, so no default runs) or its row by
 *    the full identity key (UPDATE/DELETE, SET not touching the key). Its effect is then a
 *    function of the one row with that key and of its literals only, so changes to different
 *    keys (or tables) commute, and a run of changes without anything else between them may be
 *    applied in any order that keeps each key's own changes in order. A quiet table without such
 *    a key takes part with its INSERTs only (kept in order; its UPDATEs and DELETEs stay in place).
 * 3. The run is cut into rounds: a change's round is one more than that of the previous change to
 *    the same key. A round holds each key once, so within a round order cannot matter; rounds
 *    are emitted in order (DELETEs, then UPDATEs, then INSERTs of a round: fewest transient
 *    conflicts on other unique indexes). A change that follows an INSERT of its key in the same
 *    run is folded into it, as the row would end: an UPDATE replaces the INSERT's values of its
 *    SET columns, a DELETE drops the INSERT (the row never appears, within one target
 *    transaction nobody sees it). Anything else — DDL, comments, TRUNCATE, setval, a change in
 *    another form or on a table that is not quiet — ends the run and is applied as written, in
 *    its place.
 *    Runs may span source transactions: the batch commits as one transaction, and the applier
 *    retries a failed batch as written (an error that only the new order raises, e.g. a
 *    transient duplicate on another unique index, is such a failure), so a merged batch either
 *    commits exactly the state of the statements as written or is not used. (The converse is
 *    not promised: on a target that differs from the source, e.g. with an extra constraint, the
 *    statements as written may fail where their merged form does not.)
 * 4. Literals keep their type resolution: INSERT rows are coerced to the target columns one row
 *    at a time, as in a one-row INSERT; UPDATE/DELETE literals are cast to the column's type
 *    without typmod (as an untyped literal's input is; assignment then applies the typmod as it
 *    does for the original), interval with its typmod (its input reads the typmod).
 *
 * 5. REPLICA IDENTITY FULL changes (`ctid = (SELECT ctid … WHERE <conditions on every old column>
 *    LIMIT 1)`, change-lines.ts) take part on a quiet table whose target has a *full key*: its
 *    identity key when keyed (1), else its primary key or another immediate, non-partial unique
 *    index on plain NOT NULL columns of the types of (1). Such a change needs every key column
 *    among its conditions with a value (not IS NULL) compared by text, or by the typed form with
 *    the very type the target's column has. Its merged form (merge-sql.ts) joins the target on the
 *    key, `t.k = '<v>'::<type>`, and keeps every condition of the line as written (typed and text
 *    alike) on the joined row. Why it changes the same row as the line:
 *    - the line's conditions hold for a row only if the join does: a key column's text condition
 *      says the value prints as `<v>`, and a value of these types reads its own output back as an
 *      equal value, so `k = '<v>'::<type>`; a typed condition with the column's own type is the join;
 *    - the key is unique and its values are not NULL, so at most one row joins: the one row the
 *      line's `LIMIT 1` can choose, or none (then neither form changes anything).
 *    So the change's effect is a function of the one row with its key, as in 2, and rounds (3)
 *    apply unchanged; the table's INSERTs are keyed by the full key too, so a FULL change comes in a
 *    round after the INSERT of its key. A FULL change is never folded into a pending INSERT of its
 *    key (the INSERT's literals need not print as the old row's): it takes the next round.
 *
 * 6. With `copy` (the applier's default), a merged INSERT step of a quiet table whose shape allows
 *    it (`TableShape.copy`: no column typmod that COPY's input would read differently, and an
 *    INSERT without `OVERRIDING SYSTEM VALUE` only where no identity column is GENERATED ALWAYS)
 *    is sent as `COPY … FROM STDIN` with the same rows, in the same order; copy-text.ts argues
 *    that each row stored is the one the INSERT stores.
 *
 * This module plans which changes go into which statement; `merge-sql.ts` writes the SQL.
 */
import {
  ChangeLineParser,
  rowValue,
  rowValues,
  splitTable,
  unquoteIdent,
  type ChangeLine,
  type DeleteChange,
  type InsertChange,
  type UpdateChange,
} from './change-lines';
import { ddlRegionEnd, isDdlHeader } from './ddl-region';
import { renderBatch, renderSteps, type MergedBatch } from './merge-sql';
import { overridesIdentity } from './copy-text';
import { BUILTIN_MATCH_TYPES } from '../sql/full-match';

/** Limits of one merged statement. */
export interface MergeLimits {
  /** At most this many rows per statement (default 1000). */
  maxRows?: number;
  /** A statement grows no longer than this many characters, unless it is a single row (default 1 MiB). */
  maxChars?: number;
}

export const DEFAULT_MERGE_LIMITS: Required<MergeLimits> = { maxRows: 1000, maxChars: 1024 * 1024 };

/** What the target's catalog says about one table (src/restore/table-shapes.ts). */
export interface TableShape {
  /** Every live, non-generated column, name → the type to cast a literal to. */
  columns: ReadonlyMap<string, string>;
  /** Quiet (module comment, 1). */
  quiet: boolean;
  /** The identity key's columns when the table is keyed (module comment, 1), else null. */
  key: readonly string[] | null;
  /** The key FULL identity changes are merged by (module comment, 5): columns and their type OIDs; absent: none. */
  fullKey?: { columns: readonly string[]; typeOids: readonly number[] } | null;
  /**
   * Its INSERTs may be sent as COPY (module comment, 6; copy-text.ts): every column without a
   * typmod or of a type whose input applies it as the assignment does. Absent: never.
   */
  copy?: boolean;
  /** Some column is GENERATED ALWAYS AS IDENTITY (COPY then only for INSERTs that override it). */
  identityAlways?: boolean;
}

/** One source transaction's body; `verbatim` ones (e.g. holding DDL) are never rewritten. */
export interface BatchBody {
  sql: string;
  verbatim?: boolean;
}

/** A line of a batch: a change, or text applied as written (a DDL block is one item). */
export type BatchLine = ChangeLine | { kind: 'text'; text: string };

/**
 * One statement of the rewritten batch: text as written, or changes of one kind and shape
 * (one INSERT head; one table, SET list and key for UPDATE; one table and key for DELETE)
 * whose keys are distinct, so that their order within the statement cannot matter.
 * `types`: the cast types of the WHERE columns, then of the SET columns.
 */
export type Step =
  | { kind: 'text'; text: string }
  | { kind: 'insert'; changes: InsertChange[]; copy?: boolean }
  | { kind: 'update'; changes: UpdateChange[]; types: readonly string[]; keyAt?: readonly number[] }
  | { kind: 'delete'; changes: DeleteChange[]; types: readonly string[]; keyAt?: readonly number[] };

/** Splits bodies into lines, changes parsed; DDL blocks and verbatim bodies are single text items. */
export function parseBatch(bodies: readonly BatchBody[]): BatchLine[] {
  const out: BatchLine[] = [];
  const parser = new ChangeLineParser();
  for (const body of bodies) {
    if (body.verbatim) {
      if (body.sql.length > 0) out.push({ kind: 'text', text: body.sql.endsWith('\n') ? body.sql.slice(0, -1) : body.sql });
      continue;
    }
    const lines = body.sql.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      if (isDdlHeader(line)) {
        const end = ddlRegionEnd(lines, i);
        out.push({ kind: 'text', text: lines.slice(i, end).join('\n') });
        i = end - 1;
        continue;
      }
      out.push(parser.parse(line) ?? { kind: 'text', text: line });
    }
  }
  return out;
}

/** The tables (as written) that the batch's changes name, with their unquoted names. */
export function batchTables(lines: readonly BatchLine[]): Map<string, { schema: string; table: string }> {
  const out = new Map<string, { schema: string; table: string }>();
  for (const l of lines) {
    if (l.kind !== 'text' && !out.has(l.table)) out.set(l.table, splitTable(l.table));
  }
  return out;
}

export interface PlanOptions extends MergeLimits {
  /**
   * Merge consecutive INSERTs (same head) of tables that are not quiet or keyed, in order: only
   * when no INSERT trigger or rule can fire anywhere in the target (a statement trigger would see
   * one statement instead of several).
   */
  insertRuns?: boolean;
  /** Send merged INSERTs of tables that allow it as COPY (module comment, 6). */
  copy?: boolean;
}

/** The batch as statements (module comment); applying them in order gives the state of the lines in order. */
export function planBatch(lines: readonly BatchLine[], shapeOf: (table: string) => TableShape | undefined, options: PlanOptions = {}): Step[] {
  const steps: Step[] = [];
  const plans = new Plans(shapeOf);
  const chunker = new Chunker(steps, options.maxRows ?? DEFAULT_MERGE_LIMITS.maxRows, options.maxChars ?? DEFAULT_MERGE_LIMITS.maxChars, options.copy === true);
  let rounds: Array<Array<ChangeLine | null>> = [];
  // Per table, per key (its values as written): the round of the key's last change, and where that
  // change sits in its round when it is an INSERT (which a later UPDATE or DELETE folds into).
  const last = new Map<string, Map<string, { round: number; insertAt: number }>>();
  let run: InsertChange[] = [];
  const flushRounds = (): void => {
    for (const round of rounds)
      chunker.round(
        round.filter((c): c is ChangeLine => c !== null),
        plans,
      );
    rounds = [];
    last.clear();
  };
  const flushRun = (): void => {
    if (run.length > 0) chunker.inserts(run, plans.plan(run[0] as InsertChange)?.copy === true);
    run = [];
  };
  for (const line of lines) {
    const key = line.kind === 'text' ? undefined : plans.keyOf(line);
    if (key === undefined) {
      flushRounds();
      if (line.kind === 'insert' && options.insertRuns) {
        if (run.length > 0 && (run[0] as InsertChange).head !== line.head) flushRun();
        run.push(line);
        continue;
      }
      flushRun();
      steps.push({ kind: 'text', text: line.kind === 'text' ? line.text : line.line });
      continue;
    }
    flushRun();
    const change = line as ChangeLine;
    if (key === null) {
      (rounds[0] ??= []).push(change);
      continue;
    }
    let keys = last.get(change.table);
    if (!keys) last.set(change.table, (keys = new Map()));
    const prev = keys.get(key);
    // A FULL change is not folded (module comment, 5): it takes the round after the INSERT's.
    if (prev && prev.insertAt >= 0 && change.kind !== 'insert' && !change.full) {
      // Folded into the row's pending INSERT (module comment, 3): the DELETE drops it, the UPDATE rewrites it.
      const round = rounds[prev.round] as Array<ChangeLine | null>;
      if (change.kind === 'delete') {
        round[prev.insertAt] = null;
        prev.insertAt = -1;
      } else round[prev.insertAt] = updatedInsert(round[prev.insertAt] as InsertChange, change, plans);
      continue;
    }
    const r = prev ? prev.round + 1 : 0;
    const round = (rounds[r] ??= []);
    keys.set(key, { round: r, insertAt: change.kind === 'insert' ? round.length : -1 });
    round.push(change);
  }
  flushRounds();
  flushRun();
  return steps;
}

/** The INSERT with an UPDATE's SET values in place of its own (same key, so the same row). */
function updatedInsert(insert: InsertChange, update: UpdateChange, plans: Plans): InsertChange {
  const values = rowValues(insert.row);
  const at = (plans.plan(update) as Plan).setAt;
  update.setValues.forEach((value, i) => {
    values[insert.columns.indexOf(at[i] as string)] = value;
  });
  const row = `(${values.join(', ')})`;
  return { ...insert, row, line: `${insert.head}${row};` };
}

/** How the changes of one INSERT head or UPDATE/DELETE shape merge (null: they stay in place). */
interface Plan {
  /** Positions of the identity key's columns (in key order) among the row's values or WHERE items; null: keyless INSERT. */
  keyAt: number[] | null;
  /** Cast types of the WHERE columns (in WHERE order), then of the SET columns. */
  types: string[];
  /** The SET columns' names, unquoted. */
  setAt: string[];
  /** INSERTs of this head may go as COPY (module comment, 6). */
  copy?: boolean;
}

/** Plans per INSERT head and UPDATE/DELETE shape, from the table shapes (module comment, 1 and 2). */
class Plans {
  private readonly plans = new Map<string, Plan | null>();

  constructor(private readonly shapeOf: (table: string) => TableShape | undefined) {}

  plan(change: ChangeLine): Plan | null {
    const id = change.kind === 'insert' ? change.head : change.shape;
    let plan = this.plans.get(id);
    if (plan === undefined) {
      plan = this.make(change);
      this.plans.set(id, plan);
    }
    return plan;
  }

  /** The change's key within its table (`null`: a keyless INSERT of a quiet table), or undefined when it must stay in place. */
  keyOf(change: ChangeLine): string | null | undefined {
    const plan = this.plan(change);
    if (plan === null) return undefined;
    if (plan.keyAt === null) return null;
    let key: string | undefined;
    for (const i of plan.keyAt) {
      const v = change.kind === 'insert' ? rowValue(change.row, i) : (change.keyValues[i] as string);
      if (v === 'NULL') return undefined;
      key = key === undefined ? v : `${key}\n${v}`;
    }
    return key;
  }

  private make(change: ChangeLine): Plan | null {
    const shape = this.shapeOf(change.table);
    if (!shape || !shape.quiet) return null;
    if (change.kind === 'insert') {
      // Every non-generated column named once: no default is evaluated.
      const cols = change.columns;
      if (cols.length !== shape.columns.size || new Set(cols).size !== cols.length || !cols.every((c) => shape.columns.has(c))) return null;
      // Keyed by the key its UPDATEs/DELETEs are merged by, so that they follow it in a later round.
      const key = shape.key ?? shape.fullKey?.columns ?? null;
      const copy = shape.copy === true && (shape.identityAlways !== true || overridesIdentity(change.head));
      return { keyAt: key === null ? null : key.map((k) => cols.indexOf(k)), types: [], setAt: [], copy };
    }
    if (change.full) return fullPlan(change, shape);
    if (shape.key === null) return null;
    const keyCols = change.keyColumns.map(unquoteIdent);
    const keyAt = shape.key.map((k) => keyCols.indexOf(k));
    if (keyCols.length !== shape.key.length || keyAt.includes(-1)) return null;
    const setCols = change.kind === 'update' ? change.setColumns.map(unquoteIdent) : [];
    const key = shape.key;
    if (setCols.some((c) => !shape.columns.has(c) || key.includes(c)) || new Set(setCols).size !== setCols.length) return null;
    return { keyAt, types: [...keyCols, ...setCols].map((c) => shape.columns.get(c) as string), setAt: setCols };
  }
}

/** The plan of a FULL identity UPDATE/DELETE (module comment, 5), or null when it stays in place. */
function fullPlan(change: UpdateChange | DeleteChange, shape: TableShape): Plan | null {
  const key = shape.fullKey;
  const full = change.full;
  if (!key || !full) return null;
  const conds = change.keyColumns.map(unquoteIdent);
  const keyAt = key.columns.map((k) => conds.indexOf(k));
  for (let i = 0; i < keyAt.length; i++) {
    const at = keyAt[i] as number;
    if (at < 0 || change.keyValues[at] === 'NULL') return null;
    const cond = full[at] as { typed: string | null; text: boolean };
    if (!cond.text && BUILTIN_MATCH_TYPES.get(key.typeOids[i] as number)?.cast !== cond.typed) return null;
  }
  const setCols = change.kind === 'update' ? change.setColumns.map(unquoteIdent) : [];
  if (setCols.some((c) => !shape.columns.has(c) || key.columns.includes(c)) || new Set(setCols).size !== setCols.length) return null;
  return { keyAt, types: [...key.columns, ...setCols].map((c) => shape.columns.get(c) as string), setAt: setCols };
}

/** Cuts rounds and insert runs into statements within the row and size limits. */
class Chunker {
  constructor(
    private readonly steps: Step[],
    private readonly maxRows: number,
    private readonly maxChars: number,
    private readonly copy: boolean,
  ) {}

  /** One round: each key at most once, so any order is the same state; DELETEs, UPDATEs, INSERTs. */
  round(round: readonly ChangeLine[], plans: Plans): void {
    const deletes = new Map<string, DeleteChange[]>();
    const updates = new Map<string, UpdateChange[]>();
    const inserts = new Map<string, InsertChange[]>();
    for (const change of round) {
      if (change.kind === 'delete') push(deletes, change.shape, change);
      else if (change.kind === 'update') push(updates, change.shape, change);
      else push(inserts, change.head, change);
    }
    for (const group of deletes.values()) {
      const { types, keyAt } = plans.plan(group[0] as DeleteChange) as Plan;
      this.chunks(group, (changes) => this.steps.push({ kind: 'delete', changes, types, keyAt: keyAt ?? undefined }));
    }
    for (const group of updates.values()) {
      const { types, keyAt } = plans.plan(group[0] as UpdateChange) as Plan;
      this.chunks(group, (changes) => this.steps.push({ kind: 'update', changes, types, keyAt: keyAt ?? undefined }));
    }
    for (const group of inserts.values()) this.inserts(group, (plans.plan(group[0] as InsertChange) as Plan).copy === true);
  }

  /** INSERTs with one head, in order; as COPY when the plan allows it and COPY is wanted (one COPY takes any number of rows). */
  inserts(group: readonly InsertChange[], copyable = false): void {
    const copy = copyable && this.copy;
    this.chunks(group, (changes) => this.steps.push(copy ? { kind: 'insert', changes, copy } : { kind: 'insert', changes }), copy ? Infinity : this.maxRows);
  }

  private chunks<T extends ChangeLine>(group: readonly T[], emit: (changes: T[]) => void, maxRows = this.maxRows): void {
    let start = 0;
    let chars = 0;
    for (let i = 0; i < group.length; i++) {
      const size = (group[i] as T).line.length;
      if (i > start && (i - start >= maxRows || chars + size > this.maxChars)) {
        emit(group.slice(start, i));
        start = i;
        chars = 0;
      }
      chars += size;
    }
    if (group.length > start) emit(group.slice(start));
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** The batch's SQL with the merges of the module comment; lines end with `\n`. */
export function rewriteBatch(lines: readonly BatchLine[], shapeOf: (table: string) => TableShape | undefined, options: PlanOptions = {}): string {
  return renderSteps(planBatch(lines, shapeOf, { ...options, copy: false }));
}

/** The batch's statements with the merges of the module comment, merged INSERTs as COPY where allowed (6), and the COPYs' data. */
export function mergeBatch(lines: readonly BatchLine[], shapeOf: (table: string) => TableShape | undefined, options: PlanOptions = {}): MergedBatch {
  return renderBatch(planBatch(lines, shapeOf, { copy: true, ...options }));
}
