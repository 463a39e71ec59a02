/**
 * The applier's reading of a segment it already verified (scan.ts): bytes pushed in chunks come
 * out as its header, each transaction's BEGIN, its statement lines (whole lines, in runs) and its
 * COMMIT, in file order, so a transaction of any size is applied without the segment, or the
 * transaction, ever being held whole. Memory: the pushed chunk and at most one line carried over
 * a chunk boundary (a statement line is never cut: it is sent whole).
 *
 * It checks that the bytes are the ones verified: the same grammar (a marker out of place is an
 * error naming its offset), and at {@link TransactionSplitter.finish} the SHA-256 of everything
 * before the footer line (or of all bytes, for an open segment's prefix), compared by the caller.
 * Pure: takes bytes, never touches a file.
 */
import { createHash, type Hash } from 'node:crypto';
import { SegmentCorruptError } from '../../errors';
import { BEGIN_PREFIX, COMMIT_PREFIX, FOOTER_PREFIX, HEADER_LINES, parseBeginLine, parseCommitLine, type BeginMeta, type CommitMeta } from './grammar';

export type SegmentPiece =
  /** The header lines (the session settings are in them). */
  | { kind: 'header'; bytes: Buffer }
  | { kind: 'begin'; meta: BeginMeta; offset: number }
  /** Whole statement lines of the open transaction, each with its `\n`; `offset` of the first. */
  | { kind: 'lines'; bytes: Buffer; offset: number }
  /** `end`: the offset just after the COMMIT line. */
  | { kind: 'commit'; meta: CommitMeta; offset: number; end: number };

export interface SplitEnd {
  /** Bytes pushed. */
  length: number;
  /** SHA-256 of the bytes before the footer line (all of them when there is no footer). */
  bodySha256: string;
  transactions: number;
  footer: boolean;
}

const B = BEGIN_PREFIX.charCodeAt(0);
const C = COMMIT_PREFIX.charCodeAt(0);
const DASH = FOOTER_PREFIX.charCodeAt(0);
/** Longest marker or footer line (they are short; a longer line starting alike is a statement or damage). */
const MARKER_MAX = 1024;

export class TransactionSplitter {
  private offset = 0;
  private carry: Buffer[] = [];
  private carryLength = 0;
  private headerParts: Buffer[] = [];
  private headerLines = 0;
  private open: (BeginMeta & { offset: number }) | null = null;
  private transactions = 0;
  private footerAt: number | null = null;
  private readonly hash: Hash = createHash('sha256');
  /** File offset the hash has reached (never into a line still carried: it may be the footer). */
  private hashedTo = 0;

  constructor(private readonly name: string) {}

