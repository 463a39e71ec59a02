/**
 * The capture's segment writer. Appends whole transactions to `segments/partial/<start16>.sql.partial`,
 * makes them durable by group commit (one fsync covers every transaction written before it; see
 * "The acknowledgement rule" in docs/design.md) and only then reports the new durable end LSN
 * (invariant 2), resumes a partial after a crash by cutting its torn tail (invariant 3), and seals: footer with the body
 * SHA-256 (computed while writing, recomputed from the file on resume), rename into
 * `segments/<date>/`, optional gzip. Memory stays bounded: statements are buffered up to
 * `flushBytes`, then written, so a 1 GB transaction never sits in memory.
 *
 * Speed (the capture writes every change through here): statements are copied into one
 * reusable buffer, which is written with one `write` and hashed with one hash update per
 * `flushBytes` (or per fsync), not per statement. The `buffer*` methods are the synchronous
 * forms the capture engine uses to work through a received batch without a promise per change.
 */
import type { Hash } from 'node:crypto';
import { createHash } from 'node:crypto';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SegmentCorruptError, SegmentFormatError } from '../../errors';
import type { SegmentEntry } from '../../core/catalog/schema';
import { formatLsn, type Lsn } from '../../core/lsn';
import { partialDir, partialPath, segmentDateDir, segmentPath, segmentRelPath } from '../../core/repository/paths';
import { normalizeTime } from '../../core/segment/commit-time';
import { containsMarker, renderBegin, renderCommit, renderFooter, renderSegmentHeader, type BeginMeta, type SegmentHeader } from '../../core/segment/grammar';
import { segmentDateFolder } from '../../core/segment/naming';
import { ensureDir, fsyncDir, removeAbandonedTemps, writeFileAtomic } from './atomic-write';
import { findPartial, gzipFileAtomic, removeCompressedLeftovers, scanSegmentFile } from './segment-files';
import { faultPoint } from '../fault-point';

export { findResumePoint } from './segment-files';

/** Header fields given by the capture; the start LSN is given separately. */
export type HeaderFields = Omit<SegmentHeader, 'startLsn'>;

/** What `open` found: a resumed partial (with what it already holds) or a new one. */
export interface ResumeInfo {
  resumed: boolean;
  path: string;
  startLsn: Lsn;
  transactions: number;
  changes: number;
  lastCommitLsn: Lsn | null;
  /** End LSN of the last whole transaction (the start LSN when there is none): the durable position. */
  lastEndLsn: Lsn;
  /** Bytes of torn tail cut off. */
  cutBytes: number;
}

export interface SegmentWriterOptions {
  /** Buffered bytes that trigger a write to the file (default 1 MiB). */
  flushBytes?: number;
  /** Clock for `openedAtMs` (default Date.now). */
  nowMs?: () => number;
  /**
   * Remove what a killed process left in the segments folders (default true). False at a
   * rotation: the segment just sealed may be compressing in the background, and its gzip temp
   * file, or its `.sql` beside a fresh `.sql.gz`, are that compression's, not leftovers.
   */
  removeLeftovers?: boolean;
}

interface OpenTxn extends BeginMeta {
  /** File offset of the transaction's first byte. */
  start: number;
  /**
   * The hash of every byte before `start`, taken when a write first reaches into the
   * transaction (until then the hash has not seen its bytes, so abort needs nothing).
   */
  hashAtStart: Hash | null;
  changes: number;
}

/**
 * Cheap pre-check for `containsMarker`: a marker needs a line start other than the final
 * newline, and every marker prefix starts with `B`, `C` or `-`.
 */
function mayContainMarker(statement: string): boolean {
  const first = statement.charCodeAt(0);
  if (first === 0x42 /* B */ || first === 0x43 /* C */ || first === 0x2d /* - */) return true;
  const nl = statement.indexOf('\n');
  return nl >= 0 && nl < statement.length - 1;
}

/** Smallest write buffer (tests use tiny `flushBytes`). */
const MIN_BUFFER = 64 * 1024;

