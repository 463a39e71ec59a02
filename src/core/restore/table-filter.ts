/**
 * A partial restore's filter over one transaction's statements (decoded body, as the applier
 * holds it): the lines that change a chosen table, and the DDL that concerns one, in order;
 * everything else is left out. Pure; the applier calls it through a hook (restore/partial-apply.ts).
 *
 * What is kept (line shapes: docs/architecture.md "Segment format v1", core/segment/txn-log.ts):
 * - `INSERT INTO <t> …`, `UPDATE ONLY <t> …`, `UPDATE <t> …`, `DELETE FROM ONLY <t> …`,
 *   `DELETE FROM <t> …`, `-- update on <t> …`: when <t> is chosen (exact written form).
 * - `TRUNCATE ONLY a, ONLY b …`: rewritten to name only the chosen tables (left out when none).
 * - a DDL block (`-- ddl:` header to its end, core/restore/ddl-region.ts): when one of its objects
 *   is a chosen table (or in a chosen schema), or it is DDL on a type, domain, function or the
 *   like (those stay in the partial base, so their changes apply; `keepNonRelationDdl`), or a
 *   `CREATE INDEX` whose statement names a chosen table (its header names only the index). Any
 *   other block is left out and its header returned in `skippedDdl`, for the restore report.
 * - `SELECT pg_catalog.setval('<seq>', …);`: when the sequence is one the partial base kept.
 * - comments, markers and anything else: kept (they change no table).
 * Lines inside a DDL block are never read as row changes (a function body may hold such lines).
 */
import { ddlRegionEnd, isDdlHeader } from './ddl-region';
import { ddlObjects } from '../segment/txn-log';
import { createIndexTarget, searchPathSchemas } from '../ddl/index-target';
import type { SelectionMatcher } from './table-selection';

export interface BodyFilterResult {
  sql: string;
  /** Header lines (`-- ddl: …`) of DDL blocks left out. */
  skippedDdl: string[];
  /** Row-change and TRUNCATE lines left out. */
  droppedLines: number;
}

export interface BodyFilterOptions {
  matcher: SelectionMatcher;
  /** `setval` literals (table-selection.ts setvalLiteral) of the sequences the partial base kept. */
  sequences: ReadonlySet<string>;
}

/** DDL tags whose object is not a relation: applied, since those objects stay in a partial base. */
const NON_RELATION =
  /^(?:CREATE|ALTER|DROP|CREATE OR REPLACE) (?:TYPE|DOMAIN|FUNCTION|PROCEDURE|AGGREGATE|OPERATOR(?: CLASS| FAMILY)?|COLLATION|CONVERSION|CAST|EXTENSION|SCHEMA|TEXT SEARCH [A-Z]+|ROUTINE)$/;

const ROW_PREFIXES = ['INSERT INTO ', 'UPDATE ONLY ', 'DELETE FROM ONLY ', 'DELETE FROM ', 'UPDATE ', '-- update on '] as const;
const SETVAL = 'SELECT pg_catalog.setval(';

const SEARCH_PATH_SET = /^SELECT pg_catalog\.set_config\('search_path', '((?:[^']|'')*)', true\);$/;

/**
 * A `CREATE INDEX` block on a chosen table: the statement's table, qualified or resolved through
 * the block's search_path (kept when any schema on the path holds a chosen table of that name).
 */
function indexOnChosenTable(block: readonly string[], matcher: SelectionMatcher): boolean {
  let path: string[] = [];
  const statement: string[] = [];
  for (const line of block.slice(1)) {
    const set = SEARCH_PATH_SET.exec(line);
    if (set) {
      if (statement.length === 0) path = searchPathSchemas((set[1] as string).replace(/''/g, "'"));
      continue;
    }
    if (line.startsWith('-- ') || line.startsWith('SET ROLE ') || line === 'RESET ROLE;' || line.startsWith('SELECT pg_catalog.set_config(')) continue;
    statement.push(line);
  }
  const target = createIndexTarget(statement.join('\n'));
  if (!target) return false;
  return target.schema !== null ? matcher.table(target.schema, target.name) : path.some((schema) => matcher.table(schema, target.name));
}

