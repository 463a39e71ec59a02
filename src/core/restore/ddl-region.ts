/**
 * Where a DDL block of a transaction body ends, for code that rewrites the renderer's one-line
 * statements and must never touch a line of DDL (`merge-changes.ts`).
 *
 * The capture renders a `pgincr.ddl_history` row (src/core/sql/capture-tables.ts) as:
 * ```
 * -- ddl: <tag> <objects> role <role> at <time>
 * [-- WARNING pgincr: …]                                    (zero or more)
 * -- not replayed: …                                        (comment-only form; the block ends here)
 *   or
 * [SET ROLE "<role>";]                                      (the role that ran it; src/core/sql/role-switch.ts)
 * SELECT pg_catalog.set_config('search_path', '<path>', true);
 * [SELECT pg_catalog.set_config('<guc>', '<value>', true)[, …];]
 * <the DDL statement: any number of lines, e.g. a function body>;
 * [SELECT pg_catalog.set_config('<guc>', '<reset>', true)[, …];]
 * SELECT pg_catalog.set_config('search_path', '', true);
 * [RESET ROLE;]                                             (exactly when the block has SET ROLE)
 * ```
 * The DDL statement is found with a PostgreSQL-lexer-aware scan (quotes, `E''` escapes, quoted
 * identifiers, dollar quotes, nested block comments, `--` comments, parentheses, as psql splits
 * statements). Anything that does not fit this shape exactly, and any `BEGIN ATOMIC` body (whose
 * inner semicolons are not inside quotes or parentheses), is "unsure": the block is taken to run
 * to the end of the body.
 */

import { RESET_ROLE_LINE, isRoleSwitchLine, parseSetRoleLine } from '../sql/role-switch';

/** The line that ends every replayed DDL block (then `RESET ROLE;` when it began with `SET ROLE`). */
export const DDL_BLOCK_END = "SELECT pg_catalog.set_config('search_path', '', true);";

const DDL_HEADER = '-- ddl: ';
const WARNING = '-- WARNING pgincr: ';
const NOT_REPLAYED = '-- not replayed: ';
const SETTINGS = 'SELECT pg_catalog.set_config(';
const SEARCH_PATH_LINE = /^SELECT pg_catalog\.set_config\('search_path', (?:'(?:[^']|'')*'|E'(?:[^'\\]|''|\\.)*'), true\);$/;

/** True when `line` opens a DDL block. */
export function isDdlHeader(line: string): boolean {
  return line.startsWith(DDL_HEADER);
}

type Mode = 'code' | 'single' | 'escape' | 'double' | 'dollar' | 'block';

export interface Statement {
  line: number;
  col: number;
  endLine: number;
  endCol: number;
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_CONT = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/**
 * A statement splitter over lines, fed one line at a time; `onStatement` gets each statement's
 * first token position and its `;`. It returns false to stop. `atomic` is set by a bare word
 * ATOMIC (a `BEGIN ATOMIC` body).
 */
export class StatementScanner {
  private mode: Mode = 'code';
  private tag = '';
  private depth = 0;
  private parens = 0;
  private start: { line: number; col: number } | null = null;
  atomic = false;

  constructor(private readonly onStatement: (s: Statement) => boolean) {}

  /** Between statements: not inside a literal, identifier, comment or an unfinished statement. */
  get idle(): boolean {
    return this.mode === 'code' && this.start === null && this.parens === 0;
  }

  /** Scans one line (without its newline); false when `onStatement` asked to stop. */
  scan(text: string, line: number): boolean {
    let i = 0;
    while (i < text.length) {
      if (this.mode !== 'code') {
        i = this.inside(text, i);
        continue;
      }
      const c = text[i] as string;
      if (c === ' ' || c === '\t' || c === '\r' || c === '\f') {
        i++;
        continue;
      }
      if (c === '-' && text[i + 1] === '-') return true;
      if (c === '/' && text[i + 1] === '*') {
        this.mode = 'block';
        this.depth = 1;
        i += 2;
        continue;
      }
      this.start ??= { line, col: i };
      if (c === ';' && this.parens === 0) {
        const s = { ...this.start, endLine: line, endCol: i };
        this.start = null;
        if (!this.onStatement(s)) return false;
        i++;
      } else if (IDENT_START.test(c) || (c >= '0' && c <= '9')) {
        let j = i + 1;
        while (j < text.length && IDENT_CONT.test(text[j] as string)) j++;
        const word = text.slice(i, j);
        if (word.toLowerCase() === 'atomic') this.atomic = true;
        if (text[j] === "'" && (word === 'E' || word === 'e')) {
          this.mode = 'escape';
          j++;
        }
        i = j;
      } else if (c === "'") {
        this.mode = 'single';
        i++;
      } else if (c === '"') {
        this.mode = 'double';
        i++;
      } else if (c === '$') {
        const m = DOLLAR_TAG.exec(text.slice(i, i + 200));
        if (m) {
          this.mode = 'dollar';
          this.tag = m[0];
          i += m[0].length;
        } else i++;
      } else {
        if (c === '(') this.parens++;
        else if (c === ')' && this.parens > 0) this.parens--;
        i++;
      }
    }
    return true;
  }

