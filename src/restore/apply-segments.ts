/**
 * The applier: replays planned segments into the target database, each source transaction
 * exactly once, in commit order, on ONE connection.
 *
 * Exactly once comes from the restore's replication origin (see `origin.ts`): every target
 * transaction ends with `pg_replication_origin_xact_setup(<last end_lsn>, <commit time>)`,
 * so the origin's progress commits atomically with the data; on a retry, transactions with
 * `end_lsn <= progress` are skipped. Small source transactions are batched into one target
 * transaction (all or nothing: an aborted batch leaves no progress, its retry re-applies it
 * whole). A batch that fails is re-run one source transaction per target transaction, so
 * statements that need their own transaction's commit (e.g. `ALTER TYPE … ADD VALUE` then
 * using the value) behave as they did on the source.
 *
 * Every segment is verified (footer, counts, body checksum) before anything is applied, then read
 * again as a stream (core/segment/split.ts), checked to be the same bytes: neither a segment nor
 * a transaction is ever held whole. A source transaction larger than a batch is applied as its
 * own target transaction, sent in pieces (apply-large.ts). Memory: the batch being prepared and
 * the one in flight (each at most `batchBytes` of statements plus one transaction of at most
 * that size, as decoded text, parsed lines and merged SQL), or a large transaction's two pieces
 * of `pieceBytes`, plus read chunks of 256 KiB; one statement line is always held whole.
 * The connection runs with `session_replication_role = replica` (triggers and foreign keys
 * do not fire: their effects are already in the stream, as with logical replication).
 *
 * Under the `replica` role, each batch's one-row changes are sent as a few set-based statements
 * (`core/restore/merge-changes.ts`: INSERT runs as `COPY … FROM STDIN` or multi-row INSERTs,
 * `UPDATE … FROM (VALUES …)`, `DELETE … IN (…)`) on tables where nothing can tell the difference (no trigger or rule that fires, keyed
 * by a unique identity, or for REPLICA IDENTITY FULL changes by a primary key or unique index of
 * the target; the target's catalog says, `table-shapes.ts`); the batch then commits the
 * same state as the statements as written, or, should the merged form fail, is applied as written.
 * Other tables' consecutive INSERTs are still merged in order when no INSERT trigger or rule can
 * fire anywhere in the target. A transaction holding DDL is sent as written and ends its batch,
 * and the target's catalog is read again after it.
 */
import type { Client } from 'pg';
import type { Profile } from '../config';
import { connectProfile, livenessSettings } from '../adapters/pg/connect';
import { destroyConnection } from '../adapters/pg/pg-internals';
import { segmentChunks, verifySegmentFile } from '../adapters/fs/segment-files';
import { formatLsn } from '../core/lsn';
import type { BeginMeta, SegmentHeader } from '../core/segment/grammar';
import type { ScanResult, ScannedTransaction } from '../core/segment/scan';
import { TransactionSplitter } from '../core/segment/split';
import { SegmentCorruptError } from '../errors';
import { ensureOrigin, advanceOrigin, originName, originProgress, restoreApplicationName, setupOriginSession, dropOrigin, endStaleSessions } from './origin';
import { decoderFor, type SegmentDecoder } from './text-decoding';
import { stopDecider, type StopDecision, type StopTarget } from './stop-target';
import { applyBatch, type BatchItem } from './apply-batch';
import { LargeTransaction, type LargeContext } from './apply-large';
import { insertTriggersFire, mergedSql } from './merge-batch';
import { TableShapes } from './table-shapes';
import { withoutRoleSwitches } from '../core/restore/ddl-region';
import type { MergedBatch } from '../core/restore/merge-sql';
import { InFlight } from './in-flight';
import { ApplyWatchdog, DEFAULT_APPLY_RECEIVE_TIMEOUT_MS } from './apply-watchdog';

