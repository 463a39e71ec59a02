/**
 * Exact INSERT merging for the applier: runs of consecutive one-row INSERT lines of a source
 * transaction's body, with the same target, columns and OVERRIDING clause, become one multi-row
 * INSERT (the server executes it several times faster; the rows, their order and their values
 * are the same: in `INSERT … VALUES`, each row's untyped literals are coerced to the target
 * columns one row at a time, exactly as for a one-row INSERT).
 *
 * Only lines the capture renderer wrote (src/core/sql/render.ts) are merged, recognised by their
 * exact form, whole line, nothing else on it:
 * `INSERT INTO <name> (<col>, …)[ OVERRIDING SYSTEM VALUE] VALUES (<v>, …);` where each name is
 * `quoteIdent` output and each value is `NULL` or `quoteLiteral` output. Outside DDL blocks every
 * body line is one whole statement (literals never hold a raw newline, docs/architecture.md);
 * DDL blocks (`ddl-region.ts`) are copied untouched, and so is everything after a block whose end
 * is not certain. The merged statement keeps the lines' common prefix up to `VALUES ` and joins
 * their row lists with `, `.
 *
 * Row-count and size limits bound one statement. Statement-level and AFTER row triggers would see
 * one statement instead of several: the applier merges only when none can fire (see
 * src/restore/apply-segments.ts).
 */
import { ddlRegionEnd, isDdlHeader } from './ddl-region';

/** Limits of one merged statement. */
export interface MergeLimits {
  /** At most this many rows per statement (default 1000). */
  maxRows?: number;
  /** A statement grows no longer than this many characters, unless it is a single row (default 1 MiB). */
  maxChars?: number;
}

export const DEFAULT_MERGE_LIMITS: Required<MergeLimits> = { maxRows: 1000, maxChars: 1024 * 1024 };

// Unrolled (`a*(?:b a*)*`) rather than `(?:a|b)*`: one regex step per run of plain characters.
const IDENT = '(?:[a-z_][a-z0-9_]*|"[^"]*(?:""[^"]*)*")';
const VALUE = "(?:NULL|'[^']*(?:''[^']*)*'|E'[^'\\\\]*(?:(?:''|\\\\[\\\\nr])[^'\\\\]*)*')";
/** A renderer INSERT line: group 1 is everything up to and including `VALUES `. */
const INSERT_LINE = new RegExp(
  `^(INSERT INTO ${IDENT}(?:\\.${IDENT})? \\(${IDENT}(?:, ${IDENT})*\\)(?: OVERRIDING SYSTEM VALUE)? VALUES )\\(${VALUE}(?:, ${VALUE})*\\);$`,
);

/** A renderer one-row INSERT line split into its prefix (through `VALUES `) and row (`(…)`). */
export interface InsertLine {
  prefix: string;
  row: string;
}

/** Splits a line of the exact renderer INSERT form; null for any other line. */
export function parseInsertLine(line: string): InsertLine | null {
  if (!line.startsWith('INSERT INTO ') || !line.endsWith(');')) return null;
  const m = INSERT_LINE.exec(line);
  if (!m) return null;
  const prefix = m[1] as string;
  return { prefix, row: line.slice(prefix.length, -1) };
}

/**
 * The body with runs of mergeable INSERT lines merged (see the module comment); every other
 * line, and the line structure, unchanged. Returns `body` itself when nothing merges.
 * `body` is a transaction's statements: lines ending with `\n`.
 */
export function mergeInserts(body: string, limits: MergeLimits = {}): string {
  const maxRows = limits.maxRows ?? DEFAULT_MERGE_LIMITS.maxRows;
  const maxChars = limits.maxChars ?? DEFAULT_MERGE_LIMITS.maxChars;
  const lines = body.split('\n');
  const out: string[] = [];
  let merged = false;
  let prefix: string | null = null;
  let rows: string[] = [];
  let firstLine = '';
  let chars = 0;
  const flush = (): void => {
    if (prefix === null) return;
    if (rows.length === 1) out.push(firstLine);
    else {
      out.push(`${prefix}${rows.join(', ')};`);
      merged = true;
    }
    prefix = null;
    rows = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (isDdlHeader(line)) {
      flush();
      const end = ddlRegionEnd(lines, i);
      for (let k = i; k < end; k++) out.push(lines[k] as string);
      i = end - 1;
      continue;
    }
    const insert = parseInsertLine(line);
    if (insert === null) {
      flush();
      out.push(line);
    } else if (insert.prefix === prefix && rows.length < maxRows && chars + 2 + insert.row.length <= maxChars) {
      rows.push(insert.row);
      chars += 2 + insert.row.length;
    } else {
      flush();
      prefix = insert.prefix;
      rows = [insert.row];
      firstLine = line;
      chars = line.length;
    }
  }
  flush();
  return merged ? out.join('\n') : body;
}
