/**
 * Reading segments: a streaming line scanner (bounded memory whatever the line lengths: only
 * the first {@link HEAD_MAX} bytes of a line are kept, markers are short) and the verifier.
 * Pure: takes bytes, never touches a file; push chunks split anywhere.
 */
import { createHash, type Hash } from 'node:crypto';
import { formatLsn, type Lsn } from '../lsn';
import { SegmentCorruptError } from '../../errors';
import {
  BEGIN_PREFIX,
  COMMIT_PREFIX,
  FOOTER_PREFIX,
  HEADER_LINES,
  parseBeginLine,
  parseCommitLine,
  parseFooterLine,
  parseHeaderLines,
  type BeginMeta,
  type SegmentFooter,
  type SegmentHeader,
} from './grammar';

/** First bytes of the marker and footer lines: any other line is a statement, never parsed. */
const MARKER_FIRST_BYTES = new Set([BEGIN_PREFIX, COMMIT_PREFIX, FOOTER_PREFIX].map((p) => p.charCodeAt(0)));
const NEWLINE = Buffer.from('\n');
const SET_ROLE = Buffer.from('SET ROLE ');
const EMPTY = Buffer.alloc(0);

/** Longest line prefix kept in memory; every marker, header and footer line is shorter. */
export const HEAD_MAX = 1024;

/** One complete transaction found in a segment. Offsets are file byte offsets. */
export interface ScannedTransaction {
  xid: number;
  commitLsn: Lsn;
  endLsn: Lsn;
  /** Canonical `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
  commitTime: string;
  changes: number;
  /** Offset of the BEGIN line's first byte. */
  byteStart: number;
  /** Offset just after the COMMIT line's `\n`. */
  byteEnd: number;
}

/** A grammar problem at a byte offset. */
export interface ScanIssue {
  offset: number;
  problem: string;
}

export interface ScanResult {
  header: SegmentHeader;
  headerLength: number;
  transactions: ScannedTransaction[];
  footer: (SegmentFooter & { offset: number }) | null;
  /** SHA-256 of the bytes before the footer line, as read (null without a footer). */
  actualBodySha256: string | null;
  /** Bytes up to the end of the last complete COMMIT line (the header's end if none): the cut point for a torn tail. */
  completeLength: number;
  /** Total bytes scanned. */
  length: number;
  issues: ScanIssue[];
  /**
   * Every distinct `SET ROLE …;` line inside a transaction, as written (byte strings): the roles
   * replayed DDL switches to (src/core/sql/role-switch.ts), for the restore's check of the target.
   */
  roleLines: string[];
}

type OpenTxn = BeginMeta & { byteStart: number };

/** Incremental scanner: `push` chunks in order, then `finish`. */
export class SegmentScanner {
  private offset = 0;
  private lineStart = 0;
  private head: Buffer[] = [];
  private headLength = 0;
  private lineHashed = false;
  private hash: Hash = createHash('sha256');
  private completeHashState: Hash | null = null;
  private headerLines: string[] = [];
  private header: SegmentHeader | null = null;
  private headerLength = 0;
  private open: OpenTxn | null = null;
  private transactions: ScannedTransaction[] = [];
  private footer: (SegmentFooter & { offset: number }) | null = null;
  private actualBodySha256: string | null = null;
  private completeLength = 0;
  private issues: ScanIssue[] = [];
  private roleLines = new Set<string>();
  /** The chunk being pushed, its file offset, and how far into it the hash has read. */
  private chunk: Buffer = EMPTY;
  private chunkStart = 0;
  private hashedTo = 0;
  /** The hash state at completeLength is still to be copied (when the hash reaches it). */
  private completeDue = false;

  constructor(private readonly name = 'segment') {}

