/**
 * Rows of the renderer's INSERTs as COPY text-format data (`COPY t (cols) FROM STDIN`), for the
 * applier's merged INSERT runs (merge-changes.ts, merge-sql.ts).
 *
 * Why the row stored is the very row the INSERT would store:
 * - Each value of a parsed INSERT row (change-lines.ts) is `NULL` or a literal written by
 *   `quoteLiteral` under `standard_conforming_strings = on` (the segment header's setting): `'…'`
 *   whose only escape is `''`, or `E'…'` whose only escapes are `''`, `\\`, `\n`, `\r`. The
 *   literal's string is therefore known exactly here, and COPY text format carries any string
 *   exactly: `\N` for NULL, and `\\`, `\t`, `\n`, `\r` for the four characters that would
 *   otherwise end a field or a row (or start an escape). A backslash is always escaped, so no
 *   field can be read as the end-of-data marker `\.`.
 * - COPY hands that string to the column type's input function, as an INSERT does for an untyped
 *   literal. The INSERT passes typmod -1 (except for interval) and then applies the column's
 *   typmod by assignment; COPY passes the column's typmod to the input function at once. The two
 *   differ only for types whose input applies a typmod differently from their length coercion,
 *   so the applier uses COPY only on tables whose columns have no typmod or are of the built-in
 *   types whose input reads the typmod exactly as the assignment cast applies it (table-shapes.ts
 *   `copy`).
 * - Which columns, defaults and identity: the COPY names the INSERT's columns, every
 *   non-generated column of the table, so no default is evaluated; COPY writes identity columns
 *   as `OVERRIDING SYSTEM VALUE` does, so it is used for an INSERT without that clause only when
 *   the table has no GENERATED ALWAYS identity column (otherwise that INSERT fails, and COPY would
 *   not).
 * - COPY ignores rules and refuses row-level security: it is used on quiet tables only
 *   (merge-changes.ts, 1), where no rule, trigger or policy applies to the INSERT either.
 */
import type { InsertChange } from './change-lines';

const QUOTE = 39;
const BACKSLASH = 92;
const TAB = 9;
const CR = 13;
const LF = 10;
const COMMA = 44;
const SPACE = 32;
const CLOSE = 41;
const N = 78;
const E = 69;
const LOWER_T = 116;
const LOWER_R = 114;
const LOWER_N = 110;

/**
 * Parsed INSERT rows, each `(<v>, …)` as written (change-lines.ts), as COPY text-format data: one
 * line per row ending with `\n`, in one Buffer. Throws on anything that is not that form (a parser
 * bug, never data).
 *
 * Each row is written as UTF-8 and rewritten byte by byte: the literal syntax is ASCII, and no byte
 * of a multi-byte UTF-8 character is below 0x80, so quotes, backslashes, tabs and line breaks are
 * found in the bytes as in the characters. One buffer and no string per row or field: building the
 * data as strings cost most of the applier's garbage collection.
 */
export function copyRows(rows: readonly string[]): Buffer {
  let chars = 0;
  for (const row of rows) chars += row.length;
  let out = Buffer.allocUnsafe(Math.max(256, chars + (chars >> 2)));
  let scratch = Buffer.allocUnsafe(256);
  let at = 0;
  for (const row of rows) {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; a field at most doubles (every byte escaped).
    if (row.length * 3 > scratch.length) scratch = Buffer.allocUnsafe(row.length * 3);
    const n = scratch.write(row, 0, 'utf8');
    if (at + 2 * n > out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, at + 2 * n));
      out.copy(bigger, 0, 0, at);
      out = bigger;
    }
    at = copyRowBytes(scratch, n, out, at);
  }
  return out.subarray(0, at);
}

/** One row's bytes `b[0, n)` as a COPY line written into `out` at `at`; returns the end. */
function copyRowBytes(b: Buffer, n: number, out: Buffer, at: number): number {
  if (b[0] !== 40 /* ( */) throw new Error('copyRows: an INSERT row must start with (');
  let p = 1;
  for (;;) {
    if (b[p] === N && b[p + 1] === 85 && b[p + 2] === 76 && b[p + 3] === 76 /* NULL */) {
      out[at++] = BACKSLASH;
      out[at++] = N;
      p += 4;
    } else {
      // `'…'`: only `''` is an escape. `E'…'`: `''`, and `\\`, `\n`, `\r`, which are COPY's own escapes too.
      const escapes = b[p] === E;
      let i = escapes ? p + 1 : p;
      if (b[i] !== QUOTE) throw new Error(`copyRows: no literal at ${p} of an INSERT row`);
      i++;
      for (;;) {
        if (i >= n) throw new Error('copyRows: unterminated literal in an INSERT row');
        const c = b[i] as number;
        if (c === QUOTE) {
          // `\'` is no escape quoteLiteral writes (change-lines.ts refuses it): every quote is doubled or closes the literal.
          if (b[i + 1] !== QUOTE) break;
          out[at++] = QUOTE;
          i += 2;
        } else if (c === BACKSLASH) {
          out[at++] = BACKSLASH;
          if (escapes) {
            out[at++] = b[i + 1] as number;
            i += 2;
          } else {
            out[at++] = BACKSLASH;
            i++;
          }
        } else if (c === TAB || c === CR || c === LF) {
          out[at++] = BACKSLASH;
          out[at++] = c === TAB ? LOWER_T : c === CR ? LOWER_R : LOWER_N;
          i++;
        } else {
          out[at++] = c;
          i++;
        }
      }
      p = i + 1;
    }
    if (b[p] === CLOSE && p === n - 1) {
      out[at++] = LF;
      return at;
    }
    if (b[p] !== COMMA || b[p + 1] !== SPACE) throw new Error(`copyRows: unexpected text at ${p} of an INSERT row`);
    out[at++] = TAB;
    p += 2;
  }
}

/** `COPY <table> (<columns as written>) FROM STDIN;` for INSERTs of one head. */
export function copyStatement(first: InsertChange): string {
  const head = first.head;
  const over = head.endsWith(' OVERRIDING SYSTEM VALUE VALUES ');
  const end = head.length - ' VALUES '.length - (over ? ' OVERRIDING SYSTEM VALUE'.length : 0);
  return `COPY ${first.table} ${head.slice('INSERT INTO '.length + first.table.length + 1, end)} FROM STDIN;`;
}

/** True when the INSERT head carries `OVERRIDING SYSTEM VALUE`. */
export function overridesIdentity(head: string): boolean {
  return head.endsWith(' OVERRIDING SYSTEM VALUE VALUES ');
}
