/**
 * The capture engine: receive → decode → render → segment writer, as one long-running call
 * (the Temporal activity `captureChanges` wraps it).
 *
 * The invariants it keeps (docs/design.md invariants 2–4):
 * - The flush position sent to the server is the end LSN of the last transaction fsynced in a
 *   segment; while idle (no transaction open, everything received written) it may be the
 *   keepalive's walEnd: nothing before it remains to be written.
 * - A transaction already written (its commit LSN is before the end of the last written one)
 *   is skipped, so a rewind after a crash writes nothing twice; the writer cuts a torn tail.
 * - Whole transactions in commit order; rotation only between transactions.
 * Heartbeats, status updates, sequence recording and idle messages run on timers, never driven
 * by message flow.
 *
 * Speed: received messages are parsed, rendered and buffered synchronously, a batch at a time
 * (a promise only where I/O is needed), and the group-commit fsync runs while the next
 * transactions are rendered; its end LSN is acknowledged only once the fsync completed.
 *
 * The acknowledgement policy (written → durable → acknowledged, group commit) is its own unit,
 * group-commit.ts; the stream opener and the clock come with the dependencies (capture-deps.ts),
 * so unit tests drive a run with a fake stream and an fsync that fails.
 */
import { basename } from 'node:path';
import { commitTimeToIso, parsePgoutput } from '../core/decoding/pgoutput';
import { DdlOrdinals, initDdlParser } from '../core/ddl/extract';
import { isSignedTable, type RefusedRow, type VerifyingCaptureContext } from '../core/sql/capture-row-verify';
import { requireCaptureKey } from '../adapters/pg/capture-key';
import type { PgoutputMessage } from '../core/decoding/model';
import { formatLsn, maxLsn, parseLsn, type Lsn } from '../core/lsn';
import { shouldRotate, type RotateReason } from '../core/segment/rotation';
import type { ReplicationMessage } from '../adapters/pg/replication-messages';
import type { SegmentWriter } from '../adapters/fs/segment-writer';
import { holdChainLock } from '../adapters/pg/chain-lock';
import type { SegmentEntry } from '../core/catalog/schema';
import { ConfigError, PgincrError } from '../errors';
import { renderChange } from './change-renderer';
import { isCaptureTable } from '../core/sql/capture-tables';
import { RowRenderer } from '../core/sql/render-row-bytes';
import { PeriodicTask } from './periodic';
import { RelationCache } from './relation-cache';
import { recordSequencePositions, recordSequencePositionsXid, emitIdleMessage } from './sequence-recorder';
import { GroupCommit } from './group-commit';
import { DEFAULT_RECEIVE_TIMEOUT_MS, StreamWatchdog } from './stream-watchdog';
import type { CaptureInput, CaptureControl, CaptureResult, CaptureDeps, CaptureClock, CaptureStream, SourceSession } from './capture-types';

export type { CaptureInput, CaptureControl, CaptureResult, CaptureDeps } from './capture-types';

/** How long to wait for the sequence positions recorded before a rotation to arrive. */
const ROTATION_WAIT_MS = 10_000;
/** How often the loop wakes without messages to look at the clock (stop, rotation, run time). */
const POLL_MS = 200;

/** Messages handled synchronously before the loop yields to the event loop (socket reads). */
const YIELD_EVERY = 32;

/**
 * Received bytes waiting to be handled before the socket is paused: enough to keep streaming
 * through an fsync, small enough to keep memory flat (TCP then pushes back on the walsender).
 */
const STREAM_HIGH_WATER = 1024 * 1024;

/**
 * Under a trickle of small transactions, read the stream at most this often (see the stream's
 * readBatchMs): fewer reads and wake-ups per transaction, at most this much later.
 */
const READ_BATCH_MS = 10;

interface OpenTxn {
  /** Segment bytes when the transaction began (for the bytes counter). */
  startBytes: number;
  xid: number;
  commitLsn: Lsn;
  commitTime: string;
  skip: boolean;
  begun: boolean;
  changes: number;
}

/** onRowChange's answer when the fast path declines a message. */
const DECLINED = Symbol('declined');

interface PendingRotation {
  reason: RotateReason;
  /** Rotate once the sequence positions recorded for it are written (or at this deadline). */
  deadlineMs: number;
}