export class SegmentWriter {
  /** Bytes not yet written to the file: `buf[0, pendingBytes)`, at file offset `position`. */
  private buf: Buffer;
  private pendingBytes = 0;
  /** `buf[0, hashedBytes)` is already in the hash (see `hashPending`). */
  private hashedBytes = 0;
  /** The other buffer of the pair (the one being written while appends go on). */
  private spare: Buffer | null = null;
  private readonly writesInFlight = new Set<Promise<void>>();
  private txn: OpenTxn | null = null;
  private closed = false;

  private constructor(
    private readonly chain: string,
    private readonly header: SegmentHeader,
    private readonly path: string,
    private handle: FileHandle,
    private position: number,
    private hash: Hash,
    private counts: { transactions: number; changes: number; firstCommitTime: string | null; lastCommitTime: string | null },
    private lastCommitLsn: Lsn | null,
    private lastEndLsn: Lsn,
    private readonly openedAtMs: number,
    private readonly flushBytes: number,
    readonly resume: ResumeInfo,
  ) {
    this.buf = Buffer.allocUnsafe(SegmentWriter.bufferSize(flushBytes));
  }

  /** Room for `flushBytes` plus one typical statement, so most appends never reallocate. */
  private static bufferSize(flushBytes: number): number {
    return Math.max(MIN_BUFFER, flushBytes + flushBytes / 4);
  }

  /**
   * Opens the chain's partial segment: resumes the existing one (its header, not `startLsn`,
   * decides where it starts; its torn tail is cut and fsynced) or creates a new one starting at
   * `startLsn` (which must be the previous segment's end, or the base LSN: see `findResumePoint`).
   */
  static async open(chain: string, fields: HeaderFields, startLsn: Lsn, options: SegmentWriterOptions = {}): Promise<SegmentWriter> {
    const flushBytes = options.flushBytes ?? 1024 * 1024;
    const now = options.nowMs ?? Date.now;
    await ensureDir(partialDir(chain));
    await removeAbandonedTemps(partialDir(chain)); // a new partial's header, written when a kill came
    if (options.removeLeftovers ?? true) await removeCompressedLeftovers(chain);
    const existing = await findPartial(chain);
    if (existing) return SegmentWriter.resumePartial(chain, fields, existing.path, flushBytes, now);
    const header: SegmentHeader = { ...fields, startLsn };
    const path = partialPath(chain, startLsn);
    const text = Buffer.from(renderSegmentHeader(header), 'latin1');
    await writeFileAtomic(path, text);
    const handle = await open(path, 'r+');
    const hash = createHash('sha256').update(text);
    const counts = { transactions: 0, changes: 0, firstCommitTime: null, lastCommitTime: null };
    const resume: ResumeInfo = { resumed: false, path, startLsn, transactions: 0, changes: 0, lastCommitLsn: null, lastEndLsn: startLsn, cutBytes: 0 };
    return new SegmentWriter(chain, header, path, handle, text.length, hash, counts, null, startLsn, now(), flushBytes, resume);
  }

