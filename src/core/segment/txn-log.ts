/**
 * `pgincr log`'s transaction filter: segment bytes in, one summary per transaction out (xid,
 * commit LSN and time, statements counted per table and kind, the matching statements on
 * request). Pure and streaming: `push` chunks split anywhere; a statement line is never turned
 * into a string unless it is shown or a `--where` must look at it (the bulk of a segment is
 * INSERT lines whose table name is all that is read).
 *
 * What a body line counts as (docs/architecture.md "Segment format v1"; src/core/sql/render.ts,
 * capture-tables.ts):
 * - `INSERT INTO <t> …`                                  INSERT on <t>
 * - `UPDATE ONLY <t> …`, `UPDATE <t> …` (partitioned root), `-- update on <t> writes no column`  UPDATE
 * - `DELETE FROM ONLY <t> …`, `DELETE FROM <t> …`         DELETE
 * - `TRUNCATE ONLY a, ONLY b …`                           TRUNCATE on each table named
 * - `-- ddl: <tag> <objects> role <r> at <time>` and the block after it (`SET ROLE`,
 *   `set_config` lines, the statement over any number of lines, `RESET ROLE;`), or its
 *   `-- not replayed: …` line: one DDL on each object named (`schema.name`, the first two parts of
 *   each object identity: a column `public.t.c` counts for `public.t`). Lines inside the block are
 *   never counted as INSERT/UPDATE/… (a function body may hold such lines).
 * - `-- pgincr: REFUSED …` (a forged capture row, docs/security.md): counted as `refused`.
 * - anything else (`setval` lines, markers, comments): not counted.
 * Table names are compared exactly as written: `quote_ident` form, `U&"…"` for names with
 * control characters ({@link tableName} turns user input into that form).
 */
import { formatLsn, parseLsn, type Lsn } from '../lsn';
import { renderPgTime } from './commit-time';
import { quoteIdent, quoteLiteral } from '../sql/quote';
import { BEGIN_PREFIX, COMMIT_PREFIX, parseBeginLine, parseCommitLine } from './grammar';
import { splitUserName } from '../sql/user-name';

export const STATEMENT_KINDS = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'DDL'] as const;
export type StatementKind = (typeof STATEMENT_KINDS)[number];

/** `--where col=value`: the column's name (as the user means it, unquoted) and the literal as segments write it. */
export interface WhereFilter {
  column: string;
  /** quoteLiteral(value): `'42'`. */
  literal: string;
}

export interface LogFilter {
  /** Commit LSN window, inclusive. */
  fromLsn?: Lsn;
  toLsn?: Lsn;
  /** Commit time window, inclusive, canonical (`normalizeTime`). */
  fromTime?: string;
  toTime?: string;
  /** Qualified names as segments write them (byte strings). */
  tables?: ReadonlySet<string>;
  kinds?: ReadonlySet<StatementKind>;
  where?: WhereFilter;
  /** Keep the matching statements (all the body when there is no table, kind or where filter). */
  show?: boolean;
  /** Statements kept per transaction with `show` (default 1000); the rest are counted. */
  showMax?: number;
}

export type KindCounts = Partial<Record<StatementKind, number>>;

export interface TxnSummary {
  xid: number;
  commitLsn: string;
  endLsn: string;
  /** Canonical `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
  commitTime: string;
  /** Per table (as written), per kind. */
  tables: Record<string, KindCounts>;
  /** Statements that matched the table, kind and where filters (all statements without filters). */
  matched: number;
  /** `-- pgincr: REFUSED` lines. */
  refused: number;
  statements?: string[];
  /** Matching statements not kept (over `showMax`). */
  statementsOmitted?: number;
}

/**
 * A table as the user names it (`public.orders`, `orders`, `"My Table"`, `sales."Q1"`) in the
 * form segments write it: `quote_ident(schema).quote_ident(name)`, schema `public` when none is
 * given. Throws naming the input when it is not a name.
 */