  push(chunk: Buffer): void {
    this.chunk = chunk;
    this.chunkStart = this.offset;
    this.hashedTo = 0;
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(10, pos);
      if (nl !== -1 && this.headLength === 0 && !this.lineHashed) {
        // A whole line in this chunk (nearly every line): read in place, hashed later with its neighbours.
        this.offset += nl - pos + 1;
        this.wholeLine(chunk, pos, nl);
        pos = nl + 1;
        continue;
      }
      // A line that starts or ends in another chunk: kept and hashed line by line.
      this.hashUpTo(pos);
      const end = nl === -1 ? chunk.length : nl;
      this.addLineBytes(chunk.subarray(pos, end));
      this.offset += end - pos;
      this.hashedTo = end;
      if (nl === -1) break;
      this.offset += 1;
      this.hashedTo = nl + 1;
      this.endLine();
      pos = nl + 1;
    }
    this.hashUpTo(chunk.length);
    this.chunk = EMPTY;
  }

  /** Ends the scan; throws {@link SegmentCorruptError} only when the header is unreadable. */
  finish(): ScanResult {
    if (!this.header) throw this.corrupt('incomplete header', this.offset);
    if (this.offset > this.lineStart && this.footer) this.issue(this.lineStart, 'bytes after the footer');
    return {
      header: this.header,
      headerLength: this.headerLength,
      transactions: this.transactions,
      footer: this.footer,
      actualBodySha256: this.actualBodySha256,
      completeLength: this.completeLength,
      length: this.offset,
      issues: this.issues,
      roleLines: [...this.roleLines],
    };
  }

  /** A copy of the SHA-256 state over bytes `[0, completeLength)`: the writer resumes hashing from it. */
  completeHash(): Hash {
    if (!this.completeHashState) throw this.corrupt('incomplete header', this.offset);
    return this.completeHashState.copy();
  }

  /** Hashes the pushed chunk's bytes up to `to` (in one call for many lines: the body's hash costs a fraction of per-line updates). */
  private hashUpTo(to: number): void {
    if (this.completeDue && to >= this.completeLength - this.chunkStart) {
      const at = this.completeLength - this.chunkStart;
      if (at > this.hashedTo) this.hash.update(this.chunk.subarray(this.hashedTo, at));
      this.hashedTo = Math.max(this.hashedTo, at);
      this.completeHashState = this.hash.copy();
      this.completeDue = false;
    }
    if (to <= this.hashedTo) return;
    this.hash.update(this.chunk.subarray(this.hashedTo, to));
    this.hashedTo = to;
  }

  /**
   * A line `chunk[start, nl)` whole in the pushed chunk, `this.offset` already after its newline:
   * the same reading as {@link endLine}, its bytes left to {@link hashUpTo}.
   */
  private wholeLine(chunk: Buffer, start: number, nl: number): void {
    const lineStart = this.lineStart;
    const end = this.offset;
    const length = nl - start;
    const long = length > HEAD_MAX;
    this.lineStart = end;
    if (this.header !== null && !(length > 0 && MARKER_FIRST_BYTES.has(chunk[start] as number))) {
      // A statement line (the bulk of a segment): never turned into a string.
      if (
        !long &&
        this.open &&
        chunk[start] === 0x53 &&
        length > SET_ROLE.length &&
        chunk.compare(SET_ROLE, 0, SET_ROLE.length, start, start + SET_ROLE.length) === 0
      ) {
        this.roleLines.add(chunk.toString('latin1', start, nl));
      }
      if (this.footer) return this.issue(lineStart, 'bytes after the footer');
      if (!this.open && length > 0) this.issue(lineStart, 'a line outside any transaction');
      return;
    }
    const text = chunk.toString('latin1', start, long ? start + HEAD_MAX : nl);
    const isFooter = !long && this.header !== null && this.open === null && text.startsWith(FOOTER_PREFIX);
    if (isFooter) {
      // The body's hash ends where the footer line starts; the footer line itself is not hashed.
      this.hashUpTo(start);
      this.actualBodySha256 = this.hash.copy().digest('hex');
      this.hashedTo = nl + 1;
    }
    if (!this.header) return this.headerLine(text, end);
    if (this.footer) return this.issue(lineStart, 'bytes after the footer');
    if (isFooter) return this.footerLine(text, lineStart);
    if (text.startsWith(BEGIN_PREFIX)) return this.beginLine(text, lineStart, long);
    if (text.startsWith(COMMIT_PREFIX)) return this.commitLine(text, lineStart, end, long);
    if (!this.open && (long || text.length > 0)) this.issue(lineStart, 'a line outside any transaction');
  }

  private addLineBytes(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const room = HEAD_MAX - this.headLength;
    if (room > 0) {
      const part = bytes.subarray(0, room);
      this.head.push(part);
      this.headLength += part.length;
    }
    if (bytes.length > room) {
      // Too long for a marker or the footer: hash what is held, then stream the rest.
      if (!this.lineHashed) {
        for (const h of this.head) this.hash.update(h);
        this.lineHashed = true;
      }
      this.hash.update(bytes.subarray(Math.max(room, 0)));
    }
  }

  private endLine(): void {
    const start = this.lineStart;
    const end = this.offset;
    const long = this.lineHashed;
    const head = this.head.length === 1 ? (this.head[0] as Buffer) : Buffer.concat(this.head, this.headLength);
    if (this.header !== null && !(head.length > 0 && MARKER_FIRST_BYTES.has(head[0] as number))) {
      // A statement line (the bulk of a segment): hashed as bytes, never turned into a string.
      if (!long) this.hash.update(head);
      this.hash.update(NEWLINE);
      if (!long && head[0] === 0x53 && this.open && head.length > SET_ROLE.length && head.subarray(0, SET_ROLE.length).equals(SET_ROLE)) {
        this.roleLines.add(head.toString('latin1'));
      }
      this.head = [];
      this.headLength = 0;
      this.lineHashed = false;
      this.lineStart = end;
      if (this.footer) return this.issue(start, 'bytes after the footer');
      if (!this.open && (long || head.length > 0)) this.issue(start, 'a line outside any transaction');
      return;
    }
    const text = head.toString('latin1');
    const isFooter = !long && this.header !== null && this.open === null && text.startsWith(FOOTER_PREFIX);
    if (isFooter) this.actualBodySha256 = this.hash.copy().digest('hex');
    else {
      if (!long) this.hash.update(text, 'latin1');
      this.hash.update('\n');
    }
    this.head = [];
    this.headLength = 0;
    this.lineHashed = false;
    this.lineStart = end;
    if (!this.header) return this.headerLine(text, end);
    if (this.footer) return this.issue(start, 'bytes after the footer');
    if (isFooter) return this.footerLine(text, start);
    if (text.startsWith(BEGIN_PREFIX)) return this.beginLine(text, start, long);
    if (text.startsWith(COMMIT_PREFIX)) return this.commitLine(text, start, end, long);
    if (!this.open && (long || text.length > 0)) this.issue(start, 'a line outside any transaction');
  }

  private headerLine(text: string, end: number): void {
    this.headerLines.push(text);
    if (this.headerLines.length < HEADER_LINES) return;
    const parsed = parseHeaderLines(this.headerLines);
    if ('problem' in parsed) throw this.corrupt(`${parsed.problem} on header line ${parsed.line + 1}`, 0);
    this.header = parsed;
    this.headerLength = end;
    this.markComplete(end);
  }

  private beginLine(text: string, start: number, long: boolean): void {
    const meta = long ? null : parseBeginLine(text);
    if (!meta) return this.issue(start, 'malformed BEGIN marker');
    if (this.open) {
      this.issue(start, `BEGIN of xid ${meta.xid} inside xid ${this.open.xid} (begun at offset ${this.open.byteStart})`);
    }
    this.open = { ...meta, byteStart: start };
  }

  private commitLine(text: string, start: number, end: number, long: boolean): void {
    const meta = long ? null : parseCommitLine(text);
    if (!meta) return this.issue(start, 'malformed COMMIT marker');
    const open = this.open;
    this.open = null;
    if (!open) return this.issue(start, `COMMIT of xid ${meta.xid} without a BEGIN`);
    if (open.xid !== meta.xid) {
      return this.issue(start, `COMMIT xid ${meta.xid} does not match BEGIN xid ${open.xid} (offset ${open.byteStart})`);
    }
    const previousEnd = this.transactions.at(-1)?.endLsn ?? (this.header as SegmentHeader).startLsn;
    if (open.commitLsn < previousEnd) {
      this.issue(open.byteStart, `commit_lsn ${formatLsn(open.commitLsn)} of xid ${open.xid} is before ${formatLsn(previousEnd)}, the end of what precedes it`);
    }
    if (meta.endLsn <= open.commitLsn) {
      this.issue(start, `end_lsn ${formatLsn(meta.endLsn)} of xid ${meta.xid} is not after its commit_lsn ${formatLsn(open.commitLsn)}`);
    }
    this.transactions.push({
      xid: meta.xid,
      commitLsn: open.commitLsn,
      endLsn: meta.endLsn,
      commitTime: open.commitTime,
      changes: meta.changes,
      byteStart: open.byteStart,
      byteEnd: end,
    });
    this.markComplete(end);
  }

  private footerLine(text: string, start: number): void {
    const footer = parseFooterLine(text);
    if (!footer) return this.issue(start, 'malformed footer');
    this.footer = { ...footer, offset: start };
  }

  /** Bytes up to `end` are whole transactions; the hash state there is copied once the hash reaches it (one copy per chunk, not per COMMIT). */
  private markComplete(end: number): void {
    this.completeLength = end;
    this.completeDue = true;
    if (end - this.chunkStart <= this.hashedTo) this.hashUpTo(this.hashedTo);
  }

  private issue(offset: number, problem: string): void {
    this.issues.push({ offset, problem });
  }

  private corrupt(problem: string, offset: number) {
    return new SegmentCorruptError(`${this.name}: ${problem} at offset ${offset}`, { hint: CORRUPT_HINT });
  }
}

