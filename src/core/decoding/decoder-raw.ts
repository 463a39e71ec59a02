/**
 * The decoder_raw output, as `pg_recvlogical --plugin=decoder_raw --option=include_transaction=on`
 * writes it, parsed into transactions of structured statements (never passed through as text).
 *
 * The file is a sequence of messages, each one SQL statement followed by `\n`:
 * `BEGIN;`, `INSERT INTO s.t (a, b) VALUES (1, 'x');`, `UPDATE s.t SET a = 1, b = 'x' WHERE a = 1;`,
 * `DELETE FROM s.t WHERE a = 1;`, `COMMIT;`. Values are printed by decoder_raw's
 * `print_literal`: integers, floats and numerics bare (NaN/±Infinity quoted), booleans as
 * `true`/`false`, bit strings as `B'…'`, NULL as `null`, everything else as a standard-conforming
 * `'…'` literal (quotes doubled, backslashes as they are, line breaks raw: a message can span
 * lines, so messages are split by a quote-aware scanner, never by lines). Identifiers come from
 * `quote_identifier`: bare only when `[a-z_][a-z0-9_]*`, else double-quoted.
 *
 * Strings are byte strings (docs/architecture.md): one char per byte of the server encoding.
 */
import { DecodeError } from './decode-error';
import type { TupleValue } from './model';

/** One `column = value` or one column/value pair of an INSERT. */
export interface RawColumnValue {
  column: string;
  value: TupleValue;
}

export type RawStatement =
  | { kind: 'insert'; schema: string; table: string; values: RawColumnValue[] }
  | { kind: 'update'; schema: string; table: string; set: RawColumnValue[]; where: RawColumnValue[] }
  | { kind: 'delete'; schema: string; table: string; where: RawColumnValue[] };

/** One `BEGIN; … COMMIT;` of the raw file, with its statements in order. */
export interface RawTransaction {
  statements: RawStatement[];
  /** Byte offset just after its `COMMIT;\n` in the parsed text. */
  endOffset: number;
}

export interface RawParseResult {
  transactions: RawTransaction[];
  /** Bytes of whole transactions (the rest is a torn tail: an open transaction or a partial message). */
  completeLength: number;
  /** Transactions cut off by a new `BEGIN;` before their `COMMIT;` (pg_recvlogical restarted mid-way). */
  tornTransactions: number;
}

const BARE_IDENTIFIER = /[a-z_][a-z0-9_$]*/y;
const BARE_VALUE = /[A-Za-z0-9_.+-]+/y;

/** A token of a statement: a quoted identifier or literal is kept with its quotes. */
class Cursor {
  pos = 0;
  constructor(
    readonly text: string,
    readonly where: string,
  ) {}

  fail(what: string): never {
    throw new DecodeError(`decoder_raw ${this.where}: ${what} at character ${this.pos} of ${JSON.stringify(this.text.slice(0, 120))}`, {
      hint: 'the raw file does not have the shape decoder_raw writes; keep the raw file and report it',
    });
  }

  skipSpaces(): void {
    while (this.text[this.pos] === ' ') this.pos += 1;
  }

  eat(word: string): boolean {
    this.skipSpaces();
    if (this.text.startsWith(word, this.pos)) {
      this.pos += word.length;
      return true;
    }
    return false;
  }

  expect(word: string): void {
    if (!this.eat(word)) this.fail(`expected ${JSON.stringify(word)}`);
  }

  /** `"…"` with `""` inside, or a bare `[a-z_][a-z0-9_$]*`. */
  identifier(): string {
    this.skipSpaces();
    if (this.text[this.pos] === '"') {
      let out = '';
      for (let i = this.pos + 1; i < this.text.length; i++) {
        if (this.text[i] === '"') {
          if (this.text[i + 1] === '"') {
            out += '"';
            i += 1;
            continue;
          }
          this.pos = i + 1;
          return out;
        }
        out += this.text[i];
      }
      this.fail('unterminated quoted identifier');
    }
    BARE_IDENTIFIER.lastIndex = this.pos;
    const m = BARE_IDENTIFIER.exec(this.text);
    if (!m) this.fail('expected an identifier');
    this.pos += m[0].length;
    return m[0];
  }

  qualifiedName(): { schema: string; table: string } {
    const schema = this.identifier();
    if (this.text[this.pos] !== '.') this.fail('expected a schema-qualified table name');
    this.pos += 1;
    return { schema, table: this.identifier() };
  }

  /** A standard-conforming `'…'` body starting at `this.pos` (on the quote). */
  private quoted(): string {
    let out = '';
    for (let i = this.pos + 1; ;) {
      const q = this.text.indexOf("'", i);
      if (q < 0) return this.fail('unterminated literal');
      out += this.text.slice(i, q);
      if (this.text[q + 1] !== "'") {
        this.pos = q + 1;
        return out;
      }
      out += "'";
      i = q + 2;
    }
  }

