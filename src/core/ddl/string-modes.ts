/**
 * The two ways PostgreSQL reads a plain `'…'` string constant: with `standard_conforming_strings`
 * on a backslash is an ordinary character; with it off the constant reads like `E'…'`, where a
 * backslash escapes the next character (`\'` does not end it). libpg-query always scans the
 * first way, so a query string sent with the setting off can split into other statements there
 * than on the server: `CREATE TABLE t (a text DEFAULT '\'); DROP …; --')` is one statement with
 * the setting off and three with it on.
 *
 * {@link scannerText} rewrites a query text into one that the libpg-query scanner splits exactly
 * as the server did, keeping every byte offset: with the setting off, inside each escape-reading
 * constant, each escaped quote `\'` becomes `''` (two ASCII bytes for two). Statement texts are
 * then cut from the ORIGINAL text at those offsets. The scan follows PostgreSQL's lexer (scan.l) where it decides what is a string
 * constant: `--` and nested `/* *\/` comments, `"…"` and `U&"…"` identifiers, `$tag$` quotes,
 * `E'…'`, `N'…'`, `B'…'` and `X'…'` (no escapes there), `U&'…'`, constants continued across a
 * line break, identifiers (`a$b`, a letter after one is no prefix) and numbers (`1e'x'` is `1`
 * then `E'x'`). A text the server could not have lexed is left as it is (it ran nothing).
 *
 * Texts are JS strings (decoded, or one char per byte): only ASCII characters are read or
 * written, so either form works.
 */

/** A string constant of the text: `[start, end)` char offsets, and whether backslashes escape in it. */
export interface StringConstant {
  start: number;
  end: number;
  /** `plain` `'…'` (and `N'…'`), `escape` `E'…'`, `bits` `B'…'`/`X'…'`, `unicode` `U&'…'`. */
  kind: 'plain' | 'escape' | 'bits' | 'unicode';
}

const isIdentStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
const isIdentCont = (c: number) => isIdentStart(c) || (c >= 48 && c <= 57) || c === 36;
const isDigit = (c: number) => c >= 48 && c <= 57;
const QUOTE = 39;
const BACKSLASH = 92;

/** End of a `--` comment (at its line break, not past it). */
function lineCommentEnd(t: string, i: number): number {
  while (i < t.length && t[i] !== '\n' && t[i] !== '\r') i++;
  return i;
}

/**
 * After a constant's closing quote at `i - 1`: the index just past the opening quote of its
 * continuation (whitespace holding a line break, `--` comments allowed, then `'`), or -1.
 */
