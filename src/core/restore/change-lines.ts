/**
 * The capture renderer's one-row change statements (src/core/sql/render.ts), parsed from a body
 * line for the applier's exact merging (`merge-changes.ts`). Only this exact form is recognised,
 * whole line, nothing else on it; anything else is `null` (the caller then applies the line as
 * written):
 *
 * - `INSERT INTO <s>.<t> (<c>, …)[ OVERRIDING SYSTEM VALUE] VALUES (<v>, …);`
 * - `UPDATE ONLY <s>.<t> SET <c> = <v>, … WHERE <k> = <v>[ AND <k> = <v>]…;`
 * - `DELETE FROM ONLY <s>.<t> WHERE <k> = <v>[ AND <k> = <v>]…;`
 *
 * - REPLICA IDENTITY FULL (render.ts, full-match.ts; also the text-only form of older segments):
 *   `UPDATE ONLY <s>.<t> SET … WHERE ctid = (SELECT ctid FROM ONLY <s>.<t> WHERE <cond>[ AND <cond>]… LIMIT 1);`
 *   and `DELETE FROM ONLY <s>.<t> WHERE ctid = (…);`, each `<cond>` one of `<c> IS NULL`,
 *   `<c> = <v>::<type>`, `<c> = <v>::<type> AND format('%s', <c>) = <v>`, `format('%s', <c>) = <v>`.
 *
 * Each name is `quoteIdent` output (`[a-z_][a-z0-9_]*` or `"…"` with `""`), each value `NULL`
 * (never in WHERE) or `quoteLiteral` output (`'…'` with `''`, or `E'…'` whose only escapes are
 * `''`, `\\`, `\n`, `\r`). So the no-op `SET c = c`, unqualified or partitioned (no `ONLY`)
 * targets and every statement of another kind are not changes here. Literals never hold a raw
 * line break (quoteLiteral), so outside DDL blocks a body line is one whole statement.
 */

/** One parsed change; names and values as written (quoted identifiers, literals). */
export type ChangeLine = InsertChange | UpdateChange | DeleteChange;

export interface InsertChange {
  kind: 'insert';
  line: string;
  /** The target as written (`public.items`). */
  table: string;
  /** Everything through `VALUES ` (the merge key of INSERT runs). */
  head: string;
  /** The column names, unquoted (one array shared by the lines of one head). */
  columns: readonly string[];
  /** The row as written, `(…)`. */
  row: string;
}

/** One condition of a FULL identity match, as written. */
export interface FullCondition {
  /** `<c> = <v>::<type>`: the type as written, else null. */
  typed: string | null;
  /** `format('%s', <c>) = <v>` (alone or as the typed form's recheck). */
  text: boolean;
}

export interface UpdateChange {
  kind: 'update';
  line: string;
  table: string;
  setColumns: string[];
  setValues: string[];
  /** The WHERE columns and literals: the key's, or under FULL every condition's (`NULL` for IS NULL). */
  keyColumns: string[];
  keyValues: string[];
  /** FULL identity: the form of each condition (same order as keyColumns). */
  full?: FullCondition[];
  /** Table, SET columns and WHERE columns as written: changes of one shape merge together. */
  shape: string;
}

export interface DeleteChange {
  kind: 'delete';
  line: string;
  table: string;
  keyColumns: string[];
  keyValues: string[];
  full?: FullCondition[];
  shape: string;
}

const A = 97;
const Z = 122;
const UNDERSCORE = 95;
const ZERO = 48;
const NINE = 57;
const QUOTE = 39;
const DQUOTE = 34;
const BACKSLASH = 92;

/** A cursor over one line; every method returns the end position or -1. */
class Cursor {
  constructor(readonly s: string) {}

  lit(p: number, text: string): number {
    return this.s.startsWith(text, p) ? p + text.length : -1;
  }