  /** A value as print_literal writes it, as its text output form (`true` → `t`, `B'101'` → `101`). */
  value(): TupleValue {
    this.skipSpaces();
    const c = this.text[this.pos];
    if (c === "'") return { kind: 'text', value: this.quoted() };
    if (c === 'B' && this.text[this.pos + 1] === "'") {
      this.pos += 1;
      return { kind: 'text', value: this.quoted() };
    }
    BARE_VALUE.lastIndex = this.pos;
    const m = BARE_VALUE.exec(this.text);
    if (!m) this.fail('expected a value');
    this.pos += m[0].length;
    const word = m[0];
    if (word === 'null') return { kind: 'null' };
    if (word === 'true') return { kind: 'text', value: 't' };
    if (word === 'false') return { kind: 'text', value: 'f' };
    if (word === 'unchanged-toast-datum' || word === 'unchanged') {
      this.pos -= word.length;
      this.fail('decoder_raw printed an unchanged TOAST value where a value is needed (unchanged-toast-datum)');
    }
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(word)) this.fail(`unexpected bare value ${JSON.stringify(word)}`);
    return { kind: 'text', value: word };
  }

  /** `col = value [AND|, col = value]…` */
  assignments(separator: string, stopWords: string[]): RawColumnValue[] {
    const out: RawColumnValue[] = [];
    this.skipSpaces();
    if (stopWords.some((w) => this.text.startsWith(w, this.pos))) return out;
    do {
      const column = this.identifier();
      this.expect('=');
      out.push({ column, value: this.value() });
    } while (this.eat(separator));
    return out;
  }
}

/** Parses one statement (without its final `;`) into a {@link RawStatement}. */
export function parseRawStatement(text: string): RawStatement {
  const c = new Cursor(text, 'statement');
  if (c.eat('INSERT INTO ')) {
    const name = c.qualifiedName();
    c.expect('(');
    const columns: string[] = [];
    if (!c.eat(')')) {
      do columns.push(c.identifier());
      while (c.eat(','));
      c.expect(')');
    }
    c.expect('VALUES (');
    const values: TupleValue[] = [];
    if (!c.eat(')')) {
      do values.push(c.value());
      while (c.eat(','));
      c.expect(')');
    }
    if (values.length !== columns.length) c.fail(`${columns.length} columns but ${values.length} values`);
    if (c.pos !== text.length) c.fail('trailing text');
    return { kind: 'insert', ...name, values: columns.map((column, i) => ({ column, value: values[i] as TupleValue })) };
  }
  if (c.eat('UPDATE ')) {
    const name = c.qualifiedName();
    c.expect('SET');
    const set = c.assignments(',', ['WHERE']);
    c.expect('WHERE');
    const where = c.assignments('AND ', []);
    if (c.pos !== text.length) c.fail('trailing text');
    return { kind: 'update', ...name, set, where };
  }
  if (c.eat('DELETE FROM ')) {
    const name = c.qualifiedName();
    c.expect('WHERE');
    const where = c.assignments('AND ', []);
    if (c.pos !== text.length) c.fail('trailing text');
    return { kind: 'delete', ...name, where };
  }
  return c.fail('expected INSERT, UPDATE or DELETE');
}

/**
 * Splits a raw text into messages: each ends at a `;` followed by `\n` outside quotes. Returns
 * the messages (without `;\n`) and their end offsets; a trailing partial message is left out.
 */
export function splitRawMessages(text: string): Array<{ text: string; end: number }> {
  const out: Array<{ text: string; end: number }> = [];
  let start = 0;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    if (quote) {
      // Inside a literal or quoted identifier: jump to its next quote (doubled ones stay inside).
      const q = text.indexOf(quote, i);
      if (q < 0) break;
      if (text[q + 1] === quote) i = q + 1;
      else {
        i = q;
        quote = null;
      }
      continue;
    }
    const ch = text[i];
    if (ch === "'" || ch === '"') quote = ch;
    else if (ch === ';' && text[i + 1] === '\n') {
      out.push({ text: text.slice(start, i), end: i + 2 });
      start = i + 2;
      i += 1;
    }
  }
  return out;
}

/**
 * Parses a raw file (a byte string) into whole transactions. A `BEGIN;` inside an open
 * transaction drops the open one (counted in `tornTransactions`: pg_recvlogical restarted and
 * the slot resends it whole); a statement outside a transaction is an error, except, with
 * `remainderAllowed`, statements and a `COMMIT;` before the first `BEGIN;`: the rest of a
 * transaction whose start was in a raw file already deleted, which is deleted only once that
 * transaction is in a segment (a rotation can fall inside a transaction). They are skipped.
 */
export function parseRawText(text: string, options: { remainderAllowed?: boolean } = {}): RawParseResult {
  const transactions: RawTransaction[] = [];
  let open: RawStatement[] | null = null;
  let completeLength = 0;
  let tornTransactions = 0;
  let remainder = options.remainderAllowed === true;
  let remainderStatements = 0;
  for (const msg of splitRawMessages(text)) {
    const body = msg.text.replace(/^\n+/, '');
    if (body === 'BEGIN') {
      if (remainder && remainderStatements > 0) {
        throw new DecodeError(`decoder_raw: statements outside a transaction before offset ${msg.end}`, {
          hint: 'pg_recvlogical must run with --option=include_transaction=on',
        });
      }
      if (open) tornTransactions += 1;
      open = [];
      remainder = false;
    } else if (body === 'COMMIT') {
      if (remainder) {
        completeLength = msg.end;
        remainder = false;
        continue;
      }
      if (!open) throw new DecodeError(`decoder_raw: COMMIT without BEGIN before offset ${msg.end}`);
      transactions.push({ statements: open, endOffset: msg.end });
      completeLength = msg.end;
      open = null;
    } else if (remainder) {
      remainderStatements += 1;
    } else {
      if (!open) {
        throw new DecodeError(`decoder_raw: statement outside a transaction before offset ${msg.end}`, {
          hint: 'pg_recvlogical must run with --option=include_transaction=on',
        });
      }
      open.push(parseRawStatement(body));
    }
  }
  return { transactions, completeLength, tornTransactions };
}