/** One run of the engine; see {@link runCapture}. Exported for unit tests (a fake stream). */
export class CaptureRun {
  private txn: OpenTxn | null = null;
  /** Written → durable → acknowledged (docs/design.md invariant 2). */
  private readonly commits: GroupCommit;
  private readonly clock: CaptureClock;
  private pending: PendingRotation | null = null;
  /** A rotation reason rotationDue found, not yet acted on. */
  private dueReason: RotateReason | null = null;
  /** The xid of the last sequence-position recording waited for, and whether its commit was written. */
  private positions: { xid: number; written: boolean } | null = null;
  private readonly started: number;
  private readonly result = { segmentsSealed: 0, transactions: 0, changes: 0, bytes: 0, refusedRows: 0 };
  private compressing: Promise<void> = Promise.resolve();
  private compressError: unknown = null;
  private readonly context: VerifyingCaptureContext & { trust: NonNullable<VerifyingCaptureContext['trust']> };
  private readonly rows = new RowRenderer();
  /** The receive timeout's verdict (stream-watchdog.ts): set, the loop fails with it. */
  streamFailure: () => Error | null = () => null;

  constructor(
    private readonly deps: CaptureDeps,
    private readonly input: CaptureInput,
    private readonly control: CaptureControl,
    private readonly source: SourceSession,
    private writer: SegmentWriter,
    private readonly stream: CaptureStream,
    private readonly relations: RelationCache,
    resumeLsn: Lsn,
  ) {
    this.context = {
      ordinals: new DdlOrdinals(),
      ddlInFunction: input.ddlInFunction,
      encoding: source.header.encoding,
      onWarning: (message: string) => deps.log?.warn({ slot: input.slot }, message),
      onSchemaRenamed: (from: string, to: string) => relations.renameSchema(from, to),
      trust: { onRefused: (row) => this.onRefused(row) },
    };
    this.clock = deps.clock;
    this.commits = new GroupCommit({
      fsync: () => this.writer.sync(), // the open segment's writer (rotation replaces it)
      acknowledge: (lsn) => this.stream.sendStatus({ write: lsn, flush: lsn, apply: lsn }),
      clock: deps.clock,
      durableLsn: writer.durableLsn, // everything in the files is fsynced when the writer opens
      confirmedLsn: resumeLsn,
      // The bucket holds every sealed segment when a run starts (the activity uploads what it lacks), not the open one.
      ...(deps.offsite ? { offsiteLsn: writer.startLsn } : {}),
    });
    this.started = this.clock.now();
  }

  heartbeatDetails() {
    return {
      lastDurableLsn: formatLsn(this.commits.confirmed),
      segment: basename(this.writer.resume.path),
      bytes: this.result.bytes,
      txns: this.result.transactions,
      refusedRows: this.result.refusedRows,
    };
  }

  /** A capture-table row without a valid signature (docs/security.md): logged and counted, not replayed. */
  private onRefused(row: RefusedRow): void {
    const txn = this.txn;
    if (txn?.skip) return; // already written (and reported) before a rewind
    this.result.refusedRows += 1;
    const log = this.deps.log;
    (log?.error ?? log?.warn)?.call(
      log,
      {
        table: `pgincr.${row.table}`,
        rowId: row.id,
        xid: txn?.xid,
        lsn: txn ? formatLsn(txn.commitLsn) : null,
        reason: row.reason,
      },
      `capture: REFUSED a pgincr.${row.table} row (id ${row.id}, xid ${txn?.xid ?? '?'}, commit LSN ${txn ? formatLsn(txn.commitLsn) : '?'}): ${row.reason}; ` +
        "it was not written by pgincr's triggers and is not replayed. " +
        'hint: find who wrote it (only superusers and the owner of schema pgincr can); if the DDL did run, apply it by hand after a restore or take a full backup (pgincr backup full)',
    );
  }

  /** Loads the source's key the first time a signed capture table shows up (before any of its rows). */
  private async loadKeyFor(rel: Parameters<typeof isSignedTable>[0]): Promise<void> {
    if (this.context.trust.key || !isSignedTable(rel)) return;
    this.context.trust.key = await requireCaptureKey(this.source.client);
  }

