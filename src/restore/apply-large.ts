/**
 * A source transaction larger than a batch (apply-segments.ts: more than `batchBytes` of
 * statements, e.g. 1 GiB of rows or 10 million of them) is applied as ONE target transaction,
 * like any other, but never held whole: its statements arrive from the segment stream
 * (core/segment/split.ts) and go to the server in pieces of about `pieceBytes` of whole
 * statements (core/restore/pieces.ts: a DDL block is never cut), each merged like a batch
 * (COPY for runs of INSERTs) where the batch would be. The replication origin's progress is set
 * and committed with the last piece, exactly as for a batch: a failure or a crash before COMMIT
 * leaves nothing of it, and the retry applies it again from its BEGIN.
 *
 * A merged piece runs inside a savepoint: should it fail (say a transient duplicate on another
 * unique index, merge-changes.ts), only that piece is rolled back and sent as written, as a
 * failed merged batch is. A piece that fails as written fails the transaction, named by file,
 * xid, commit LSN and the piece's offset. One piece may be on the server while the next is
 * read and merged here (as batches are), so the applier holds at most two pieces.
 */
import type { Client } from 'pg';
import { formatLsn } from '../core/lsn';
import type { BeginMeta } from '../core/segment/grammar';
import type { ScannedTransaction } from '../core/segment/scan';
import { PieceSplitter } from '../core/restore/pieces';
import { withoutRoleSwitches } from '../core/restore/ddl-region';
import type { MergedBatch } from '../core/restore/merge-sql';
import { applyError, isConnectionError } from './apply-batch';
import { queryWithCopies } from './apply-copy';
import { InFlight } from './in-flight';
import { insertTriggersFire, mergedSql } from './merge-batch';
import type { TableShapes } from './table-shapes';
import type { SegmentDecoder } from './text-decoding';

/** What a large transaction shares with the applier around it. */
export interface LargeContext {
  client: Client;
  file: string;
  decode: SegmentDecoder;
  pieceBytes: number;
  /** A partial restore's filter (partial-apply.ts), applied to each piece. */
  filter?: (sql: string) => string;
  noOwner: boolean;
  /** Merge pieces into set-based statements (the batch's rule: merging wanted, role `replica`). */
  merge: boolean;
  copy: boolean;
  shapes: TableShapes;
  /** The applier's current answer of insertTriggersFire, negated (read again after DDL). */
  state: { insertRuns: boolean };
  signal?: AbortSignal;
  /** After each piece, with the file offset the transaction's statements are sent up to (a heartbeat). */
  onPiece: (offset: number) => Promise<void>;
}

const holdsDdl = (sql: string): boolean => sql.startsWith('-- ddl: ') || sql.includes('\n-- ddl: ');

export class LargeTransaction {
  private readonly pieces: PieceSplitter;
  private readonly inflight = new InFlight();
  /** File offset of the first statement byte not yet sent. */
  private sentTo = -1;
  /** A piece held DDL: the target's catalog changed (the applier reads it again after COMMIT). */
  heldDdl = false;
  piecesSent = 0;
  mergedPieces = 0;
  mergeFallbacks = 0;

  constructor(
    private readonly ctx: LargeContext,
    private readonly begin: BeginMeta & { offset: number },
  ) {
    this.pieces = new PieceSplitter(ctx.pieceBytes, (line) => ctx.decode(line, this.where(this.sentTo)));
  }

  /** Opens the target transaction (with an xid for sure, as a batch does: apply-batch.ts). */
  async start(): Promise<void> {
    await this.ctx.client.query('BEGIN');
    await this.ctx.client.query('SELECT pg_catalog.pg_current_xact_id()');
  }

  /** Whole statement lines, starting at file offset `offset`, in order. */
  async add(lines: Buffer, offset: number): Promise<void> {
    if (this.sentTo < 0) this.sentTo = offset;
    for (const piece of this.pieces.push(lines)) await this.send(piece);
  }

  /** Sends what is left, sets the origin's progress to the transaction's end and commits. */
  async commit(txn: ScannedTransaction): Promise<void> {
    const rest = this.pieces.finish();
    if (rest) await this.send(rest);
    await this.inflight.settle();
    const { client } = this.ctx;
    try {
      await client.query('SELECT pg_catalog.pg_replication_origin_xact_setup($1::pg_lsn, $2::timestamptz)', [formatLsn(txn.endLsn), txn.commitTime]);
      await client.query('COMMIT');
    } catch (error) {
      throw applyError(this.where(txn.byteEnd), '', error);
    }
  }

  /** After a failure: nothing of the transaction stays. */
  async abort(): Promise<void> {
    await this.inflight.drain();
    await this.ctx.client.query('ROLLBACK').catch(() => undefined);
  }

  private where(offset: number): string {
    const { xid, commitLsn } = this.begin;
    const at = offset >= 0 ? `, its statements at offset ${offset}` : '';
    return `${this.ctx.file}: xid ${xid} commit_lsn ${formatLsn(commitLsn)} (offset ${this.begin.offset}${at}; a large transaction, sent in pieces)`;
  }

  private async send(piece: Buffer): Promise<void> {
    const { ctx } = this;
    const at = this.sentTo;
    this.sentTo += piece.length;
    const where = this.where(at);
    const text = ctx.decode(piece, where);
    const filtered = ctx.filter ? ctx.filter(text) : text;
    if (filtered.length === 0) return;
    const ddl = holdsDdl(filtered);
    const sql = ddl && ctx.noOwner ? withoutRoleSwitches(filtered) : filtered;
    const merged =
      ctx.merge && !ddl
        ? await mergedSql(ctx.client, ctx.shapes, [{ sql }], { insertRuns: ctx.state.insertRuns, copy: ctx.copy }, () => this.inflight.settle())
        : undefined;
    await this.inflight.settle();
    ctx.signal?.throwIfAborted();
    const end = this.sentTo;
    const step = async (): Promise<void> => {
      try {
        await this.run(sql, merged);
      } catch (error) {
        throw applyError(where, sql, error);
      }
      this.piecesSent += 1;
      await ctx.onPiece(end);
    };
    if (!ddl) {
      this.inflight.then(step);
      return;
    }
    await step();
    // The catalog changed inside this transaction: merge what follows by the new one.
    this.heldDdl = true;
    ctx.shapes.clear();
    ctx.state.insertRuns = ctx.merge && !(await insertTriggersFire(ctx.client));
  }

  private async run(sql: string, merged: MergedBatch | undefined): Promise<void> {
    const { client } = this.ctx;
    if (merged !== undefined) {
      const text = `SAVEPOINT pgincr_piece;\n${merged.sql}RELEASE SAVEPOINT pgincr_piece;\n`;
      try {
        if (merged.copies.length === 0) await client.query(text);
        else await queryWithCopies(client, text, merged.copies);
        this.mergedPieces += 1;
        return;
      } catch (error) {
        if (isConnectionError(error)) throw error;
        // Released too: the piece as written runs at the transaction's top level, as a merged
        // piece's statements do after its RELEASE (a ROLLBACK TO keeps the savepoint, and each
        // failed piece would nest the next pieces one subtransaction deeper).
        await client.query('ROLLBACK TO SAVEPOINT pgincr_piece; RELEASE SAVEPOINT pgincr_piece');
        this.mergeFallbacks += 1;
      }
    }
    await client.query(sql);
  }
}
