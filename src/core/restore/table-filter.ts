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
 *   `CREATE INDEX` whose statement names a chosen table (its header names only the index). With
 *   `dependents` (the indexes, views and materialized views the target holds: all of kept
 *   relations), also: `CREATE INDEX` on a kept materialized view, `CREATE [MATERIALIZED] VIEW`
 *   whose query reads only kept relations (PostgreSQL's parser), and `ALTER`/`DROP INDEX`,
 *   `ALTER`/`DROP [MATERIALIZED] VIEW`, `REFRESH MATERIALIZED VIEW` of a dependent (a rename:
 *   the statement's old name); what is kept is added to `dependents`. An `ALTER TABLE … RENAME
 *   TO` / `SET SCHEMA` of a chosen table (its header names the new identity) is kept and the
 *   matcher follows the table under its new name. Any other block is left out and its header
 *   returned in `skippedDdl`, for the restore report.
 * - `SELECT pg_catalog.setval('<seq>', …);`: when the sequence is one the partial base kept.
 * - comments, markers and anything else: kept (they change no table).
 * Lines inside a DDL block are never read as row changes (a function body may hold such lines).
 */
import { ddlRegionEnd, isDdlHeader } from './ddl-region';
import { ddlObjects } from '../segment/txn-log';
import { createIndexTarget, movedTable, renamedRelation, searchPathSchemas, viewSources, type IndexTarget } from '../ddl/index-target';
import { commentText, regclassText } from '../sql/quote';
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
  /**
   * Indexes, views and materialized views of kept relations, as DDL headers write them
   * (`commentText(regclassText(schema, name))`): the target's at the start, then those the kept
   * DDL creates or renames (this set is updated in place, transaction by transaction).
   */
  dependents?: Set<string>;
}

/** DDL on an index or view, kept when that index or view is one of the dependents. */
const DEPENDENT_DDL = new Set([
  'ALTER INDEX',
  'DROP INDEX',
  'ALTER VIEW',
  'DROP VIEW',
  'ALTER MATERIALIZED VIEW',
  'DROP MATERIALIZED VIEW',
  'REFRESH MATERIALIZED VIEW',
]);

/** DDL tags whose object is not a relation: applied, since those objects stay in a partial base. */
const NON_RELATION =
  /^(?:CREATE|ALTER|DROP|CREATE OR REPLACE) (?:TYPE|DOMAIN|FUNCTION|PROCEDURE|AGGREGATE|OPERATOR(?: CLASS| FAMILY)?|COLLATION|CONVERSION|CAST|EXTENSION|SCHEMA|TEXT SEARCH [A-Z]+|ROUTINE)$/;

const ROW_PREFIXES = ['INSERT INTO ', 'UPDATE ONLY ', 'DELETE FROM ONLY ', 'DELETE FROM ', 'UPDATE ', '-- update on '] as const;
const SETVAL = 'SELECT pg_catalog.setval(';

const SEARCH_PATH_SET = /^SELECT pg_catalog\.set_config\('search_path', '((?:[^']|'')*)', true\);$/;

/** A DDL block's statement (its lines without the header, role switch and settings) and the search_path it runs with. */
function blockStatement(block: readonly string[]): { statement: string; path: string[] } {
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
  return { statement: statement.join('\n'), path };
}

/** A relation as a statement writes it is a kept one: qualified, or through the search_path (any schema on it). */
function resolves(ref: IndexTarget, path: readonly string[], kept: (schema: string, name: string) => boolean): boolean {
  return ref.schema !== null ? kept(ref.schema, ref.name) : path.some((schema) => kept(schema, ref.name));
}

/**
 * A chosen table renamed or moved to another schema (its header names only the new identity):
 * kept, and the matcher follows it under its new name, so its later changes apply.
 */
function followMovedTable(block: readonly string[], matcher: SelectionMatcher): boolean {
  const { statement, path } = blockStatement(block);
  const moved = movedTable(statement);
  if (!moved) return false;
  const schema = moved.table.schema ?? path.find((s) => matcher.table(s, moved.table.name));
  if (schema === undefined || !matcher.table(schema, moved.table.name)) return false;
  matcher.addTable({ schema: moved.newSchema ?? schema, name: moved.newName ?? moved.table.name });
  return true;
}

/** Whether a DDL block on an index or view concerns the kept relations (module comment); its tag is `tag`. */
function dependentDdl(tag: string, block: readonly string[], objects: readonly string[], matcher: SelectionMatcher, dependents?: Set<string>): boolean {
  const isDependent = (schema: string, name: string) => dependents?.has(commentText(regclassText(schema, name))) ?? false;
  const kept = (schema: string, name: string) => matcher.table(schema, name) || isDependent(schema, name);
  if (tag === 'CREATE INDEX') {
    const { statement, path } = blockStatement(block);
    const target = createIndexTarget(statement);
    return target !== null && resolves(target, path, kept);
  }
  if (!dependents) return false;
  if (tag === 'CREATE VIEW' || tag === 'CREATE MATERIALIZED VIEW') {
    const { statement, path } = blockStatement(block);
    const sources = viewSources(statement);
    return sources !== null && sources.length > 0 && sources.every((s) => resolves(s, path, kept));
  }
  if (!DEPENDENT_DDL.has(tag)) return false;
  if (objects.length > 0 && objects.every((o) => dependents.has(o))) return true;
  const { statement, path } = blockStatement(block);
  const renamed = renamedRelation(statement);
  return renamed !== null && resolves(renamed, path, isDependent);
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
      const objects = ddlObjects(line);
      const keep =
        objects.some((o) => matcher.ddlObject(o)) ||
        NON_RELATION.test(tag) ||
        dependentDdl(tag, lines.slice(i, end), objects, matcher, options.dependents) ||
        ((tag === 'ALTER TABLE' || tag === 'ALTER FOREIGN TABLE') && followMovedTable(lines.slice(i, end), matcher));
      if (keep) {
        for (let k = i; k < end; k++) out.push(lines[k] as string);
        // An index or view the kept DDL creates or renames is a dependent from now on.
        if (options.dependents && (tag === 'CREATE INDEX' || tag.endsWith(' VIEW') || tag === 'ALTER INDEX'))
          for (const o of objects) options.dependents.add(o);
      } else skippedDdl.push(line);
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