  /** A standby status update with the acknowledged position (timers, start-up). */
  sendStatus(): void {
    this.commits.resend();
  }

  /** The acknowledged position again, asking the server to answer at once (the receive timeout's ping). */
  ping(): void {
    const lsn = this.commits.confirmed;
    this.stream.sendStatus({ write: lsn, flush: lsn, apply: lsn, replyRequested: true });
  }

  /**
   * Abort: now (a transaction in progress is cut and resent next time). Run time up: only
   * between transactions, or a transaction longer than the run time would never finish.
   */
  private shouldStop(): boolean {
    return this.control.signal.aborted || (!this.txn && this.clock.now() - this.started >= this.input.runForMs);
  }

  /**
   * The main loop: returns when the run time is up or the signal aborted. Queued messages are
   * handled synchronously (no promise per change); it awaits only to wait for data or for I/O
   * (file writes, fsync, catalog lookups), which is also when timers and the socket get their turn.
   */
  async loop(): Promise<void> {
    let handled = 0;
    while (!this.shouldStop()) {
      let msg = this.stream.poll();
      if (msg !== undefined && ++handled >= YIELD_EVERY) {
        // Let the socket be read while we work: the walsender blocks once the socket buffer is
        // full, so without this it would stand still for as long as we render a batch.
        handled = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (msg === undefined) msg = await this.stream.nextWithin(POLL_MS);
      if (msg === null) {
        throw new PgincrError('stream_ended', `slot ${this.input.slot}: the server ended the replication stream at ${formatLsn(this.commits.confirmed)}`);
      }
      if (msg !== undefined) {
        const io = this.handle(msg);
        if (io) await io;
      }
      this.commits.throwIfFailed();
      const dead = this.streamFailure();
      if (dead) throw dead;
      if (!this.txn && this.rotationDue()) await this.maybeRotate();
    }
  }

  /** One message; returns a promise only when it needs I/O (await it before the next message). */
  private handle(msg: ReplicationMessage): Promise<void> | undefined {
    if (msg.kind === 'keepalive') return this.onKeepalive(msg.walEnd, msg.replyRequested);
    const p = msg.payload;
    const tag = p[0];
    if ((tag === 0x49 /* I */ || tag === 0x55 /* U */ || tag === 0x44) /* D */ && this.txn && p.length >= 6) {
      const io = this.onRowChange(this.txn, p);
      if (io !== DECLINED) return io;
    }
    return this.onMessage(parsePgoutput(p));
  }

  /**
   * The fast path for INSERT/UPDATE/DELETE: rendered from the payload's bytes into the segment
   * (RowRenderer). What it declines takes the reference path (parsePgoutput + renderChange).
   */
  private onRowChange(txn: OpenTxn, payload: Buffer): Promise<void> | undefined | typeof DECLINED {
    const rel = this.relations.get(payload.readUInt32BE(1));
    if (isCaptureTable(rel)) return DECLINED;
    if (txn.skip) return undefined;
    const bound = this.rows.bound(payload, rel);
    if (bound < 0) return DECLINED;
    // BEGIN first: should the renderer decline, the reference path writes the statement after
    // it (and its own buffer check sees a buffer the BEGIN filled).
    const full = this.bufferBeginOnce(txn);
    const rows = this.rows;
    const statementFull = this.writer.bufferStatementInPlace(bound, (buf, at) => rows.renderInto(payload, rel, buf, at));
    if (statementFull === null) return DECLINED;
    return this.countChange(txn, statementFull || full);
  }

  /**
   * Before a stop seals the segment: record the sequence positions and stream until they are
   * written, so the sealed chain ends with every sequence where the source has it.
   */
  async drainSequencesForStop(): Promise<void> {
    if (this.input.sequenceEveryMs <= 0 || this.control.signal.aborted) return;
    await this.recordPositions();
    const deadline = this.clock.now() + ROTATION_WAIT_MS;
    while ((this.txn || !this.positionsWritten()) && this.clock.now() < deadline && !this.control.signal.aborted) {
      const msg = await this.stream.nextWithin(POLL_MS);
      if (msg === null) break;
      if (msg !== undefined) await this.handle(msg);
    }
  }

  private async recordPositions(): Promise<void> {
    this.positions = { xid: await recordSequencePositionsXid(this.source.client), written: false };
  }

  private positionsWritten(): boolean {
    return this.positions === null || this.positions.written;
  }

  private onKeepalive(walEnd: Lsn, replyRequested: boolean): Promise<void> {
    return this.commits.keepalive(walEnd, !this.txn, replyRequested);
  }

  private onMessage(m: PgoutputMessage): Promise<void> | undefined {
    switch (m.tag) {
      case 'begin':
        if (this.txn) throw new PgincrError('protocol', `begin of xid ${m.xid} inside open xid ${this.txn.xid}`);
        // Already written (a rewind after a crash resends it): skip, exactly once in the files.
        this.txn = {
          xid: m.xid,
          commitLsn: m.finalLsn,
          commitTime: commitTimeToIso(m.commitTime),
          skip: this.writer.alreadyWritten(m.finalLsn),
          begun: false,
          changes: 0,
          startBytes: 0,
        };
        this.context.ordinals.reset();
        return;
      case 'relation':
        return this.relations.remember(m).then((rel) => this.loadKeyFor(rel));
      case 'insert':
      case 'update':
      case 'delete':
      case 'truncate':
        return this.onChange(m);
      case 'commit':
        return this.onCommit(m.commitLsn, m.endLsn);
      default:
        return; // origin, type, message: nothing to replay
    }
  }

  /** Renders and buffers one change; a promise only when the write buffer is full. */
  private onChange(m: Parameters<typeof renderChange>[0]): Promise<void> | undefined {
    const txn = this.txn;
    if (!txn) throw new PgincrError('protocol', `${m.tag} outside a transaction`);
    if (txn.skip) {
      // Already written, but a schema rename in it must still rename the cached relations.
      if (m.tag === 'insert' && isCaptureTable(this.relations.get(m.relationId))) renderChange(m, this.relations, this.context);
      return undefined;
    }
    const sql = renderChange(m, this.relations, this.context);
    if (sql === null) return undefined;
    const full = this.bufferBeginOnce(txn);
    return this.countChange(txn, this.writer.bufferStatement(sql) || full);
  }

  /** The BEGIN line, before the transaction's first statement; true when the buffer is full. */
  private bufferBeginOnce(txn: OpenTxn): boolean {
    if (txn.begun) return false;
    const full = this.writer.bufferBegin({ xid: txn.xid, commitLsn: txn.commitLsn, commitTime: txn.commitTime });
    txn.begun = true;
    txn.startBytes = this.writer.stats().bytes;
    return full;
  }

  private countChange(txn: OpenTxn, bufferFull: boolean): Promise<void> | undefined {
    txn.changes += 1;
    return bufferFull ? this.writer.writeBuffer() : undefined;
  }

  private onCommit(commitLsn: Lsn, endLsn: Lsn): Promise<void> | undefined {
    const txn = this.txn;
    if (!txn || txn.commitLsn !== commitLsn) {
      throw new PgincrError('protocol', `commit at ${formatLsn(commitLsn)} does not match the open transaction`);
    }
    if (this.positions?.xid === txn.xid) this.positions.written = true;
    this.txn = null;
    if (txn.begun) {
      // Group commit: while more messages are already waiting, write without fsync; the fsync
      // (which then acknowledges) starts when the queue runs dry, or every maxUnsynced transactions.
      const full = this.writer.bufferCommit({ xid: txn.xid, endLsn });
      this.commits.wrote(endLsn);
      this.result.transactions += 1;
      this.result.changes += txn.changes;
      this.result.bytes += this.writer.stats().bytes - txn.startBytes;
      if (this.commits.due(this.stream.hasQueued())) return this.commits.syncInBackground();
      return full ? this.writer.writeBuffer() : undefined;
    }
    // Nothing to write (only pgincr bookkeeping): nothing before endLsn remains to be written.
    if (txn.skip) this.commits.skipped();
    else this.commits.nothingToWrite(endLsn);
    return undefined;
  }

  /**
   * Whether maybeRotate has anything to do: checked after every transaction, so without a
   * promise. A reason found is kept for maybeRotate (a rotate request is consumed by asking).
   */
  private rotationDue(): boolean {
    if (this.pending || this.dueReason) return true;
    const stats = this.writer.stats();
    this.dueReason = shouldRotate(
      {
        bytes: stats.bytes,
        transactions: stats.transactions,
        openedAtMs: stats.openedAtMs,
        nowMs: this.clock.now(),
        requested: this.control.rotateRequested(),
      },
      { maxBytes: this.input.segmentMaxBytes, maxAgeMs: this.input.segmentMaxAgeMs },
    );
    return this.dueReason !== null;
  }

  private async maybeRotate(): Promise<void> {
    const now = this.clock.now();
    if (!this.pending) {
      if (!this.rotationDue()) return;
      const reason = this.dueReason!;
      this.dueReason = null;
      if (this.input.sequenceEveryMs > 0) await this.recordPositions();
      this.pending = { reason, deadlineMs: now + ROTATION_WAIT_MS };
    }
    if (!this.positionsWritten() && now < this.pending.deadlineMs) return;
    await this.rotate(this.pending.reason);
    this.pending = null;
  }

  async rotate(reason: RotateReason | 'stop'): Promise<void> {
    await this.settleCompression(); // one segment compressing at a time: the backlog stays bounded
    await this.commits.syncNow();
    const end = this.writer.durableLsn;
    const sealed = await this.writer.seal({ compress: 'none' });
    if (!sealed) return; // nothing in it: keep writing to it
    this.result.segmentsSealed += 1;
    this.deps.log?.info({ reason, segment: sealed.file, endLsn: sealed.endLsn }, 'segment sealed');
    if (this.input.compress === 'gzip') this.compressInBackground(sealed);
    else await this.record(sealed);
    if (reason !== 'stop') this.writer = await this.deps.openWriter(this.source.header, end);
    else await this.settleCompression();
  }

  /**
   * gzip, then the catalog entry, while the stream goes on: compressing a large segment took
   * seconds during which nothing was read. Safe because the data is already durable (sealed and
   * fsynced, and acknowledged only as such); until the entry is written a restore plan simply
   * ends at the previous segment, and after a crash the capture's start records the file
   * (recordUnlistedSegments), compressed or not.
   */
  private compressInBackground(sealed: SegmentEntry): void {
    this.compressing = (async () => {
      await this.record(await this.deps.compressSegment(sealed));
    })().catch((error: unknown) => {
      this.compressError ??= error;
    });
  }

  /** The catalog entry (and with an object store the upload), then what the repository now holds may be acknowledged. */
  private async record(sealed: SegmentEntry): Promise<void> {
    await this.deps.recordSegment(this.source.header, sealed);
    this.commits.offsiteHolds(parseLsn(sealed.endLsn));
  }

  /** Waits for the segment being compressed and recorded; rethrows its failure. */
  private async settleCompression(): Promise<void> {
    await this.compressing;
    const error = this.compressError;
    this.compressError = null;
    if (error) throw error;
  }

  /** On the way out: cut a transaction in progress (never half-written), then seal or keep. */
  async finish(seal: boolean): Promise<CaptureResult> {
    await this.commits.quiesce(); // never truncate under an fsync in flight
    if (this.txn?.begun) await this.writer.abortTransaction();
    this.txn = null;
    await this.commits.syncNow();
    if (seal) await this.rotate('stop');
    await this.settleCompression();
    await this.writer.close();
    return { lastDurableLsn: formatLsn(this.commits.confirmed), ...this.result };
  }

  async close(): Promise<void> {
    await this.commits.quiesce();
    await this.compressing; // never leave a compression running after the activity
    return this.writer.close();
  }
}

/** The receive timeout of one run (stream-watchdog.ts): pings, then fails the run naming the server, the slot and the durable LSN. */
function receiveWatchdog(
  input: CaptureInput,
  source: SourceSession,
  stream: Required<CaptureStream>,
  run: CaptureRun,
  clock: CaptureClock,
  timeoutMs: number,
): StreamWatchdog {
  return new StreamWatchdog({
    timeoutMs,
    now: clock.now,
    liveness: () => stream.liveness(),
    ping: () => run.ping(),
    abort: () => source.abort(),
    deadError: (silentMs) =>
      new PgincrError(
        'receive_timeout',
        `slot ${input.slot}: nothing received from the server (${source.server}) for ${(silentMs / 1000).toFixed(1)} s, ` +
          `past capture.receiveTimeout (${timeoutMs / 1000} s), a reply requested after half of it went unanswered: the network to PostgreSQL or the server is gone. ` +
          `The connections were closed; everything up to ${run.heartbeatDetails().lastDurableLsn} is in the segments and the capture is retried from there`,
        {
          hint: 'check the network path to the server (link, firewall, VPN, load balancer idle timeouts); raise capture.receiveTimeout if the server is only slow to answer',
        },
      ),
  });
}

/**
 * Runs the capture for `input.runForMs` (or until `control.signal` aborts): streams the slot
 * from the resume point into segments, acknowledging only what is fsynced. The open partial
 * segment stays on disk for the next run unless `input.sealOnExit` (a stop request).
 */
export async function runCapture(deps: CaptureDeps, input: CaptureInput, control: CaptureControl): Promise<CaptureResult> {
  await initDdlParser();
  const source = await deps.openSource(input);
  const cleanups: Array<() => Promise<unknown>> = [() => source.close()];
  let run: CaptureRun | undefined;
  try {
    // The lock comes first: resumePoint may record sealed segments in the catalog, and only the
    // holder may write to the chain (invariant 11).
    await holdChainLock(source.client, input.slot);
    const chainEnd = (await deps.resumePoint()) ?? input.lastDurableLsn;
    if (chainEnd === undefined) {
      throw new ConfigError(`slot ${input.slot}: the chain has no segment and no base lsn to start from`, {
        hint: 'run pgincr setup first: it takes the base and records where capture starts',
      });
    }
    const writer = await deps.openWriter(source.header, chainEnd);
    cleanups.unshift(() => (run ?? writer).close());
    const resumeLsn = maxLsn(writer.durableLsn, input.lastDurableLsn ?? 0n);
    deps.log?.info({ slot: input.slot, resumeLsn: formatLsn(resumeLsn), segment: writer.resume.path, cutBytes: writer.resume.cutBytes }, 'capture starting');
    const stream = await deps.openStream(source.replication, {
      slot: input.slot,
      startLsn: resumeLsn,
      publication: input.publication,
      messages: true,
      highWaterBytes: STREAM_HIGH_WATER,
      readBatchMs: READ_BATCH_MS,
    });
    cleanups.unshift(() => stream.stop());
    run = new CaptureRun(deps, input, control, source, writer, stream, new RelationCache(source.factsLookup), resumeLsn);
    const r = run;
    const receiveTimeoutMs = input.receiveTimeoutMs ?? DEFAULT_RECEIVE_TIMEOUT_MS;
    const watchdog = stream.liveness ? receiveWatchdog(input, source, stream as Required<CaptureStream>, r, deps.clock, receiveTimeoutMs) : null;
    r.streamFailure = () => watchdog?.error ?? null;
    const onError = (what: string) => (err: unknown) => deps.log?.warn({ err, slot: input.slot }, `${what} failed`);
    const timers = [
      new PeriodicTask(input.heartbeatEveryMs, async () => control.heartbeat(r.heartbeatDetails()), onError('heartbeat')),
      new PeriodicTask(Math.min(input.statusEveryMs ?? 10_000, receiveTimeoutMs / 4), async () => r.sendStatus(), onError('status update')),
      new PeriodicTask(watchdog?.everyMs ?? 0, async () => watchdog?.check(), onError('receive timeout check')),
      new PeriodicTask(input.sequenceEveryMs, async () => void (await recordSequencePositions(source.client)), onError('record sequence positions')),
      new PeriodicTask(input.idleMessageEveryMs, async () => void (await emitIdleMessage(source.client)), onError('idle message')),
    ].map((t) => t.start());
    cleanups.unshift(async () => Promise.all(timers.map((t) => t.stop())));
    r.sendStatus();
    try {
      await r.loop();
    } catch (err) {
      // A query stuck on the dead link rejected when the watchdog destroyed it: the timeout is the story.
      throw watchdog?.error ?? err;
    }
    if (input.sealOnExit) await r.drainSequencesForStop();
    await Promise.all(timers.map((t) => t.stop()));
    const result = await r.finish(input.sealOnExit ?? false);
    control.heartbeat(r.heartbeatDetails());
    return result;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  }
}