  private static async resumePartial(chain: string, fields: HeaderFields, path: string, flushBytes: number, now: () => number) {
    const { scan, scanner } = await scanSegmentFile(path);
    const { header } = scan;
    if (header.systemIdentifier !== fields.systemIdentifier || header.database !== fields.database) {
      throw new SegmentCorruptError(
        `${path}: open segment belongs to system ${header.systemIdentifier} database ${header.database}, not ${fields.systemIdentifier} ${fields.database}`,
        { hint: 'the repository chain folder is shared with another database; move the partial away or fix the repository path' },
      );
    }
    const inBody = scan.issues.filter((i) => i.offset < scan.completeLength);
    if (inBody.length > 0) {
      const first = inBody[0] as { offset: number; problem: string };
      throw new SegmentCorruptError(`${path}: ${first.problem} at offset ${first.offset}`, {
        hint: 'the open segment is damaged before its last complete transaction; move it away and take a new base backup',
      });
    }
    const handle = await open(path, 'r+');
    const cutBytes = scan.length - scan.completeLength;
    if (cutBytes > 0) {
      await handle.truncate(scan.completeLength);
      await handle.datasync();
    }
    const txns = scan.transactions;
    const last = txns.at(-1);
    const counts = {
      transactions: txns.length,
      changes: txns.reduce((n, t) => n + t.changes, 0),
      firstCommitTime: txns[0]?.commitTime ?? null,
      lastCommitTime: last?.commitTime ?? null,
    };
    const lastEndLsn = last?.endLsn ?? header.startLsn;
    const resume: ResumeInfo = {
      resumed: true,
      path,
      startLsn: header.startLsn,
      transactions: counts.transactions,
      changes: counts.changes,
      lastCommitLsn: last?.commitLsn ?? null,
      lastEndLsn,
      cutBytes,
    };
    const birth = (await stat(path)).birthtimeMs;
    const openedAt = birth > 0 ? birth : now();
    return new SegmentWriter(
      chain,
      header,
      path,
      handle,
      scan.completeLength,
      scanner.completeHash(),
      counts,
      resume.lastCommitLsn,
      lastEndLsn,
      openedAt,
      flushBytes,
      resume,
    );
  }

  /** Where this segment starts (its header's start_lsn). */
  get startLsn(): Lsn {
    return this.header.startLsn;
  }

  /**
   * End LSN of the last transaction committed to this writer (the start LSN before the first).
   * Durable only once {@link sync} has run since: true when the writer opens (a resumed partial
   * is cut and fsynced) and after `sync`, which is when the capture reads it; between group
   * commits it can be ahead of the disk (capture/group-commit.ts tracks what is durable).
   */
  get durableLsn(): Lsn {
    return this.lastEndLsn;
  }

  /** True when a transaction with this commit LSN is already in the files (dedupe, docs/design.md invariant 3). */
  alreadyWritten(commitLsn: Lsn): boolean {
    return commitLsn < this.lastEndLsn;
  }

  /** Starts a transaction; refuses one already written (`alreadyWritten`) or while one is open. */
  async beginTransaction(meta: BeginMeta): Promise<void> {
    if (this.bufferBegin(meta)) await this.writeBuffer();
  }

  /**
   * {@link beginTransaction}, buffered: returns true when the buffer is full and
   * {@link writeBuffer} must be awaited before the next call.
   */
  bufferBegin(meta: BeginMeta): boolean {
    this.assertOpen();
    if (this.txn) throw new Error(`${this.path}: begin of xid ${meta.xid} while xid ${this.txn.xid} is open`);
    if (this.alreadyWritten(meta.commitLsn)) {
      throw new Error(`${this.path}: xid ${meta.xid} commit_lsn ${formatLsn(meta.commitLsn)} is before ${formatLsn(this.lastEndLsn)}, already written`);
    }
    const commitTime = normalizeTime(meta.commitTime);
    // Objects built field by field: a spread that then overrides a field took microseconds here (V8 slow path).
    this.txn = { xid: meta.xid, commitLsn: meta.commitLsn, commitTime, start: this.position + this.pendingBytes, hashAtStart: null, changes: 0 };
    return this.put(renderBegin({ xid: meta.xid, commitLsn: meta.commitLsn, commitTime }));
  }

  /** Appends one rendered statement (a byte string; a final `\n` is added when missing). */
  async writeStatement(statement: string): Promise<void> {
    if (this.bufferStatement(statement)) await this.writeBuffer();
  }