export function tableName(input: string): string {
  const parts = splitUserName(input.trim());
  if (!parts || parts.length < 1 || parts.length > 2) {
    throw new Error(`--tables: ${JSON.stringify(input)} is not a table name; write schema.table (public.orders) or a quoted name ("My Table")`);
  }
  const [schema, table] = parts.length === 2 ? (parts as [string, string]) : ['public', parts[0] as string];
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** `--where col=value` (the value taken as text, as the row's text form: `id=42` matches `'42'`). */
export function parseWhere(input: string): WhereFilter {
  const eq = input.indexOf('=');
  const col = eq > 0 ? splitUserName(input.slice(0, eq).trim()) : null;
  if (!col || col.length !== 1) {
    throw new Error(`--where: ${JSON.stringify(input)} is not column=value; write e.g. --where id=42 or --where '"Order Id"=42'`);
  }
  return { column: col[0] as string, literal: quoteLiteral(input.slice(eq + 1)) };
}

/** The kinds of `--kind delete,ddl`. */
export function parseKinds(input: string): Set<StatementKind> {
  const out = new Set<StatementKind>();
  for (const raw of input.split(',')) {
    const k = raw.trim().toUpperCase();
    if (!(STATEMENT_KINDS as readonly string[]).includes(k)) {
      throw new Error(`--kind: ${JSON.stringify(raw.trim())} is not one of ${STATEMENT_KINDS.join(', ')}`);
    }
    out.add(k as StatementKind);
  }
  return out;
}

const b = (s: string) => Buffer.from(s, 'latin1');
/** Lines of one transaction remembered before it is counted as it goes (TxnLogFilter). */
const RECORD_MAX = 100_000;
const P_BEGIN = b(BEGIN_PREFIX);
const P_COMMIT = b(COMMIT_PREFIX);
const P_INSERT = b('INSERT INTO ');
const P_UPDATE_ONLY = b('UPDATE ONLY ');
const P_UPDATE = b('UPDATE ');
const P_DELETE_ONLY = b('DELETE FROM ONLY ');
const P_DELETE = b('DELETE FROM ');
const P_TRUNCATE = b('TRUNCATE ');
const P_DDL = b('-- ddl: ');
const P_NO_COLUMN = b('-- update on ');
const P_REFUSED = b('-- pgincr: REFUSED ');
const P_NOT_REPLAYED = b('-- not replayed: ');
const P_SEARCH_PATH = b("SELECT pg_catalog.set_config('search_path', ");
const DDL_BLOCK_END = b("SELECT pg_catalog.set_config('search_path', '', true);");
const RESET_ROLE = b('RESET ROLE;');

function has(buf: Buffer, s: number, e: number, prefix: Buffer): boolean {
  return e - s >= prefix.length && buf.compare(prefix, 0, prefix.length, s, s + prefix.length) === 0;
}

/** End of an identifier at `p` (bare, `"…"` or `U&"…"`), or -1. */
function identEnd(buf: Buffer, p: number, e: number): number {
  let c = buf[p];
  if (c === 0x55 /* U */ && buf[p + 1] === 0x26 /* & */ && buf[p + 2] === 0x22) {
    p += 2;
    c = 0x22;
  }
  if (c === 0x22) {
    for (let i = p + 1; i < e; i++) {
      if (buf[i] !== 0x22) continue;
      if (buf[i + 1] === 0x22) i++;
      else return i + 1;
    }
    return -1;
  }
  let i = p;
  while (i < e) {
    const d = buf[i] as number;
    if ((d >= 0x61 && d <= 0x7a) || (d >= 0x30 && d <= 0x39) || d === 0x5f || d === 0x24 || d >= 0x80) i++;
    else break;
  }
  return i > p ? i : -1;
}

/** End of `ident.ident` at `p`, or -1. */
function qualifiedEnd(buf: Buffer, p: number, e: number): number {
  const a = identEnd(buf, p, e);
  if (a < 0 || buf[a] !== 0x2e) return -1;
  return identEnd(buf, a + 1, e);
}

/** The `schema.name` of each object identity in a `-- ddl:` header's objects text. */
export function ddlObjects(header: string): string[] {
  // `-- ddl: <TAG WORDS> <objects> role <role> at <time>`; tags are upper-case words, identities never start with one.
  const body = header.slice(8);
  const roleAt = body.lastIndexOf(' role ');
  const text = roleAt >= 0 ? body.slice(0, roleAt) : body;
  const m = /^(?:[A-Z]+ )*[A-Z]+(?: |$)/.exec(text);
  const objects = m ? text.slice(m[0].length) : '';
  const out: string[] = [];
  const buf = b(objects);
  let p = 0;
  while (p < buf.length) {
    const end = qualifiedEnd(buf, p, buf.length);
    if (end > 0) out.push(objects.slice(p, end));
    // next identity: after the next ", " outside quotes and parentheses
    let depth = 0;
    let i = end > 0 ? end : p;
    for (; i < buf.length; i++) {
      const c = buf[i];
      if (c === 0x22) {
        const q = identEnd(buf, i, buf.length);
        i = (q < 0 ? buf.length : q) - 1;
      } else if (c === 0x28) depth++;
      else if (c === 0x29) depth--;
      else if (c === 0x2c && depth <= 0 && buf[i + 1] === 0x20) break;
    }
    p = i + 2;
  }
  return [...new Set(out)];
}

/** Tables of `TRUNCATE ONLY a, ONLY b[ RESTART IDENTITY][ CASCADE];` from after `TRUNCATE `. */
function truncateTables(line: string): string[] {
  const buf = b(line);
  const out: string[] = [];
  let p = 9;
  for (;;) {
    if (line.startsWith('ONLY ', p)) p += 5;
    const end = qualifiedEnd(buf, p, buf.length);
    if (end < 0) break;
    out.push(line.slice(p, end));
    if (!line.startsWith(', ', end)) break;
    p = end + 2;
  }
  return out;
}

/** `ddl-tail`: just after a DDL block's last `set_config`, where its `RESET ROLE;` may follow. */
type Mode = 'body' | 'ddl-head' | 'ddl-body' | 'ddl-tail';

interface Open {
  /** The BEGIN line, parsed only when the transaction is listed (most are not). */
  begin: string;
  tables: Map<string, KindCounts>;
  matched: number;
  refused: number;
  statements: string[];
  omitted: number;
  /** The DDL block being read matched the filters (its lines are shown). */
  ddlShown: boolean;
}

/** The filter over one or more segments' bytes; summaries of listed transactions go to `emit`. */
export class TxnLogFilter {
  private carry: Buffer[] = [];
  private open: Open | null = null;
  /** Inside a transaction outside the window: only its COMMIT is looked for. */
  private skipping = false;
  private mode: Mode = 'body';
  private lastTable: Buffer = Buffer.alloc(0);
  private lastTableName = '';
  private readonly filtering: boolean;
  private readonly keepAll: boolean;
  /** The window's times as segments write them (`2026-11-27 14:00:00.123456+00`). */
  private readonly fromPgTime: string | null;
  private readonly toPgTime: string | null;
  /** Counts of the open transaction (one Map, cleared per transaction). */
  private readonly tables = new Map<string, KindCounts>();
  private readonly showMax: number;
  /**
   * With a filter, a transaction is first read for a match only (most lines cost a first-byte
   * check); its lines are remembered and counted only when it matched. `counting`: this pass
   * counts; `matching`: this pass checks the filters. A transaction past RECORD_MAX lines is
   * counted as it goes, so memory stays bounded.
   */
  private readonly deferred: boolean;
  private counting = true;
  private matching = true;
  private recBufs: Buffer[] = [];
  private recStarts: number[] = [];
  private recEnds: number[] = [];
  private readonly wantedTables: Buffer[];
  /** A BEGIN past `toLsn` was seen: commit LSNs grow within a segment, so the rest of it is out of the window. */
  pastEnd = false;

  constructor(
    private readonly filter: LogFilter,
    private readonly emit: (t: TxnSummary) => void,
  ) {
    this.filtering = Boolean(filter.tables || filter.kinds || filter.where);
    this.showMax = filter.showMax ?? 1000;
    this.keepAll = !this.filtering && filter.show === true;
    this.fromPgTime = filter.fromTime === undefined ? null : renderPgTime(filter.fromTime);
    this.toPgTime = filter.toTime === undefined ? null : renderPgTime(filter.toTime);
    this.deferred = this.filtering;
    this.wantedTables = [...(filter.tables ?? [])].map((t) => Buffer.from(t, 'latin1'));
  }

  push(chunk: Buffer): void {
    let pos = 0;
    if (this.carry.length > 0) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        this.carry.push(Buffer.from(chunk));
        return;
      }
      const line = Buffer.concat([...this.carry, chunk.subarray(0, nl)]);
      this.carry = [];
      this.line(line, 0, line.length);
      pos = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(10, pos);
      if (nl < 0) break;
      this.line(chunk, pos, nl);
      pos = nl + 1;
    }
    if (pos < chunk.length) this.carry.push(Buffer.from(chunk.subarray(pos)));
  }

  /** Ends one segment: a transaction without its COMMIT (torn tail of an open segment) is dropped. */
  endSegment(): void {
    this.carry = [];
    this.open = null;
    this.skipping = false;
    this.mode = 'body';
  }

  private line(buf: Buffer, s: number, e: number): void {
    const c = buf[s];
    if (this.open === null && !this.skipping) {
      if (c === 0x42 && has(buf, s, e, P_BEGIN)) this.begin(buf.toString('latin1', s, e));
      return;
    }
    if (c === 0x43 && has(buf, s, e, P_COMMIT)) return this.commit(buf, s, e);
    if (c === 0x42 && has(buf, s, e, P_BEGIN)) {
      // BEGIN inside a transaction: the segment is malformed there; start over at this BEGIN.
      this.open = null;
      this.skipping = false;
      this.mode = 'body';
      return this.begin(buf.toString('latin1', s, e));
    }
    if (this.skipping) return;
    if (this.deferred && !this.counting) {
      // too long to remember: count what was, then this line and the rest as they come
      if (this.recBufs.length >= RECORD_MAX) this.countRecorded(true);
      else {
        this.recBufs.push(buf);
        this.recStarts.push(s);
        this.recEnds.push(e);
      }
    }
    this.body(buf, s, e, c as number);
  }

  /** Counts the remembered lines of the open transaction; `andGoOn`: then count the rest as it comes. */
  private countRecorded(andGoOn: boolean): void {
    const mode = this.mode;
    const shown = this.open!.ddlShown;
    this.mode = 'body';
    this.counting = true;
    this.matching = false;
    for (let i = 0; i < this.recBufs.length; i++) {
      const buf = this.recBufs[i] as Buffer;
      const s = this.recStarts[i] as number;
      this.body(buf, s, this.recEnds[i] as number, buf[s] as number);
    }
    this.recBufs = [];
    this.recStarts = [];
    this.recEnds = [];
    this.matching = true;
    this.counting = andGoOn;
    this.mode = mode;
    this.open!.ddlShown = shown;
  }

  private body(buf: Buffer, s: number, e: number, c: number): void {
    // Without a table, kind or where filter, --show is the whole body as written.
    if (this.keepAll) this.keep(buf.toString('latin1', s, e));
    if (this.mode === 'ddl-tail') {
      this.mode = 'body';
      if (e - s === RESET_ROLE.length && has(buf, s, e, RESET_ROLE)) {
        if (this.open!.ddlShown) this.keep(buf.toString('latin1', s, e));
        return;
      }
    }
    if (this.mode !== 'body') return this.ddlLine(buf, s, e);
    switch (c) {
      case 0x49: // I
        if (has(buf, s, e, P_INSERT)) return this.statement('INSERT', buf, s, e, s + 12);
        return;
      case 0x55: // U
        if (has(buf, s, e, P_UPDATE_ONLY)) return this.statement('UPDATE', buf, s, e, s + 12);
        if (has(buf, s, e, P_UPDATE)) return this.statement('UPDATE', buf, s, e, s + 7);
        return;
      case 0x44: // D
        if (has(buf, s, e, P_DELETE_ONLY)) return this.statement('DELETE', buf, s, e, s + 17);
        if (has(buf, s, e, P_DELETE)) return this.statement('DELETE', buf, s, e, s + 12);
        return;
      case 0x54: // T
        if (has(buf, s, e, P_TRUNCATE)) {
          const line = buf.toString('latin1', s, e);
          const tables = truncateTables(line);
          for (const t of tables) this.count(t, 'TRUNCATE');
          this.consider(line, tables, 'TRUNCATE');
        }
        return;
      case 0x2d: // -
        if (has(buf, s, e, P_DDL)) return this.ddlHeader(buf.toString('latin1', s, e));
        if (has(buf, s, e, P_NO_COLUMN)) return this.statement('UPDATE', buf, s, e, s + P_NO_COLUMN.length);
        if (has(buf, s, e, P_REFUSED) && this.counting) this.open!.refused++;
        return;
    }
  }

  private begin(line: string): void {
    const f = this.filter;
    // Cheap window checks on the marker's text (fixed-width times compare as text); the line is
    // parsed in full only for a transaction that is listed.
    if (f.fromLsn !== undefined || f.toLsn !== undefined) {
      const at = line.indexOf(' commit_lsn ');
      const end = line.indexOf(' ', at + 12);
      let lsn: Lsn;
      try {
        lsn = parseLsn(line.slice(at + 12, end));
      } catch {
        return; // malformed marker: not a transaction (the scanner of `pgincr check` reports it)
      }
      if (f.toLsn !== undefined && lsn > f.toLsn) this.pastEnd = true;
      if ((f.fromLsn !== undefined && lsn < f.fromLsn) || (f.toLsn !== undefined && lsn > f.toLsn)) return this.skip();
    }
    if (this.fromPgTime !== null || this.toPgTime !== null) {
      const time = line.slice(line.indexOf(' committed ') + 11);
      if ((this.fromPgTime !== null && time < this.fromPgTime) || (this.toPgTime !== null && time > this.toPgTime)) return this.skip();
    }
    this.mode = 'body';
    this.tables.clear();
    this.counting = !this.deferred;
    this.recBufs = [];
    this.recStarts = [];
    this.recEnds = [];
    this.open = { begin: line, tables: this.tables, matched: 0, refused: 0, statements: [], omitted: 0, ddlShown: false };
  }

  private skip(): void {
    this.mode = 'body';
    this.skipping = true;
    this.open = null;
  }

  private commit(buf: Buffer, s: number, e: number): void {
    const open = this.open;
    this.open = null;
    this.skipping = false;
    this.mode = 'body';
    if (!open) return;
    if (this.filtering && open.matched === 0) {
      this.recBufs = [];
      this.recStarts = [];
      this.recEnds = [];
      return;
    }
    if (this.deferred && !this.counting) {
      this.open = open;
      this.countRecorded(false);
      this.open = null;
    }
    const begin = parseBeginLine(open.begin);
    const meta = parseCommitLine(buf.toString('latin1', s, e));
    if (!begin || !meta || meta.xid !== begin.xid) return;
    const tables: Record<string, KindCounts> = {};
    let total = 0;
    for (const [t, counts] of open.tables) {
      tables[t] = counts;
      for (const k in counts) total += counts[k as StatementKind] ?? 0;
    }
    this.emit({
      xid: begin.xid,
      commitLsn: formatLsn(begin.commitLsn),
      endLsn: formatLsn(meta.endLsn),
      commitTime: begin.commitTime,
      tables,
      matched: this.filtering ? open.matched : total,
      refused: open.refused,
      ...(this.filter.show ? { statements: open.statements, ...(open.omitted ? { statementsOmitted: open.omitted } : {}) } : {}),
    });
  }

  private count(table: string, kind: StatementKind): void {
    if (!this.counting) return;
    const tables = this.open!.tables;
    let counts = tables.get(table);
    if (!counts) tables.set(table, (counts = {}));
    counts[kind] = (counts[kind] ?? 0) + 1;
  }

  private keep(line: string): void {
    const open = this.open!;
    if (open.statements.length < this.showMax) open.statements.push(line);
    else open.omitted++;
  }

  /** Counts a row-change statement whose table starts at `p`; checks it against the filters. */
  private statement(kind: StatementKind, buf: Buffer, s: number, e: number, p: number): void {
    if (this.counting) {
      let name: string;
      const last = this.lastTable;
      const after = p + last.length;
      if (last.length > 0 && after < e && (buf[after] === 0x20 || buf[after] === 0x3b) && buf.compare(last, 0, last.length, p, after) === 0) {
        name = this.lastTableName;
      } else {
        const end = qualifiedEnd(buf, p, e);
        if (end < 0) return;
        this.lastTable = Buffer.from(buf.subarray(p, end));
        name = this.lastTableName = buf.toString('latin1', p, end);
      }
      this.count(name, kind);
    }
    if (!this.filtering || !this.matching) return;
    const f = this.filter;
    if (f.kinds && !f.kinds.has(kind)) return;
    if (f.tables && !this.wantedAt(buf, p, e)) return;
    const line = f.show || f.where ? buf.toString('latin1', s, e) : '';
    if (f.where && !this.whereMatches(line, f.where)) return;
    this.open!.matched++;
    if (f.show) this.keep(line);
  }

  /** One of the wanted tables is written at `p` (followed by a space or `;`). */
  private wantedAt(buf: Buffer, p: number, e: number): boolean {
    for (const t of this.wantedTables) {
      const after = p + t.length;
      if (after < e && (buf[after] === 0x20 || buf[after] === 0x3b) && buf.compare(t, 0, t.length, p, after) === 0) return true;
    }
    return false;
  }

  /** TRUNCATE and DDL: matched on any of their tables; a TRUNCATE matches every `--where` (it removes every row), DDL none. */
  private consider(line: string, tables: readonly string[], kind: 'TRUNCATE' | 'DDL'): boolean {
    const f = this.filter;
    if (!this.filtering || !this.matching) return false;
    if (f.tables && !tables.some((t) => f.tables!.has(t))) return false;
    if (f.kinds && !f.kinds.has(kind)) return false;
    if (f.where && kind === 'DDL') return false;
    this.open!.matched++;
    if (f.show) this.keep(line);
    return f.show === true;
  }

  private whereMatches(line: string, where: WhereFilter): boolean {
    return whereMatches(line, where);
  }

  private ddlHeader(line: string): void {
    const objects = ddlObjects(line);
    for (const t of objects) this.count(t, 'DDL');
    this.open!.ddlShown = this.consider(line, objects, 'DDL');
    this.mode = 'ddl-head';
  }

  /** A line of a DDL block (src/core/restore/ddl-region.ts shows its shape). */
  private ddlLine(buf: Buffer, s: number, e: number): void {
    const open = this.open!;
    const show = open.ddlShown;
    if (this.mode === 'ddl-head') {
      if (has(buf, s, e, P_NOT_REPLAYED)) this.mode = 'body';
      else if (has(buf, s, e, P_SEARCH_PATH)) this.mode = 'ddl-body';
      if (show) this.keep(buf.toString('latin1', s, e));
      return;
    }
    if (e - s === DDL_BLOCK_END.length && has(buf, s, e, DDL_BLOCK_END)) {
      if (show) this.keep(buf.toString('latin1', s, e));
      this.mode = 'ddl-tail';
      return;
    }
    if (show) this.keep(buf.toString('latin1', s, e));
  }
}