const CORRUPT_HINT = 'the file is damaged or was not written by pgincr; restore it from a copy, or take a new base backup so the chain no longer needs it';

/** Scans a whole segment held in memory. */
export function scanSegment(bytes: Buffer, name?: string): ScanResult {
  const scanner = new SegmentScanner(name);
  scanner.push(bytes);
  return scanner.finish();
}

/**
 * The first problem that makes a scanned, sealed segment unusable, or null: a grammar issue,
 * a torn tail, a missing footer, footer counts or LSN that disagree, a checksum mismatch.
 */
export function firstProblem(scan: ScanResult): ScanIssue | null {
  if (scan.issues.length > 0) return [...scan.issues].sort((a, b) => a.offset - b.offset)[0] as ScanIssue;
  const { footer, transactions } = scan;
  if (!footer) {
    const torn = scan.length > scan.completeLength ? ` (${scan.length - scan.completeLength} bytes after the last COMMIT)` : '';
    return { offset: scan.completeLength, problem: `missing footer, the segment is truncated${torn}` };
  }
  const changes = transactions.reduce((n, t) => n + t.changes, 0);
  const lastEnd = transactions.at(-1)?.endLsn ?? scan.header.startLsn;
  if (footer.transactions !== transactions.length) {
    return { offset: footer.offset, problem: `footer says ${footer.transactions} transactions, found ${transactions.length}` };
  }
  if (footer.changes !== changes) return { offset: footer.offset, problem: `footer says ${footer.changes} changes, found ${changes}` };
  if (footer.lastEndLsn !== lastEnd) {
    return { offset: footer.offset, problem: `footer last_end_lsn ${formatLsn(footer.lastEndLsn)} but the last COMMIT ends at ${formatLsn(lastEnd)}` };
  }
  if (footer.bodySha256 !== scan.actualBodySha256) {
    return { offset: footer.offset, problem: `body_sha256 mismatch: footer ${footer.bodySha256}, content ${scan.actualBodySha256}` };
  }
  return null;
}

/** Turns a scan into ok or a {@link SegmentCorruptError} naming the file and the offset. */
export function checkScan(scan: ScanResult, name = 'segment'): { ok: true; scan: ScanResult } | { ok: false; error: InstanceType<typeof SegmentCorruptError> } {
  const problem = firstProblem(scan);
  if (!problem) return { ok: true, scan };
  const error = new SegmentCorruptError(`${name}: ${problem.problem} at offset ${problem.offset}`, { hint: CORRUPT_HINT });
  return { ok: false, error };
}

/** Verifies a sealed segment held in memory (uncompressed bytes). */
export function verifySegment(
  bytes: Buffer,
  name = 'segment',
): { ok: true; scan: ScanResult } | { ok: false; error: InstanceType<typeof SegmentCorruptError> } {
  try {
    return checkScan(scanSegment(bytes, name), name);
  } catch (error) {
    if (error instanceof SegmentCorruptError) return { ok: false, error };
    throw error;
  }
}