  /** {@link writeStatement}, buffered: true when {@link writeBuffer} must be awaited next. */
  bufferStatement(statement: string): boolean {
    if (!this.txn) throw new Error(`${this.path}: statement outside a transaction`);
    if (mayContainMarker(statement) && containsMarker(statement)) {
      throw new SegmentFormatError(
        `${this.path}: xid ${this.txn.xid}: a statement contains a line that looks like a segment marker; nothing of the transaction was written`,
        {
          hint:
            'a name or value holding a line break reached the segment unescaped (a pgincr bug: report it); retrying renders the same statement, so the capture stops here. ' +
            'Upgrade pgincr and run `pgincr capture start` (the slot still holds the transaction), or `pgincr setup --new-chain` to start a new chain after it',
        },
      );
    }
    this.txn.changes += 1;
    return this.put(statement.endsWith('\n') ? statement : `${statement}\n`);
  }

  /**
   * {@link bufferStatement} rendered in place: `render(buf, at)` writes the statement into the
   * write buffer from `at` (at most `maxBytes`) and returns its end, or -1 to write nothing (the
   * bytes it put past `at` are then ignored). The statement must be one line ending with `\n`
   * that starts with INSERT, UPDATE or DELETE (RowRenderer's output): it holds no segment
   * marker. Returns null when `render` declined, else true when {@link writeBuffer} must be
   * awaited next.
   */
  bufferStatementInPlace(maxBytes: number, render: (buf: Buffer, at: number) => number): boolean | null {
    if (!this.txn) throw new Error(`${this.path}: statement outside a transaction`);
    if (this.pendingBytes + maxBytes > this.buf.length) this.grow(this.pendingBytes + maxBytes);
    const end = render(this.buf, this.pendingBytes);
    if (end < 0) return null;
    this.txn.changes += 1;
    this.pendingBytes = end;
    return end >= this.flushBytes;
  }

  /**
   * Writes the COMMIT line and fdatasyncs; returns the new durable end LSN, only once it is on
   * disk. `changes` defaults to the number of statements written.
   *
   * Group commit: with `sync: false` the transaction is written to the file but not fsynced;
   * the caller must call {@link sync} before it treats the returned end LSN as durable (and so
   * before acknowledging it to the server).
   */
  async commitTransaction(meta: { xid: number; endLsn: Lsn; changes?: number }, options: { sync?: boolean } = {}): Promise<Lsn> {
    const txn = this.checkCommit(meta);
    const changes = meta.changes ?? txn.changes;
    const full = this.put(renderCommit({ xid: meta.xid, endLsn: meta.endLsn, changes }));
    // The transaction counts as committed only once it is on disk (a failed fsync leaves it open).
    if (options.sync !== false) await this.sync();
    else if (full) await this.writeBuffer();
    this.committed(txn, meta.endLsn, changes);
    return meta.endLsn;
  }

  /**
   * {@link commitTransaction} with `sync: false`, buffered: the COMMIT line may stay in memory
   * until {@link writeBuffer} or {@link sync}; the end LSN is durable only after `sync`.
   * Returns true when the buffer is full and {@link writeBuffer} must be awaited next.
   */
  bufferCommit(meta: { xid: number; endLsn: Lsn; changes?: number }): boolean {
    const txn = this.checkCommit(meta);
    const changes = meta.changes ?? txn.changes;
    const full = this.put(renderCommit({ xid: meta.xid, endLsn: meta.endLsn, changes }));
    this.committed(txn, meta.endLsn, changes);
    return full;
  }

  private checkCommit(meta: { xid: number; endLsn: Lsn }): OpenTxn {
    const txn = this.txn;
    if (!txn) throw new Error(`${this.path}: commit of xid ${meta.xid} without a transaction`);
    if (txn.xid !== meta.xid) throw new Error(`${this.path}: commit of xid ${meta.xid} but xid ${txn.xid} is open`);
    if (meta.endLsn <= txn.commitLsn) {
      throw new Error(`${this.path}: xid ${meta.xid} end_lsn ${formatLsn(meta.endLsn)} is not after commit_lsn ${formatLsn(txn.commitLsn)}`);
    }
    return txn;
  }