  ident(p: number): number {
    const s = this.s;
    const c = s.charCodeAt(p);
    if (c === DQUOTE) {
      for (let i = p + 1; i < s.length; i++) {
        if (s.charCodeAt(i) !== DQUOTE) continue;
        if (s.charCodeAt(i + 1) === DQUOTE) i++;
        else return i + 1;
      }
      return -1;
    }
    if (!((c >= A && c <= Z) || c === UNDERSCORE)) return -1;
    let i = p + 1;
    for (; i < s.length; i++) {
      const d = s.charCodeAt(i);
      if (!((d >= A && d <= Z) || (d >= ZERO && d <= NINE) || d === UNDERSCORE)) break;
    }
    return i;
  }

  /** `NULL`, `'…'` or `E'…'` (see the module comment). */
  value(p: number): number {
    const s = this.s;
    if (s.startsWith('NULL', p)) return p + 4;
    let escapes = false;
    if (s.charCodeAt(p) === 69 /* E */) {
      escapes = true;
      p++;
    }
    if (s.charCodeAt(p) !== QUOTE) return -1;
    if (!escapes) {
      // indexOf is native: much faster than a loop over the characters of long values.
      for (let i = p + 1; ;) {
        const q = s.indexOf("'", i);
        if (q < 0) return -1;
        if (s.charCodeAt(q + 1) !== QUOTE) return q + 1;
        i = q + 2;
      }
    }
    for (let i = p + 1; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === QUOTE) {
        if (s.charCodeAt(i + 1) === QUOTE) i++;
        else return i + 1;
      } else if (escapes && c === BACKSLASH) {
        const e = s.charCodeAt(i + 1);
        if (e !== BACKSLASH && e !== 110 /* n */ && e !== 114 /* r */) return -1;
        i++;
      }
    }
    return -1;
  }
}

/** An identifier's name: unquoted, `""` undoubled. */
export function unquoteIdent(text: string): string {
  return text.charCodeAt(0) === DQUOTE ? text.slice(1, -1).replace(/""/g, '"') : text;
}

/** `<s>.<t>` from `p`: its end, or -1. */
function target(c: Cursor, p: number): number {
  const e1 = c.ident(p);
  if (e1 < 0 || c.s.charCodeAt(e1) !== 46 /* . */) return -1;
  return c.ident(e1 + 1);
}

/** Splits a written `<s>.<t>` into its unquoted names. */
export function splitTable(table: string): { schema: string; table: string } {
  const c = new Cursor(table);
  const e1 = c.ident(0);
  return { schema: unquoteIdent(table.slice(0, e1)), table: unquoteIdent(table.slice(e1 + 1)) };
}

/** `<c> = <v>` items separated by `sep` (names as written); the end of the last, or -1. */
function assignments(c: Cursor, p: number, sep: string, names: string[], values: string[]): number {
  for (;;) {
    const e = c.ident(p);
    if (e < 0) return -1;
    const v = c.lit(e, ' = ');
    if (v < 0) return -1;
    const ve = c.value(v);
    if (ve < 0) return -1;
    names.push(c.s.slice(p, e));
    values.push(c.s.slice(v, ve));
    if (!c.s.startsWith(sep, ve)) return ve;
    p = ve + sep.length;
  }
}

/** `WHERE k = v[ AND …];` to the end of the line; false unless exactly that, with no NULL. */
function whereKey(c: Cursor, p: number, names: string[], values: string[]): boolean {
  const w = c.lit(p, ' WHERE ');
  if (w < 0) return false;
  const end = assignments(c, w, ' AND ', names, values);
  return end >= 0 && end === c.s.length - 1 && c.s.charCodeAt(end) === 59 /* ; */ && !values.includes('NULL');
}

/** Parses INSERT lines; remembers the last head, whose column list the next line usually repeats. */
class InsertParser {
  private head = '';
  private table = '';
  private columns: readonly string[] = [];

  parse(line: string): InsertChange | null {
    const c = new Cursor(line);
    let p: number;
    if (this.head !== '' && line.startsWith(this.head) && line.charCodeAt(this.head.length) === 40 /* ( */) p = this.head.length + 1;
    else {
      p = this.parseHead(c);
      if (p < 0) return null;
    }
    const rowStart = p - 1;
    for (let n = 1; ; n++) {
      const e = c.value(p);
      if (e < 0) return null;
      if (line.startsWith(', ', e)) p = e + 2;
      else if (e + 2 === line.length && line.startsWith(');', e)) {
        if (n !== this.columns.length) return null;
        break;
      } else return null;
    }
    return { kind: 'insert', line, table: this.table, head: this.head, columns: this.columns, row: line.slice(rowStart, -1) };
  }