/** End of an identifier at `p` (bare, `"…"` or `U&"…"`), or -1. */
function identEnd(s: string, p: number): number {
  if (s.startsWith('U&"', p)) p += 2;
  if (s.charCodeAt(p) === 0x22) {
    for (let i = p + 1; i < s.length; i++) {
      if (s.charCodeAt(i) !== 0x22) continue;
      if (s.charCodeAt(i + 1) === 0x22) i++;
      else return i + 1;
    }
    return -1;
  }
  let i = p;
  while (i < s.length && /[a-z0-9_$\u0080-\uffff]/.test(s[i] as string)) i++;
  return i > p ? i : -1;
}

/** The `schema.name` written at `p`, or null. */
function qualifiedAt(s: string, p: number): string | null {
  const a = identEnd(s, p);
  if (a < 0 || s.charCodeAt(a) !== 0x2e) return null;
  const e = identEnd(s, a + 1);
  return e < 0 ? null : s.slice(p, e);
}

/** The tag of a `-- ddl: <TAG WORDS> <objects> role …` header. */
export function ddlTag(header: string): string {
  const m = /^-- ddl: ((?:[A-Z]+ )*[A-Z]+)(?: |$)/.exec(header);
  return m ? (m[1] as string) : '';
}

/** `TRUNCATE ONLY a, ONLY b[ RESTART IDENTITY][ CASCADE];` with only the chosen tables, or null when none. */
function truncateChosen(line: string, matcher: SelectionMatcher): { line: string | null; dropped: number } {
  const names: string[] = [];
  let p = 9;
  for (;;) {
    if (line.startsWith('ONLY ', p)) p += 5;
    const t = qualifiedAt(line, p);
    if (t === null) return { line, dropped: 0 }; // not the renderer's form: as written
    names.push(t);
    p += t.length;
    if (!line.startsWith(', ', p)) break;
    p += 2;
  }
  const kept = names.filter((t) => matcher.rowTable(t));
  if (kept.length === names.length) return { line, dropped: 0 };
  if (kept.length === 0) return { line: null, dropped: 1 };
  return { line: `TRUNCATE ${kept.map((t) => `ONLY ${t}`).join(', ')}${line.slice(p)}`, dropped: 0 };
}

/** The statements of one transaction body that concern the chosen tables (module comment). */
export function filterBody(sql: string, options: BodyFilterOptions): BodyFilterResult {
  const { matcher, sequences } = options;
  const lines = sql.split('\n');
  const out: string[] = [];
  const skippedDdl: string[] = [];
  let droppedLines = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (isDdlHeader(line)) {
      const end = ddlRegionEnd(lines, i);
      const tag = ddlTag(line);
      const keep =
        ddlObjects(line).some((o) => matcher.ddlObject(o)) ||
        NON_RELATION.test(tag) ||
        (tag === 'CREATE INDEX' && indexOnChosenTable(lines.slice(i, end), matcher));
      if (keep) for (let k = i; k < end; k++) out.push(lines[k] as string);
      else skippedDdl.push(line);
      i = end - 1;
      continue;
    }
    const prefix = ROW_PREFIXES.find((pre) => line.startsWith(pre));
    if (prefix !== undefined) {
      const t = qualifiedAt(line, prefix.length);
      const after = t === null ? '' : line.charAt(prefix.length + t.length);
      if (t !== null && (after === ' ' || after === ';')) {
        if (matcher.rowTable(t)) out.push(line);
        else droppedLines++;
        continue;
      }
    } else if (line.startsWith('TRUNCATE ')) {
      const r = truncateChosen(line, matcher);
      droppedLines += r.dropped;
      if (r.line !== null) out.push(r.line);
      continue;
    } else if (line.startsWith(SETVAL)) {
      const lit = /^SELECT pg_catalog\.setval\(((?:E'(?:[^'\\]|''|\\.)*')|(?:'(?:[^']|'')*')), /.exec(line);
      if (lit && !sequences.has(lit[1] as string)) continue;
    }
    out.push(line);
  }
  return { sql: out.join('\n'), skippedDdl, droppedLines };
}