function continuation(t: string, i: number, onComment?: (start: number, end: number) => void): number {
  let sawNewline = false;
  const comments: Array<[number, number]> = [];
  while (i < t.length) {
    const c = t[i];
    if (c === '\n' || c === '\r') {
      sawNewline = true;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\f') i++;
    else if (c === '-' && t[i + 1] === '-') {
      const end = lineCommentEnd(t, i);
      if (end >= t.length) return -1; // a comment must end with a line break
      comments.push([i, end]);
      i = end;
    } else if (c === "'" && sawNewline) {
      for (const [a, b] of comments) onComment?.(a, b);
      return i + 1;
    } else return -1;
  }
  return -1;
}

/** What a scan reports besides the constants: escaped quotes, comments between continued parts. */
interface ScanHooks {
  onEscapedQuote?: (at: number) => void;
  onGapComment?: (start: number, end: number) => void;
}

/**
 * Scans one string constant whose body starts at `i` (after its opening quote); `escapes`: a
 * backslash escapes the next character. Tells `hooks` the index of each `\` of an escaped
 * quote and each comment between continued parts. Returns the index past the closing quote
 * (and any continuation), or -1.
 */
function constantEnd(t: string, i: number, escapes: boolean, doubled: boolean, hooks: ScanHooks = {}): number {
  for (;;) {
    if (i >= t.length) return -1;
    const c = t.charCodeAt(i);
    if (escapes && c === BACKSLASH) {
      if (t.charCodeAt(i + 1) === QUOTE) hooks.onEscapedQuote?.(i);
      i += 2;
    } else if (c === QUOTE) {
      if (doubled && t.charCodeAt(i + 1) === QUOTE) i += 2;
      else {
        const next = continuation(t, i + 1, hooks.onGapComment);
        if (next < 0) return i + 1;
        i = next;
      }
    } else i++;
  }
}

/**
 * The string constants of `text` as PostgreSQL lexes it with the given
 * `standard_conforming_strings`, in order; `null` when the text does not lex (an unterminated
 * constant, identifier, comment or dollar quote). `hooks.onEscapedQuote` sees each `\'` inside
 * a constant that reads escapes, `hooks.onGapComment` each `--` comment between continued parts.
 */
export function stringConstants(text: string, standardConformingStrings: boolean, hooks: ScanHooks = {}): StringConstant[] | null {
  const t = text;
  const out: StringConstant[] = [];
  let i = 0;
  const constant = (start: number, body: number, kind: StringConstant['kind']): boolean => {
    const escapes = kind === 'escape' || (kind === 'plain' && !standardConformingStrings);
    const end = constantEnd(t, body, escapes, kind !== 'bits', { onGapComment: hooks.onGapComment, ...(escapes && { onEscapedQuote: hooks.onEscapedQuote }) });
    if (end < 0) return false;
    out.push({ start, end, kind });
    i = end;
    return true;
  };
  while (i < t.length) {
    const c = t.charCodeAt(i);
    const ch = t[i] as string;
    if (ch === '-' && t[i + 1] === '-') i = lineCommentEnd(t, i);
    else if (ch === '/' && t[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (depth > 0) {
        if (i >= t.length) return null;
        if (t[i] === '/' && t[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (t[i] === '*' && t[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (c === QUOTE) {
      if (!constant(i, i + 1, 'plain')) return null;
    } else if (ch === '"') {
      for (i++; ; i++) {
        if (i >= t.length) return null;
        if (t[i] !== '"') continue;
        if (t[i + 1] !== '"') break;
        i++;
      }
      i++;
    } else if (ch === '$') {
      const m = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(t.slice(i, i + 256));
      if (m) {
        const close = t.indexOf(m[0], i + m[0].length);
        if (close < 0) return null;
        i = close + m[0].length;
      } else i++;
    } else if (isDigit(c) || (ch === '.' && isDigit(t.charCodeAt(i + 1)))) {
      while (isDigit(t.charCodeAt(i))) i++;
      if (t[i] === '.' && t[i + 1] !== '.') {
        i++;
        while (isDigit(t.charCodeAt(i))) i++;
      }
      const exp = /^[eE][-+]?[0-9]/.exec(t.slice(i, i + 3));
      if (exp) {
        i += exp[0].length;
        while (isDigit(t.charCodeAt(i))) i++;
      }
    } else if (isIdentStart(c)) {
      const next = t[i + 1];
      const lower = ch.toLowerCase();
      if (next === "'" && (lower === 'e' || lower === 'b' || lower === 'x' || lower === 'n')) {
        const kind = lower === 'e' ? 'escape' : lower === 'n' ? 'plain' : 'bits';
        if (!constant(i, i + 2, kind)) return null;
      } else if (lower === 'u' && next === '&' && t[i + 2] === "'") {
        if (!standardConformingStrings) return null; // "unsafe use of string constant with Unicode escapes"
        if (!constant(i, i + 3, 'unicode')) return null;
      } else if (lower === 'u' && next === '&' && t[i + 2] === '"') {
        i += 2; // U&"…": the identifier is read next
      } else {
        i++;
        while (i < t.length && isIdentCont(t.charCodeAt(i))) i++;
      }
    } else i++;
  }
  return out;
}

/**
 * `text` as the libpg-query scanner must see it to split it as the server did with the setting,
 * every UTF-8 byte offset kept: with the setting off, each escaped quote `\'` of an
 * escape-reading constant made `''`; with either, each `--` comment between the parts of a
 * continued constant (`'a' -- c⏎'b'`, one constant for PostgreSQL up to 17) made blanks, which
 * that scanner would otherwise read as two constants. `null` when the text does not lex with
 * the setting (the server ran nothing of it).
 */
export function scannerText(text: string, standardConformingStrings: boolean): string | null {
  const edits: Array<{ at: number; end: number; with: string }> = [];
  const found = stringConstants(text, standardConformingStrings, {
    onEscapedQuote: (at) => edits.push({ at, end: at + 1, with: "'" }),
    onGapComment: (start, end) =>
      edits.push({ at: start, end, with: [...text.slice(start, end)].map((ch) => ' '.repeat(Buffer.byteLength(ch, 'utf8'))).join('') }),
  });
  if (found === null) return null;
  if (edits.length === 0) return text;
  edits.sort((a, b) => a.at - b.at);
  let out = '';
  let pos = 0;
  for (const e of edits) {
    out += text.slice(pos, e.at) + e.with;
    pos = e.end;
  }
  return out + text.slice(pos);
}

/**
 * True when some constant of `text[start, end)` reads differently with the two settings: a
 * plain `'…'` holding a backslash (as lexed with `standardConformingStrings`).
 */
export function dependsOnStringSetting(text: string, standardConformingStrings: boolean, start: number, end: number): boolean {
  const constants = stringConstants(text, standardConformingStrings) ?? [];
  return constants.some((k) => k.kind === 'plain' && k.start < end && k.end > start && text.slice(k.start, k.end).includes('\\'));
}