/** End of the literal (`'…'` or `E'…'`) at `p`, or -1. */
function literalEnd(s: string, p: number): number {
  let escapes = false;
  if (s.charCodeAt(p) === 0x45 /* E */) {
    escapes = true;
    p++;
  }
  if (s.charCodeAt(p) !== 0x27) return -1;
  for (let i = p + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c && escapes) i++;
    else if (c === 0x27) {
      if (s.charCodeAt(i + 1) === 0x27) i++;
      else return i + 1;
    }
  }
  return -1;
}

/**
 * `--where`: an INSERT whose row has the column's value equal to the literal; an UPDATE or
 * DELETE with `<col> = <literal>` in its key, its FULL-identity match (`<col> = <literal>::type`,
 * `format('%s', <col>) = <literal>`) or its SET list. Literals are skipped whole, so text inside
 * a value never matches.
 */
export function whereMatches(line: string, where: WhereFilter): boolean {
  const col = quoteIdent(where.column);
  if (line.startsWith('INSERT INTO ')) return insertValue(line, col) === where.literal;
  const eq = `${col} = `;
  const fmt = `${col}) = `;
  for (let i = 0; i < line.length;) {
    const c = line.charCodeAt(i);
    if (c === 0x27 || (c === 0x45 && line.charCodeAt(i + 1) === 0x27 && !isIdentByte(line.charCodeAt(i - 1)))) {
      const e = literalEnd(line, i);
      if (e < 0) return false;
      i = e;
      continue;
    }
    if (!isIdentByte(line.charCodeAt(i - 1)) && line.charCodeAt(i - 1) !== 0x22) {
      for (const head of [eq, fmt]) {
        if (!line.startsWith(head, i)) continue;
        const v = i + head.length;
        const e = literalEnd(line, v);
        if (e > 0 && line.slice(v, e) === where.literal) return true;
      }
    }
    if (c === 0x22) {
      const e = identEnd(Buffer.from(line.slice(i), 'latin1'), 0, line.length - i);
      i = e < 0 ? line.length : i + e;
      continue;
    }
    i++;
  }
  return false;
}

function isIdentByte(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80;
}

/** The value (as written) of column `col` (quoted as written) in `INSERT INTO t (…) … VALUES (…);`, or null. */
function insertValue(line: string, col: string): string | null {
  const buf = Buffer.from(line, 'latin1');
  const t = qualifiedEnd(buf, 12, buf.length);
  if (t < 0 || !line.startsWith(' (', t)) return null;
  let p = t + 2;
  let index = -1;
  for (let n = 0; ; n++) {
    const e = identEnd(buf, p, buf.length);
    if (e < 0) return null;
    if (line.slice(p, e) === col) index = n;
    if (line.startsWith(', ', e)) p = e + 2;
    else if (line.charCodeAt(e) === 0x29) {
      p = e + 1;
      break;
    } else return null;
  }
  if (index < 0) return null;
  if (line.startsWith(' OVERRIDING SYSTEM VALUE', p)) p += 24;
  if (!line.startsWith(' VALUES (', p)) return null;
  p += 9;
  for (let n = 0; ; n++) {
    const e = line.startsWith('NULL', p) ? p + 4 : literalEnd(line, p);
    if (e < 0) return null;
    if (n === index) return line.slice(p, e);
    if (!line.startsWith(', ', e)) return null;
    p = e + 2;
  }
}