/** Source transactions per target transaction by default (see applySegments). */
const DEFAULT_BATCH_TRANSACTIONS = 250;
/** Source bytes per target transaction by default; a larger source transaction is sent in pieces. */
const DEFAULT_BATCH_BYTES = 5 * 1024 * 1024;
/** A large transaction's piece (apply-large.ts): about this many bytes of whole statements. */
const DEFAULT_PIECE_BYTES = 1024 * 1024;

export interface ApplyProgress {
  segment: string;
  segmentIndex: number;
  segmentCount: number;
  /** Uncompressed segment bytes processed so far (applied or skipped) and in all. */
  bytesDone: number;
  bytesTotal: number;
  appliedTransactions: number;
  lastEndLsn: string | null;
  /** Seconds left at the current rate; null until something was applied. */
  etaSeconds: number | null;
}

export interface ApplyOptions {
  /** The target database (profile.dbname is the restored database). */
  profile: Profile;
  restoreId: string;
  /** Segment files in LSN order (absolute paths; `.sql` or `.sql.gz`). */
  segments: readonly string[];
  /**
   * After them, the open segment's whole transactions (a restore to latest that nothing sealed
   * for: src/restore/open-prefix.ts): `read` checks exactly the planned bytes (or throws) and
   * returns their scan and a way to read them again.
   */
  openPrefix?: { read(): Promise<{ path: string; scan: ScanResult; sha256: string; chunks(): AsyncIterable<Buffer>; close(): Promise<void> }> };
  stopAt: StopTarget;
  /** The base's LSN: the origin starts there when the base step did not create it. */
  startLsn?: string;
  /**
   * Batch limits: a target transaction holds at most this many source bytes / transactions; a
   * source transaction of more than `batchBytes` is one target transaction of its own, sent in
   * pieces of about `pieceBytes` (apply-large.ts).
   */
  batchBytes?: number;
  batchTransactions?: number;
  pieceBytes?: number;
  /** `replica` (default) keeps triggers and foreign keys from firing on replayed rows. */
  sessionReplicationRole?: 'replica' | 'origin';
  /**
   * Replay DDL as the restoring role (`pgincr restore --no-owner`): the `SET ROLE` / `RESET ROLE`
   * lines around each DDL statement are left out (core/restore/ddl-region.ts withoutRoleSwitches).
   */
  noOwner?: boolean;
  /** Merge one-row changes into set-based statements where exact (default true; see the module comment). */
  mergeInserts?: boolean;
  /** Send merged INSERTs as COPY where the target table allows it (default true; core/restore/copy-text.ts). */
  copy?: boolean;
  /** A partial restore's filter over each transaction's statements (restore/partial-apply.ts); the rest applies unchanged. */
  filterTransaction?: (sql: string) => string;
  /**
   * A statement outstanding this long with nothing received from the target server, and a check
   * over a new connection that does not find it running: the link is dead, the apply fails and is
   * retried (restore.receiveTimeout; apply-watchdog.ts). Default 60 s.
   */
  receiveTimeoutMs?: number;
  /** Called after each batch (awaited: a heartbeat or a test hook may be async). */
  onProgress?: (p: ApplyProgress) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface ApplyResult {
  appliedTransactions: number;
  skippedTransactions: number;
  batches: number;
  lastEndLsn: string | null;
  lastCommitTime: string | null;
  /** The stop target was seen (always true for `latest` once every segment is applied). */
  reachedTarget: boolean;
  /** Batches committed in their merged form, and merged batches that failed and were applied as written. */
  mergedBatches: number;
  mergeFallbacks: number;
  /** Source transactions larger than a batch, each sent in pieces (apply-large.ts), and the pieces. */
  largeTransactions: number;
  pieces: number;
  /** Pieces whose merged form failed and were rolled back to their savepoint and sent as written. */
  pieceFallbacks: number;
}

/** A segment verified before anything is applied, and how to read it again. */
interface VerifiedSegment {
  path: string;
  header: SegmentHeader;
  /** The bytes the applier reads: the whole file, or an open segment's planned prefix. */
  length: number;
  /** SHA-256 of those bytes before the footer line (of all of them for a prefix): the second reading must match. */
  bodySha256: string;
  transactions: number;
  chunks: () => AsyncIterable<Buffer>;
  close?: () => Promise<void>;
}

/**
 * Verifies every segment (footer, counts, body checksum) before anything is applied; throws the
 * first problem. Streamed: what is kept of a segment is its size, header, checksum and count.
 */
async function verifySegments(paths: readonly string[]): Promise<VerifiedSegment[]> {
  const out: VerifiedSegment[] = [];
  for (const path of paths) {
    const { scan } = await verifySegmentFile(path);
    out.push({
      path,
      header: scan.header,
      length: scan.length,
      bodySha256: scan.actualBodySha256 as string,
      transactions: scan.transactions.length,
      chunks: () => segmentChunks(path),
    });
  }
  return out;
}

/** The header's SET statements, except client_encoding (the applier's connection stays UTF8). */
export function headerSettings(bytes: Buffer, headerLength: number): string {
  const header = bytes.subarray(0, headerLength).toString('latin1');
  return header
    .split('\n')
    .filter((line) => line.startsWith('SET '))
    .flatMap((line) => line.split(';'))
    .map((s) => s.trim())
    .filter((s) => s.startsWith('SET ') && !/^SET\s+client_encoding\b/i.test(s))
    .map((s) => `${s};`)
    .join(' ');
}

async function openApplyConnection(opts: ApplyOptions, name: string): Promise<{ client: Client; watchdog: ApplyWatchdog }> {
  const applicationName = restoreApplicationName(opts.restoreId);
  const timeoutMs = opts.receiveTimeoutMs ?? DEFAULT_APPLY_RECEIVE_TIMEOUT_MS;
  // Connects within the timeout; the server ends this session if the network cuts it off.
  const live = livenessSettings(timeoutMs);
  const client = await connectProfile(opts.profile, { application_name: applicationName, options: live.server, ...live.client });
  // A connection that dies while idle must not crash the worker: the next query reports it.
  client.on('error', () => undefined);
  const watchdog = new ApplyWatchdog(client, opts.profile, timeoutMs);
  watchdog.start();
  try {
    await client.query("SET client_encoding = 'UTF8'");
    // Progress commits with the data (apply-batch.ts: the origin's position is set in the batch's
    // own transaction), so a commit lost in a crash loses both together and the retry re-applies
    // that batch: safe not to wait for each commit's flush. The end of the apply waits for the
    // last one (originProgress with flush) before anything reports success.
    await client.query('SET synchronous_commit = off');
    await client.query(`SET session_replication_role = ${opts.sessionReplicationRole === 'origin' ? 'origin' : 'replica'}`);
    if ((await ensureOrigin(client, name)) && opts.startLsn) await advanceOrigin(client, name, opts.startLsn);
    await setupOriginSession(client, name, applicationName);
    return { client, watchdog };
  } catch (error) {
    watchdog.stop();
    destroyConnection(client);
    throw watchdog.error ?? error;
  }
}

const holdsDdl = (sql: string): boolean => sql.startsWith('-- ddl: ') || sql.includes('\n-- ddl: ');

/** The source transaction being read from the stream. */
interface OpenTransaction {
  begin: BeginMeta & { offset: number };
  decision: StopDecision;
  /** Applied before (its commit LSN is before the origin's progress): read past. */
  skip: boolean;
  /** Its statements so far, while it is small enough to hold. */
  parts: Buffer[];
  size: number;
  /** Once it outgrew a batch: sent in pieces. */
  large: LargeTransaction | null;
}

/** Applies planned segments up to the stop target; resumable (see the module comment). */
export async function applySegments(opts: ApplyOptions): Promise<ApplyResult> {
  const name = originName(opts.restoreId);
  const maxBytes = opts.batchBytes ?? DEFAULT_BATCH_BYTES;
  // 250, not more: a batch's parsed lines live until it is merged, and past a few hundred source
  // transactions they outlive V8's young-generation collections and are promoted, which made the
  // garbage collector the applier's largest cost (synthetic bench: half the JavaScript CPU at 250
  // as at 1000, the same server work: a COPY of a few thousand rows amortises its statement).
  const maxTxns = opts.batchTransactions ?? DEFAULT_BATCH_TRANSACTIONS;
  const pieceBytes = opts.pieceBytes ?? DEFAULT_PIECE_BYTES;
  const decide = stopDecider(opts.stopAt);
  const verified = await verifySegments(opts.segments);
  if (opts.openPrefix) {
    const open = await opts.openPrefix.read();
    verified.push({
      path: open.path,
      header: open.scan.header,
      length: open.scan.length,
      // A prefix has no footer: the hash is of all its bytes.
      bodySha256: open.sha256,
      transactions: open.scan.transactions.length,
      chunks: () => open.chunks(),
      close: () => open.close(),
    });
  }
  const bytesTotal = verified.reduce((n, v) => n + v.length, 0);
  const result: ApplyResult = {
    appliedTransactions: 0,
    skippedTransactions: 0,
    batches: 0,
    lastEndLsn: null,
    lastCommitTime: null,
    reachedTarget: false,
    mergedBatches: 0,
    mergeFallbacks: 0,
    largeTransactions: 0,
    pieces: 0,
    pieceFallbacks: 0,
  };
  let client: Client | undefined;
  let watchdog: ApplyWatchdog | undefined;
  // One batch may be in flight on the server while the next is read, decoded and merged here;
  // the connection is used for anything else only after `settle`.
  const inflight = new InFlight();
  const settle = () => inflight.settle();
  try {
    ({ client, watchdog } = await openApplyConnection(opts, name));
    const db = client;
    const mergeWanted = opts.mergeInserts !== false && opts.sessionReplicationRole !== 'origin';
    const shapes = new TableShapes();
    const started = Date.now();
    let bytesBefore = 0;
    let sessionSettings: string | null = null;
    let bytesSkipped = 0;
    const progress = (await originProgress(db, name)) ?? 0n;
    const state = { insertRuns: mergeWanted && !(await insertTriggersFire(db)) };
    let stop = false;
    for (let i = 0; i < verified.length && !stop; i++) {
      const segment = verified[i] as VerifiedSegment;
      const { path } = segment;
      const decode = decoderFor(segment.header.encoding, path);
      const segmentStart = bytesBefore;
      let batch: BatchItem[] = [];
      let batchBytes = 0;
      const report = async (doneBytes: number): Promise<void> => {
        const done = segmentStart + doneBytes;
        const rate = (done - bytesSkipped) / Math.max(1, Date.now() - started);
        await opts.onProgress?.({
          segment: path,
          segmentIndex: i,
          segmentCount: verified.length,
          bytesDone: done,
          bytesTotal,
          appliedTransactions: result.appliedTransactions,
          lastEndLsn: result.lastEndLsn,
          etaSeconds: result.appliedTransactions > 0 && rate > 0 ? Math.round((bytesTotal - done) / rate / 1000) : null,
        });
      };
      const apply = async (items: BatchItem[], merged: MergedBatch | undefined, doneBytes: number): Promise<void> => {
        const outcome = await applyBatch(db, path, items, merged);
        if (outcome === 'merged') result.mergedBatches += 1;
        else if (merged !== undefined) result.mergeFallbacks += 1;
        const last = items[items.length - 1] as BatchItem;
        result.appliedTransactions += items.length;
        result.batches += 1;
        result.lastEndLsn = formatLsn(last.txn.endLsn);
        result.lastCommitTime = last.txn.commitTime;
        await report(doneBytes);
      };
      const catalogChanged = async (): Promise<void> => {
        // Read the catalog again before merging anything after this, and set the next segment's
        // settings again whatever they are.
        shapes.clear();
        sessionSettings = null;
        state.insertRuns = mergeWanted && !(await insertTriggersFire(db));
      };
      const flush = async (doneBytes: number): Promise<void> => {
        if (batch.length === 0) {
          inflight.then(() => report(doneBytes));
          return;
        }
        const items = batch;
        batch = [];
        batchBytes = 0;
        const ddl = items.some((b) => b.ddl);
        const merged = mergeWanted
          ? await mergedSql(
              db,
              shapes,
              items.map((b) => ({ sql: b.sql, verbatim: b.ddl })),
              { insertRuns: state.insertRuns, copy: opts.copy !== false },
              settle,
            )
          : undefined;
        await settle();
        opts.signal?.throwIfAborted();
        if (!ddl) {
          inflight.then(() => apply(items, merged, doneBytes));
          return;
        }
        await apply(items, merged, doneBytes);
        await catalogChanged();
      };
      const largeContext: LargeContext = {
        client: db,
        file: path,
        decode,
        pieceBytes,
        ...(opts.filterTransaction ? { filter: opts.filterTransaction } : {}),
        noOwner: opts.noOwner === true,
        merge: mergeWanted,
        copy: opts.copy !== false,
        shapes,
        state,
        ...(opts.signal ? { signal: opts.signal } : {}),
        onPiece: (offset) => report(offset),
      };
      const splitter = new TransactionSplitter(path);
      let open: OpenTransaction | null = null;
      try {
        reading: for await (const chunk of segment.chunks()) {
          for (const piece of splitter.push(chunk)) {
            if (piece.kind === 'header') {
              // The same settings as the segment before, with no DDL since: nothing to set, and the
              // batch still in flight need not be waited for.
              const settings = headerSettings(piece.bytes, piece.bytes.length);
              if (settings !== sessionSettings) {
                await settle();
                await db.query(settings);
                sessionSettings = settings;
              }
            } else if (piece.kind === 'begin') {
              const decision = decide(piece.meta);
              if (decision === 'stop-before') {
                stop = true;
                break reading;
              }
              // Applied before: its commit LSN is before the origin's progress (the end LSN of the
              // last transaction applied, or the base's LSN), known here before its statements.
              const skip = piece.meta.commitLsn < progress;
              open = { begin: { ...piece.meta, offset: piece.offset }, decision, skip, parts: [], size: 0, large: null };
            } else if (piece.kind === 'lines') {
              const txn = open as OpenTransaction;
              if (txn.skip) continue;
              if (txn.large) {
                await txn.large.add(piece.bytes, piece.offset);
                continue;
              }
              txn.parts.push(piece.bytes);
              txn.size += piece.bytes.length;
              if (txn.size > maxBytes) {
                // Too large to hold: its own target transaction, sent in pieces. Whatever is batched
                // before it commits first (batches hold whole source transactions, in order).
                await flush(txn.begin.offset);
                await settle();
                txn.large = new LargeTransaction(largeContext, txn.begin);
                await txn.large.start();
                const held = txn.parts;
                txn.parts = [];
                let at = piece.offset + piece.bytes.length - txn.size;
                for (const part of held) {
                  await txn.large.add(part, at);
                  at += part.length;
                }
              }
            } else {
              const txn = open as OpenTransaction;
              open = null;
              const done: ScannedTransaction = {
                xid: piece.meta.xid,
                commitLsn: txn.begin.commitLsn,
                endLsn: piece.meta.endLsn,
                commitTime: txn.begin.commitTime,
                changes: piece.meta.changes,
                byteStart: txn.begin.offset,
                byteEnd: piece.end,
              };
              if (txn.skip) {
                if (done.endLsn > progress) {
                  throw new SegmentCorruptError(
                    `${path}: xid ${done.xid} (offset ${done.byteStart}) commits at ${formatLsn(done.commitLsn)}, before the restore's progress ${formatLsn(progress)}, but ends after it at ${formatLsn(done.endLsn)}`,
                    { hint: 'the segments and the restore origin disagree: run the restore again into a new target database' },
                  );
                }
                result.skippedTransactions += 1;
                bytesSkipped += done.byteEnd - done.byteStart;
              } else if (txn.large) {
                const large = txn.large;
                txn.large = null;
                await large.commit(done);
                result.appliedTransactions += 1;
                result.batches += 1;
                result.largeTransactions += 1;
                result.pieces += large.piecesSent;
                if (large.mergedPieces > 0 && large.mergeFallbacks === 0) result.mergedBatches += 1;
                if (large.mergeFallbacks > 0) result.mergeFallbacks += 1;
                result.pieceFallbacks += large.mergeFallbacks;
                result.lastEndLsn = formatLsn(done.endLsn);
                result.lastCommitTime = done.commitTime;
                if (large.heldDdl) await catalogChanged();
                await report(done.byteEnd);
              } else {
                const body = txn.parts.length === 1 ? (txn.parts[0] as Buffer) : Buffer.concat(txn.parts, txn.size);
                const whole = decodeBody(decode, body, done);
                const decoded = opts.filterTransaction ? opts.filterTransaction(whole) : whole;
                const ddl = holdsDdl(decoded);
                const sql = ddl && opts.noOwner ? withoutRoleSwitches(decoded) : decoded;
                batch.push({ txn: done, sql, ddl });
                batchBytes += body.length;
                if (ddl || batchBytes >= maxBytes || batch.length >= maxTxns) await flush(done.byteEnd);
              }
              if (txn.decision === 'apply-and-stop') {
                stop = true;
                break reading;
              }
            }
          }
        }
      } catch (error) {
        await open?.large?.abort();
        throw error;
      }
      if (!stop) {
        // The second reading must be the bytes verified.
        const end = splitter.finish();
        const same = end.length === segment.length && end.transactions === segment.transactions && end.bodySha256 === segment.bodySha256;
        if (!same) {
          throw new SegmentCorruptError(
            `${path}: changed while the restore ran (${segment.length} bytes and ${segment.transactions} transactions verified, ${end.length} bytes and ${end.transactions} transactions read, checksum ${end.bodySha256 === segment.bodySha256 ? 'equal' : 'different'}) at offset 0`,
            { hint: 'run the restore again: it verifies the files again; if it refuses, restore the file from a copy' },
          );
        }
      }
      await flush(segment.length);
      bytesBefore += segment.length;
      if (stop) result.reachedTarget = true;
    }
    await settle();
    if (opts.stopAt.kind === 'latest') result.reachedTarget = true;
    // Make the final progress durable before reporting it (synchronous_commit is off).
    await originProgress(db, name);
    return result;
  } catch (error) {
    // A dead link: the watchdog's error says why; the pending query's is only its echo.
    throw watchdog?.error ?? error;
  } finally {
    watchdog?.stop();
    await inflight.drain();
    if (watchdog?.error) destroyConnection(client as Client);
    else await client?.end().catch(() => undefined);
    for (const v of verified) await v.close?.().catch(() => undefined);
  }
}

function decodeBody(decode: SegmentDecoder, body: Buffer, txn: ScannedTransaction): string {
  return decode(body, `xid ${txn.xid} (offset ${txn.byteStart})`);
}

/**
 * The last step of a restore: drops its replication origin (after any retry of the apply
 * could still need it). Idempotent.
 */
export async function finishRestore(profile: Profile, restoreId: string): Promise<{ dropped: boolean; lastLsn: string | null }> {
  const name = originName(restoreId);
  const client = await connectProfile(profile);
  try {
    await endStaleSessions(client, restoreApplicationName(restoreId));
    const lsn = await originProgress(client, name);
    const dropped = await dropOrigin(client, name);
    return { dropped, lastLsn: lsn === null ? null : formatLsn(lsn) };
  } finally {
    await client.end();
  }
}

/** The restore's applied position in the target (null when the origin is gone or never made). */
export async function appliedPosition(profile: Profile, restoreId: string): Promise<string | null> {
  const client = await connectProfile(profile);
  try {
    const lsn = await originProgress(client, originName(restoreId));
    return lsn === null ? null : formatLsn(lsn);
  } finally {
    await client.end();
  }
}