  /** Inside a literal, identifier or comment: the index after its end, or the line's end. */
  private inside(text: string, i: number): number {
    switch (this.mode) {
      case 'single':
      case 'double': {
        const q = this.mode === 'single' ? "'" : '"';
        for (let j = i; j < text.length; j++) {
          if (text[j] !== q) continue;
          if (text[j + 1] === q) j++;
          else {
            this.mode = 'code';
            return j + 1;
          }
        }
        return text.length;
      }
      case 'escape':
        for (let j = i; j < text.length; j++) {
          if (text[j] === '\\') j++;
          else if (text[j] === "'") {
            if (text[j + 1] === "'") j++;
            else {
              this.mode = 'code';
              return j + 1;
            }
          }
        }
        return text.length;
      case 'dollar': {
        const j = text.indexOf(this.tag, i);
        if (j < 0) return text.length;
        this.mode = 'code';
        return j + this.tag.length;
      }
      default:
        for (let j = i; j < text.length; j++) {
          if (text[j] === '/' && text[j + 1] === '*') {
            this.depth++;
            j++;
          } else if (text[j] === '*' && text[j + 1] === '/') {
            j++;
            if (--this.depth === 0) {
              this.mode = 'code';
              return j + 1;
            }
          }
        }
        return text.length;
    }
  }
}

/**
 * The index of the first line after the DDL block that starts at `lines[start]` (a
 * {@link isDdlHeader} line), per the shape in the module comment; `lines.length` when the
 * block does not have that shape exactly (then nothing after the header is safe to rewrite).
 */
export function ddlRegionEnd(lines: readonly string[], start: number): number {
  let j = start + 1;
  while (j < lines.length && (lines[j] as string).startsWith(WARNING)) j++;
  if (j >= lines.length) return lines.length;
  if ((lines[j] as string).startsWith(NOT_REPLAYED)) return j + 1;
  const asRole = parseSetRoleLine(lines[j] as string) !== null;
  if (asRole) j++;
  if (j >= lines.length || !SEARCH_PATH_LINE.test(lines[j] as string)) return lines.length;
  const first = j;
  let ddlSeen = false;
  let end = -1;
  const scanner = new StatementScanner((s) => {
    const text = lines[s.line] as string;
    const whole = s.line === s.endLine && s.col === 0 && s.endCol === text.length - 1;
    if (s.line === first) return whole; // the search_path line, whole (else unsure: stop)
    if (whole && ddlSeen && text === DDL_BLOCK_END) {
      end = s.line + 1;
      // a SET ROLE block ends with its RESET ROLE line; without it the shape is not ours: unsure
      if (asRole) end = lines[end] === RESET_ROLE_LINE ? end + 1 : -1;
      return false;
    }
    if (whole && text.startsWith(SETTINGS)) return true;
    if (ddlSeen || scanner.atomic) return false; // a second statement, or BEGIN ATOMIC: unsure
    ddlSeen = true;
    return true;
  });
  for (let k = first; k < lines.length; k++) {
    if (!scanner.scan(lines[k] as string, k)) break;
  }
  return end < 0 || scanner.atomic ? lines.length : end;
}

/**
 * True when a DDL block (of the shape in the module comment) may end with this line: the
 * search_path reset, `RESET ROLE;` or a `-- not replayed:` line. A reader that gets a body line
 * by line (core/restore/pieces.ts) asks {@link ddlRegionEnd} whether the block ended only after
 * such a line, not after every line of a long function body.
 */
export function mayEndDdlRegion(line: string): boolean {
  return line === DDL_BLOCK_END || line === RESET_ROLE_LINE || line.startsWith(NOT_REPLAYED);
}

/**
 * `sql` without its role switches (`pgincr restore --no-owner`): every line that is a whole
 * top-level statement `SET ROLE "<role>";` or `RESET ROLE;` (src/core/sql/role-switch.ts),
 * found with the lexer-aware scan, so the same text inside a function body, a literal or a
 * comment is kept. The rest of the text is returned unchanged.
 */
export function withoutRoleSwitches(sql: string): string {
  if (!sql.includes('ROLE')) return sql;
  const lines = sql.split('\n');
  const drop = new Set<number>();
  const scanner = new StatementScanner((s) => {
    const text = lines[s.line] as string;
    if (s.line === s.endLine && s.col === 0 && s.endCol === text.length - 1 && isRoleSwitchLine(text)) drop.add(s.line);
    return true;
  });
  for (let k = 0; k < lines.length; k++) scanner.scan(lines[k] as string, k);
  return drop.size === 0 ? sql : lines.filter((_l, k) => !drop.has(k)).join('\n');
}