  private committed(txn: OpenTxn, endLsn: Lsn, changes: number): void {
    this.txn = null;
    this.counts.transactions += 1;
    this.counts.changes += changes;
    this.counts.firstCommitTime ??= txn.commitTime;
    this.counts.lastCommitTime = txn.commitTime;
    this.lastCommitLsn = txn.commitLsn;
    this.lastEndLsn = endLsn;
  }

  /**
   * Makes every committed transaction durable (after group commits); returns the last end LSN.
   * The bytes of an open transaction may be written too (abort truncates them away).
   */
  async sync(): Promise<Lsn> {
    this.assertOpen();
    await this.writeBuffer();
    // Writes started earlier (the capture loop's, while this fsync was due) land before it.
    await Promise.all(this.writesInFlight);
    faultPoint('mid-fsync');
    await this.handle.datasync();
    return this.lastEndLsn;
  }

  /** Drops the open transaction (the stream broke mid-transaction): truncates back to its start. */
  async abortTransaction(): Promise<void> {
    const txn = this.txn;
    if (!txn) return;
    this.txn = null;
    if (txn.start >= this.position) {
      // Still all in the buffer (and not yet in the hash): forget it, keep what precedes it.
      this.pendingBytes = txn.start - this.position;
      this.hashedBytes = Math.min(this.hashedBytes, this.pendingBytes);
      if (txn.hashAtStart) this.hash = txn.hashAtStart;
      return;
    }
    // Partly written to the file (a write reached into it, so hashAtStart was taken).
    this.pendingBytes = 0;
    this.hashedBytes = 0;
    await this.handle.truncate(txn.start);
    await this.handle.datasync();
    this.position = txn.start;
    if (txn.hashAtStart) this.hash = txn.hashAtStart;
  }

  /** Bytes, whole transactions and changes so far, when the segment was opened, the durable end LSN. */
  stats(): { bytes: number; transactions: number; changes: number; openedAtMs: number; lastEndLsn: Lsn; lastCommitLsn: Lsn | null } {
    return {
      bytes: this.position + this.pendingBytes,
      transactions: this.counts.transactions,
      changes: this.counts.changes,
      openedAtMs: this.openedAtMs,
      lastEndLsn: this.lastEndLsn,
      lastCommitLsn: this.lastCommitLsn,
    };
  }

  /**
   * Seals the segment: footer, fsync, rename to `segments/<date>/<start16>_<end16>.sql`, then
   * optionally gzip (the `.gz` written atomically, then the `.sql` removed). Returns the catalog
   * entry, or null (and stays open) when the segment holds no transaction.
   */
  async seal(options: { compress: 'gzip' | 'none' }): Promise<SegmentEntry | null> {
    this.assertOpen();
    if (this.txn) throw new Error(`${this.path}: seal while xid ${this.txn.xid} is open`);
    const { transactions, changes, firstCommitTime, lastCommitTime } = this.counts;
    if (transactions === 0 || !firstCommitTime || !lastCommitTime) return null;
    this.put('\n');
    this.hashPending(this.pendingBytes);
    const bodySha256 = this.hash.copy().digest('hex');
    this.put(renderFooter({ transactions, changes, lastEndLsn: this.lastEndLsn, bodySha256 }));
    await this.writeBuffer();
    await this.handle.datasync();
    await this.handle.close();
    this.closed = true;
    const sha256Uncompressed = this.hash.digest('hex');
    const bytesUncompressed = this.position;
    const date = segmentDateFolder(lastCommitTime);
    const sealed = segmentPath(this.chain, date, this.startLsn, this.lastEndLsn, false);
    await ensureDir(segmentDateDir(this.chain, date));
    faultPoint('mid-rotation');
    await rename(this.path, sealed);
    await fsyncDir(dirname(sealed));
    await fsyncDir(dirname(this.path));
    const entry: SegmentEntry = {
      file: segmentRelPath(date, this.startLsn, this.lastEndLsn, false),
      startLsn: formatLsn(this.startLsn),
      endLsn: formatLsn(this.lastEndLsn),
      firstCommitTime,
      lastCommitTime,
      transactions,
      changes,
      bytes: bytesUncompressed,
      sha256: sha256Uncompressed,
      compressed: false,
    };
    return options.compress === 'none' ? entry : compressSealedSegment(this.chain, entry);
  }

