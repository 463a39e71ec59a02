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

/** A plain `'…'` literal's body (quotes still doubled) as COPY text. */
function plainField(body: string): string {
  let out = body.indexOf("''") < 0 ? body : body.replaceAll("''", "'");
  if (out.indexOf('\\') >= 0 || out.indexOf('\t') >= 0 || out.indexOf('\r') >= 0 || out.indexOf('\n') >= 0) {
    out = out.replace(/[\\\t\r\n]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : '\\n'));
  }
  return out;
}

/**
 * An `E'…'` literal's body as COPY text: its escapes `\\`, `\n`, `\r` are COPY's own and stay as
 * they are; `''` becomes `'`; a raw tab, CR or LF is escaped.
 */
function escapedField(body: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === BACKSLASH) {
      i++; // `\\`, `\n` or `\r`: copied as written
    } else if (c === QUOTE) {
      out += body.slice(from, i + 1);
      i++; // the second quote of `''`
      from = i + 1;
    } else if (c === TAB || c === CR || c === LF) {
      out += `${body.slice(from, i)}${c === TAB ? '\\t' : c === CR ? '\\r' : '\\n'}`;
      from = i + 1;
    }
  }
  return from === 0 ? body : out + body.slice(from);
}

/**
 * One parsed INSERT row, `(<v>, …)` as written (change-lines.ts), as a COPY text-format line
 * ending with `\n`. Throws on anything that is not that form (a parser bug, never data).
 */
export function copyLine(row: string): string {
  // Concatenation, not an array of pieces: measured twice as fast (no large array to grow and collect).
  let out = '';
  let p = 1;
  for (;;) {
    const c = row.charCodeAt(p);
    if (c === 78 /* N */ && row.startsWith('NULL', p)) {
      out += '\\N';
      p += 4;
    } else {
      const escapes = c === 69; /* E */
      const open = escapes ? p + 1 : p;
      if (row.charCodeAt(open) !== QUOTE) throw new Error(`copyLine: no literal at ${p} of an INSERT row`);
      let close = open + 1;
      for (;;) {
        const q = row.indexOf("'", close);
        if (q < 0) throw new Error('copyLine: unterminated literal in an INSERT row');
        // `\'` is no escape quoteLiteral writes (change-lines.ts refuses it): every quote is
        // doubled or closes the literal.
        if (row.charCodeAt(q + 1) === QUOTE) {
          close = q + 2;
          continue;
        }
        close = q;
        break;
      }
      const body = row.slice(open + 1, close);
      out += escapes ? escapedField(body) : plainField(body);
      p = close + 1;
    }
    if (row.charCodeAt(p) === 41 /* ) */ && p === row.length - 1) return `${out}\n`;
    if (row.charCodeAt(p) !== 44 /* , */ || row.charCodeAt(p + 1) !== 32) throw new Error(`copyLine: unexpected text at ${p} of an INSERT row`);
    out += '\t';
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
