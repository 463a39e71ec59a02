/**
 * Test helper: drops pgincr's event-trigger (and decoder_raw table-trigger) sections from a plain
 * schema dump's text, so a source's schema dump compares with a restored one. Text patterns are
 * good enough for comparing schemas in tests; the base dump itself is filtered on its archive's
 * table of contents (src/core/commands/dump-filter.ts).
 *
 * pg_dump dumps event triggers even with `--exclude-schema=pgincr`, and their function lives in
 * the excluded schema, so `CREATE EVENT TRIGGER pgincr_…` would fail a replay under
 * ON_ERROR_STOP. pg_dump writes each object as a section that starts with the header
 * `--` / `-- Name: <name>; Type: <type>; …` / `--`; a section of a `pgincr_*` event trigger
 * (its CREATE, its ALTER … OWNER TO, and a COMMENT on it) is dropped up to the next header;
 * so is a section of a table trigger named `pgincr_*` (decoder_raw mode).
 * Lines inside COPY data are passed through untouched. Text is a byte string (latin1).
 */

const SKIP_HEADER = /^-- Name: (EVENT TRIGGER )?pgincr_[^;]*; Type: (EVENT TRIGGER|COMMENT|SECURITY LABEL);/;
/** decoder_raw mode's per-table triggers (`<table> pgincr_raw_capture`), whose function is in pgincr. */
const SKIP_TABLE_TRIGGER = /^-- Name: .* pgincr_[a-z_]+; Type: TRIGGER;/;
const HEADER = /^-- (Name|Data for Name|TOC entry|PostgreSQL database dump)/;

export class EventTriggerFilter {
  private rest = '';
  private inCopy = false;
  private skipping = false;
  /** A `--` line held back until the next line shows whether it opens a dropped section. */
  private held: string | null = null;
  /** How many sections were dropped. */
  dropped = 0;

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
    for (const line of text.slice(0, last).split('\n')) out += this.line(line);
    return out;
  }

  /** Flushes the end of the script (a last line without a newline). */
  end(): string {
    let out = this.rest ? this.lineNoNewline(this.rest) : '';
    if (this.held !== null && !this.skipping) out = `${this.held}\n${out}`;
    this.held = null;
    this.rest = '';
    return out;
  }

  private lineNoNewline(line: string): string {
    const out = this.line(line);
    return out.endsWith('\n') ? out.slice(0, -1) : out;
  }

  private line(line: string): string {
    if (this.inCopy) {
      if (line === '\\.') this.inCopy = false;
      return this.skipping ? '' : `${line}\n`;
    }
    if (line === '--') {
      const flushed = this.held !== null && !this.skipping ? `${this.held}\n` : '';
      this.held = line;
      return flushed;
    }
    const held = this.held;
    this.held = null;
    if (held !== null && HEADER.test(line)) {
      if (SKIP_HEADER.test(line) || SKIP_TABLE_TRIGGER.test(line)) {
        this.skipping = true;
        this.dropped++;
        return '';
      }
      this.skipping = false;
    }
    if (this.skipping) return '';
    if (/^COPY .* FROM stdin;$/.test(line)) this.inCopy = true;
    return `${held !== null ? `${held}\n` : ''}${line}\n`;
  }
}