  /** Reads `INSERT INTO <s>.<t> (<c>, …)[ OVERRIDING SYSTEM VALUE] VALUES (`; the position after it, or -1. */
  private parseHead(c: Cursor): number {
    const line = c.s;
    const t = target(c, 12); // after 'INSERT INTO '
    if (t < 0) return -1;
    let p = c.lit(t, ' (');
    if (p < 0) return -1;
    const columns: string[] = [];
    for (;;) {
      const e = c.ident(p);
      if (e < 0) return -1;
      columns.push(unquoteIdent(line.slice(p, e)));
      if (line.startsWith(', ', e)) p = e + 2;
      else if (line.charCodeAt(e) === 41 /* ) */) {
        p = e + 1;
        break;
      } else return -1;
    }
    const over = c.lit(p, ' OVERRIDING SYSTEM VALUE');
    if (over >= 0) p = over;
    p = c.lit(p, ' VALUES (');
    if (p < 0) return -1;
    this.head = line.slice(0, p - 1);
    this.table = line.slice(12, t);
    this.columns = columns;
    return p;
  }
}

/** A cast's type name from `p` (names, quoted names, dots, spaces, `[]`) up to ` AND ` or ` LIMIT 1)`: its end, or -1. */
function typeName(c: Cursor, p: number): number {
  const s = c.s;
  let i = p;
  while (i < s.length) {
    const ch = s.charCodeAt(i);
    if (ch === DQUOTE) {
      const e = c.ident(i);
      if (e < 0) return -1;
      i = e;
      continue;
    }
    if (ch === 32 && (s.startsWith(' AND ', i) || s.startsWith(' LIMIT 1)', i))) break;
    if (!((ch >= A && ch <= Z) || (ch >= ZERO && ch <= NINE) || ch === UNDERSCORE || ch === 32 || ch === 46 || ch === 91 || ch === 93)) return -1;
    i++;
  }
  return i > p ? i : -1;
}

/**
 * `WHERE ctid = (SELECT ctid FROM ONLY <table> WHERE <cond>[ AND <cond>]… LIMIT 1);` to the end of
 * the line (module comment); false unless exactly that, with distinct columns.
 */
function whereFull(c: Cursor, p: number, table: string, change: UpdateChange | DeleteChange): boolean {
  const s = c.s;
  p = c.lit(p, ` WHERE ctid = (SELECT ctid FROM ONLY ${table} WHERE `);
  if (p < 0) return false;
  const full: FullCondition[] = [];
  for (;;) {
    let col: string;
    let value: string;
    let typed: string | null = null;
    let text = false;
    if (s.startsWith("format('%s', ", p)) {
      const e = c.ident(p + 13);
      const v = e < 0 ? -1 : c.lit(e, ') = ');
      const ve = v < 0 ? -1 : c.value(v);
      if (ve < 0 || s.startsWith('NULL', v)) return false;
      col = s.slice(p + 13, e);
      value = s.slice(v, ve);
      text = true;
      p = ve;
    } else {
      const e = c.ident(p);
      if (e < 0) return false;
      col = s.slice(p, e);
      if (s.startsWith(' IS NULL', e)) {
        value = 'NULL';
        p = e + 8;
      } else {
        const v = c.lit(e, ' = ');
        const ve = v < 0 ? -1 : c.value(v);
        const t = ve < 0 || s.startsWith('NULL', v) ? -1 : c.lit(ve, '::');
        const te = t < 0 ? -1 : typeName(c, t);
        if (te < 0) return false;
        value = s.slice(v, ve);
        typed = s.slice(t, te);
        p = te;
        const recheck = ` AND format('%s', ${col}) = ${value}`;
        if (s.startsWith(recheck, p) && (s.startsWith(' AND ', p + recheck.length) || s.startsWith(' LIMIT 1)', p + recheck.length))) {
          text = true;
          p += recheck.length;
        }
      }
    }
    if (change.keyColumns.includes(col)) return false;
    change.keyColumns.push(col);
    change.keyValues.push(value);
    full.push({ typed, text });
    if (s.startsWith(' AND ', p)) p += 5;
    else break;
  }
  change.full = full;
  return p + 10 === s.length && s.startsWith(' LIMIT 1);', p);
}

