/**
 * The role switch around a replayed DDL statement (docs/architecture.md, "Capture schema"):
 * `SET ROLE "alice";` before it and `RESET ROLE;` after it, each a whole line, so the DDL runs
 * as the role that ran it on the source (owners, default privileges, SECURITY DEFINER functions
 * and privilege checks are the source's). Both run inside the replayed transaction: an error
 * rolls the SET back with everything else.
 *
 * The role is always a quoted identifier, written from a byte string (docs/architecture.md):
 * `"…"` with `"` doubled, or, when the name holds a control character (a line break would break
 * the segment format), `U&"…"` with those characters and `\` written as `\XXXX` escapes
 * (segments run with standard_conforming_strings on).
 */

/** The line after a replayed DDL statement. */
export const RESET_ROLE_LINE = 'RESET ROLE;';

const SET_ROLE_PREFIX = 'SET ROLE ';
const CONTROL = /[\x00-\x1f\x7f]/;

/** The role as an always-quoted identifier (module comment). */
export function quoteRole(role: string): string {
  if (!CONTROL.test(role)) return `"${role.replace(/"/g, '""')}"`;
  const escaped = role.replace(/["\\\x00-\x1f\x7f]/g, (c) => (c === '"' ? '""' : `\\${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  return `U&"${escaped}"`;
}

/** `SET ROLE "<role>";` */
export function setRoleLine(role: string): string {
  return `${SET_ROLE_PREFIX}${quoteRole(role)};`;
}

const QUOTED = /^"((?:[^"]|"")*)"$/;
const UNICODE_QUOTED = /^U&"((?:[^"]|"")*)"$/;

/** The role of a `SET ROLE <quoted identifier>;` line as {@link setRoleLine} writes it, else null. */
export function parseSetRoleLine(line: string): string | null {
  if (!line.startsWith(SET_ROLE_PREFIX) || !line.endsWith(';')) return null;
  const ident = line.slice(SET_ROLE_PREFIX.length, -1);
  const plain = QUOTED.exec(ident);
  if (plain) return (plain[1] as string).replace(/""/g, '"');
  const unicode = UNICODE_QUOTED.exec(ident);
  if (!unicode) return null;
  let bad = false;
  const text = (unicode[1] as string).replace(/""/g, '"').replace(/\\(\\|[0-9A-Fa-f]{4}|\+[0-9A-Fa-f]{6}|)/g, (_m, code: string) => {
    if (code === '\\') return '\\';
    if (code === '') {
      bad = true;
      return '';
    }
    return String.fromCharCode(parseInt(code.replace('+', ''), 16));
  });
  return bad ? null : text;
}

/** True for a line {@link parseSetRoleLine} reads, or `RESET ROLE;`. */
export function isRoleSwitchLine(line: string): boolean {
  return line === RESET_ROLE_LINE || parseSetRoleLine(line) !== null;
}
