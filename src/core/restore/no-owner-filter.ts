/**
 * `pgincr restore --no-owner` for a plain-format base (a pg_dump script): drops the ownership
 * changes, as `pg_restore --no-owner` does for an archive, so every object belongs to the
 * restoring role. pg_dump writes each ownership change as one whole top-level statement on a
 * line of its own, `ALTER <object> OWNER TO <role>;`. The script is scanned with the
 * lexer-aware statement scanner (quotes, dollar quotes, comments), COPY data and psql
 * meta-commands are passed through untouched, so the same text inside a function body, a
 * literal or a row is kept. Text is a byte string (latin1); feed chunks split anywhere.
 */
import { StatementScanner } from './ddl-region';

const OWNER_CHANGE = /^ALTER [A-Z][A-Z ]* .+ OWNER TO (?:[a-z_][a-z0-9_$]*|"(?:[^"]|"")+");$/;
const COPY_FROM_STDIN = /^COPY .* FROM stdin;$/;

export class NoOwnerFilter {
  private rest = '';
  private inCopy = false;
  private index = 0;
  private line = '';
  private drop = false;
  private copyNext = false;
  /** How many ownership changes were dropped. */
  dropped = 0;
  private readonly scanner = new StatementScanner((s) => {
    const whole = s.line === s.endLine && s.line === this.index && s.col === 0 && s.endCol === this.line.length - 1;
    if (whole && OWNER_CHANGE.test(this.line)) this.drop = true;
    if (whole && COPY_FROM_STDIN.test(this.line)) this.copyNext = true;
    return true;
  });

  /** Feeds a chunk; returns what can be written so far. */
  push(chunk: string): string {
    const text = this.rest + chunk;
    const last = text.lastIndexOf('\n');
    if (last < 0) {
      this.rest = text;
      return '';
    }
    this.rest = text.slice(last + 1);
    let out = '';
    for (const line of text.slice(0, last).split('\n')) out += this.filter(line, '\n');
    return out;
  }

  /** Flushes the end of the script (a last line without a newline). */
  end(): string {
    const out = this.rest ? this.filter(this.rest, '') : '';
    this.rest = '';
    return out;
  }

  private filter(line: string, newline: string): string {
    this.index++;
    if (this.inCopy) {
      if (line === '\\.') this.inCopy = false;
      return line + newline;
    }
    if (this.scanner.idle && line.startsWith('\\')) return line + newline; // a psql meta-command
    this.line = line;
    this.drop = false;
    this.copyNext = false;
    this.scanner.scan(line, this.index);
    if (this.copyNext) this.inCopy = true;
    if (!this.drop) return line + newline;
    this.dropped++;
    return '';
  }
}