  /**
   * Closes the file without sealing; the partial stays for the next `open` to resume. Committed
   * transactions still buffered are written (not fsynced: they were never reported durable).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.abortTransaction();
    await this.writeBuffer();
    await this.handle.close();
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`${this.path}: segment writer is closed`);
  }

  /** Copies a byte string into the buffer; true when it reached `flushBytes`. */
  private put(text: string): boolean {
    const n = text.length; // a byte string: one char per byte
    if (this.pendingBytes + n > this.buf.length) this.grow(this.pendingBytes + n);
    this.buf.write(text, this.pendingBytes, n, 'latin1');
    this.pendingBytes += n;
    return this.pendingBytes >= this.flushBytes;
  }

  /** A larger buffer, for a statement bigger than the buffer (shrunk again by the next write). */
  private grow(needed: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(needed, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.pendingBytes);
    this.buf = bigger;
  }

  /**
   * Feeds `buf[hashedBytes, upTo)` to the hash. When that crosses the start of the open
   * transaction, the hash is first copied there, so an abort can go back to it.
   */
  private hashPending(upTo: number): void {
    const txn = this.txn;
    if (txn && txn.hashAtStart === null) {
      const startInBuffer = txn.start - this.position;
      if (startInBuffer >= this.hashedBytes && startInBuffer <= upTo) {
        this.hash.update(this.buf.subarray(this.hashedBytes, startInBuffer));
        txn.hashAtStart = this.hash.copy();
        this.hashedBytes = startInBuffer;
      }
    }
    if (upTo > this.hashedBytes) this.hash.update(this.buf.subarray(this.hashedBytes, upTo));
    this.hashedBytes = upTo;
  }

  /** Writes the buffered bytes to the file (no fsync). Await it before the next `buffer*` call. */
  async writeBuffer(): Promise<void> {
    const n = this.pendingBytes;
    if (n === 0) return;
    this.hashPending(n);
    const out = this.buf;
    const at = this.position;
    // Book the bytes as written before awaiting, and give new appends a fresh buffer.
    this.position += n;
    this.pendingBytes = 0;
    this.hashedBytes = 0;
    this.buf =
      out.length > SegmentWriter.bufferSize(this.flushBytes)
        ? Buffer.allocUnsafe(SegmentWriter.bufferSize(this.flushBytes))
        : (this.spare ?? Buffer.allocUnsafe(out.length));
    this.spare = null;
    const write = this.writeOut(out, n, at);
    this.writesInFlight.add(write);
    try {
      await write;
    } finally {
      this.writesInFlight.delete(write);
    }
    if (this.txn && this.txn.start < this.position) faultPoint('mid-transaction');
    if (out.length === this.buf.length) this.spare = out;
  }

  private async writeOut(out: Buffer, n: number, at: number): Promise<void> {
    let written = 0;
    while (written < n) {
      const { bytesWritten } = await this.handle.write(out, written, n - written, at + written);
      written += bytesWritten;
    }
  }
}

/**
 * gzips a sealed, uncompressed segment: `x.sql.gz` written atomically, then `x.sql` removed.
 * Returns its catalog entry. A crash in between leaves both files, and `open` removes the `.sql`
 * (removeCompressedLeftovers); a crash before leaves a valid `.sql`.
 */
export async function compressSealedSegment(chain: string, sealed: SegmentEntry): Promise<SegmentEntry> {
  if (sealed.compressed) return sealed;
  const path = join(chain, sealed.file);
  const gz = await gzipFileAtomic(path);
  faultPoint('mid-gzip');
  await unlink(path);
  await fsyncDir(dirname(path));
  return { ...sealed, file: `${sealed.file}.gz`, bytes: gz.bytes, sha256: gz.sha256, compressed: true, sha256Uncompressed: sealed.sha256 };
}