  /** The pieces that end in `chunk` (its lines referenced, not copied: a chunk must not be reused). */
  push(chunk: Buffer): SegmentPiece[] {
    const out: SegmentPiece[] = [];
    const chunkStart = this.offset;
    let pos = 0;
    // A run of statement lines of the open transaction not yet emitted: [runStart, pos) of chunk.
    let runStart = -1;
    const endRun = (to: number) => {
      if (runStart >= 0 && to > runStart) out.push({ kind: 'lines', bytes: chunk.subarray(runStart, to), offset: chunkStart + runStart });
      runStart = -1;
    };
    if (this.carryLength > 0) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        this.keep(chunk);
        this.offset += chunk.length;
        return out;
      }
      this.keep(chunk.subarray(0, nl + 1));
      const line = Buffer.concat(this.carry, this.carryLength);
      const lineStart = chunkStart - (this.carryLength - nl - 1);
      this.carry = [];
      this.carryLength = 0;
      this.line(line, lineStart, out, true);
      if (this.footerAt === null) this.hash.update(line);
      this.hashedTo = lineStart + line.length;
      pos = nl + 1;
    }
    while (pos < chunk.length) {
      const nl = chunk.indexOf(10, pos);
      if (nl < 0) {
        endRun(pos);
        this.keep(chunk.subarray(pos));
        break;
      }
      const first = chunk[pos] as number;
      if (this.open && this.footerAt === null && first !== C) {
        // A statement line (the bulk of a segment): only its end is looked for.
        if (runStart < 0) runStart = pos;
        pos = nl + 1;
        continue;
      }
      endRun(pos);
      const isStatement = this.line(chunk.subarray(pos, nl + 1), chunkStart + pos, out, false);
      if (isStatement) runStart = pos;
      pos = nl + 1;
    }
    endRun(Math.min(pos, chunk.length));
    this.offset += chunk.length;
    this.hashChunk(chunk, chunkStart);
    return out;
  }

  /** Ends the reading: the bytes must end after a whole line, outside any transaction. */
  finish(): SplitEnd {
    if (this.carryLength > 0) throw this.corrupt('an incomplete last line', this.offset - this.carryLength);
    if (this.headerLines < HEADER_LINES) throw this.corrupt('incomplete header', this.offset);
    if (this.open) throw this.corrupt(`no COMMIT for xid ${this.open.xid}`, this.open.offset);
    return { length: this.offset, bodySha256: this.hash.digest('hex'), transactions: this.transactions, footer: this.footerAt !== null };
  }

  private keep(part: Buffer): void {
    if (part.length === 0) return;
    this.carry.push(part);
    this.carryLength += part.length;
  }

  /**
   * Hashes what `chunk` holds of whole lines before the footer line (the footer is never part of
   * the body's hash; a line still carried is hashed when it ends, once known not to be the footer).
   */
  private hashChunk(chunk: Buffer, chunkStart: number): void {
    const limit = Math.min(this.offset - this.carryLength, this.footerAt ?? Infinity);
    const from = Math.max(this.hashedTo, chunkStart);
    if (limit <= from) return;
    this.hash.update(chunk.subarray(from - chunkStart, limit - chunkStart));
    this.hashedTo = limit;
  }

  /**
   * One whole line (with its `\n`) that is not a plain statement of an open transaction, or a
   * carried one (any kind). True when it is a statement line of the open transaction that the
   * caller adds to its run; a carried statement line is emitted here.
   */
  private line(bytes: Buffer, offset: number, out: SegmentPiece[], carried: boolean): boolean {
    if (this.footerAt !== null) throw this.corrupt('bytes after the footer', offset);
    if (this.headerLines < HEADER_LINES) {
      this.headerParts.push(bytes);
      if (++this.headerLines === HEADER_LINES) out.push({ kind: 'header', bytes: Buffer.concat(this.headerParts) });
      return false;
    }
    const length = bytes.length - 1;
    const first = bytes[0] as number;
    const text = () => bytes.toString('latin1', 0, length);
    if (this.open) {
      if (first === C && length <= MARKER_MAX && bytes.toString('latin1', 0, COMMIT_PREFIX.length) === COMMIT_PREFIX) {
        const meta = parseCommitLine(text());
        if (!meta || meta.xid !== this.open.xid) throw this.corrupt(`a COMMIT marker that is not xid ${this.open.xid}'s`, offset);
        out.push({ kind: 'commit', meta, offset, end: offset + bytes.length });
        this.open = null;
        this.transactions++;
        return false;
      }
      if (carried) {
        out.push({ kind: 'lines', bytes, offset });
        return false;
      }
      return true;
    }
    if (length === 0) return false; // a blank line between transactions
    if (first === B && length <= MARKER_MAX) {
      const meta = parseBeginLine(text());
      if (meta) {
        this.open = { ...meta, offset };
        out.push({ kind: 'begin', meta, offset });
        return false;
      }
    }
    if (first === DASH && length <= MARKER_MAX && text().startsWith(FOOTER_PREFIX)) {
      this.footerAt = offset;
      return false;
    }
    throw this.corrupt('a line outside any transaction', offset);
  }

  private corrupt(problem: string, offset: number): InstanceType<typeof SegmentCorruptError> {
    return new SegmentCorruptError(`${this.name}: ${problem} at offset ${offset} (the file changed after it was verified)`, {
      hint: 'run the restore again: it verifies the files again; if it refuses, restore the file from a copy',
    });
  }
}