/** The shape of a FULL change's conditions: columns and forms, not values. */
function fullShape(change: UpdateChange | DeleteChange): string {
  return (change.full as FullCondition[])
    .map(
      (f, i) =>
        `${change.keyColumns[i] as string}${change.keyValues[i] === 'NULL' ? ' null' : `${f.typed === null ? '' : `::${f.typed}`}${f.text ? ' text' : ''}`}`,
    )
    .join(',');
}

function parseUpdate(line: string): UpdateChange | null {
  const c = new Cursor(line);
  const t = target(c, 12); // after 'UPDATE ONLY '
  if (t < 0) return null;
  const p = c.lit(t, ' SET ');
  if (p < 0) return null;
  const u: UpdateChange = { kind: 'update', line, table: line.slice(12, t), setColumns: [], setValues: [], keyColumns: [], keyValues: [], shape: '' };
  const e = assignments(c, p, ', ', u.setColumns, u.setValues);
  if (e < 0) return null;
  if (whereKey(c, e, u.keyColumns, u.keyValues)) u.shape = `${u.table} ${u.setColumns.join(',')} ${u.keyColumns.join(',')}`;
  else {
    u.keyColumns = [];
    u.keyValues = [];
    if (!whereFull(c, e, u.table, u)) return null;
    u.shape = `${u.table} ${u.setColumns.join(',')} full ${fullShape(u)}`;
  }
  return u;
}

function parseDelete(line: string): DeleteChange | null {
  const c = new Cursor(line);
  const t = target(c, 17); // after 'DELETE FROM ONLY '
  if (t < 0) return null;
  const d: DeleteChange = { kind: 'delete', line, table: line.slice(17, t), keyColumns: [], keyValues: [], shape: '' };
  if (whereKey(c, t, d.keyColumns, d.keyValues)) d.shape = `${d.table} ${d.keyColumns.join(',')}`;
  else {
    d.keyColumns = [];
    d.keyValues = [];
    if (!whereFull(c, t, d.table, d)) return null;
    d.shape = `${d.table} full ${fullShape(d)}`;
  }
  return d;
}

/** Parses body lines (see the module comment); one parser per batch keeps its INSERT head cache. */
export class ChangeLineParser {
  private readonly inserts = new InsertParser();

  /** The change a body line holds, or null when the line is not exactly a renderer change. */
  parse(line: string): ChangeLine | null {
    if (line.charCodeAt(line.length - 1) !== 59 /* ; */) return null;
    if (line.startsWith('INSERT INTO ')) return this.inserts.parse(line);
    if (line.startsWith('UPDATE ONLY ')) return parseUpdate(line);
    if (line.startsWith('DELETE FROM ONLY ')) return parseDelete(line);
    return null;
  }
}

/** The change a body line holds, or null (see the module comment). */
export function parseChangeLine(line: string): ChangeLine | null {
  return new ChangeLineParser().parse(line);
}

/** The `index`-th value (as written) of a parsed INSERT row. */
export function rowValue(row: string, index: number): string {
  const c = new Cursor(row);
  let p = 1;
  for (let i = 0; i < index; i++) p = c.value(p) + 2;
  return row.slice(p, c.value(p));
}

/** Every value (as written) of a parsed INSERT row. */
export function rowValues(row: string): string[] {
  const c = new Cursor(row);
  const out: string[] = [];
  for (let p = 1; p < row.length;) {
    const e = c.value(p);
    out.push(row.slice(p, e));
    p = e + 2;
  }
  return out;
}
