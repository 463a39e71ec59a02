/**
 * The decoder_raw capture (`capture.decoder: decoder_raw`): pg_recvlogical writes the slot's
 * output to `<chain>/raw/current.raw`; every `rawRotateEveryMs` (or sooner, by size: raw-backlog.ts)
 * the file is rotated (SIGHUP) and the closed files are post-processed, with pg_recvlogical
 * suspended, into the same segments as the pgoutput capture writes:
 * parse → repair (core/decoding/decoder-raw*) → segment writer → catalog.
 *
 * What it keeps (docs/design.md invariants, with decoder_raw's limits; docs/decoders.md):
 * - Durability: pg_recvlogical confirms to the server only what it has fsynced in its raw file;
 *   a raw file is deleted only after its transactions are fsynced in a segment.
 * - Exactly once: a transaction is identified by its xid (from its `pgincr.raw_transactions`
 *   row); one already written (in the open segment or earlier in this run) is skipped, so the
 *   slot resending after a pg_recvlogical restart writes nothing twice. A transaction cut by a
 *   restart is dropped (it is resent whole).
 * - Positions: decoder_raw gives no LSNs; a transaction's commit_lsn in the segment is its
 *   first-write LSN made strictly increasing (`rawPositions`), its time its commit timestamp
 *   where the server keeps them, else its first-write time.
 * Same input/heartbeat/signal contract as `runCapture`.
 */
import { basename } from 'node:path';
import { DdlOrdinals, initDdlParser } from '../../core/ddl/extract';
import { parseRawText, type RawStatement, type RawTransaction } from '../../core/decoding/decoder-raw';
import { lowestMarkerLsn, rawPositions, repairRawTransaction, type RawTableFacts, type RepairedTransaction } from '../../core/decoding/decoder-raw-repair';
import { isCaptureTable } from '../../core/sql/capture-tables';
import type { RefusedRow, VerifyingCaptureContext } from '../../core/sql/capture-row-verify';
import { requireCaptureKey } from '../../adapters/pg/capture-key';
import { qualifiedName } from '../../core/sql/quote';
import { formatLsn, maxLsn, parseLsn, type Lsn } from '../../core/lsn';
import { shouldRotate } from '../../core/segment/rotation';
import { listSealedSegments, scanSegmentFile } from '../../adapters/fs/segment-files';
import type { SegmentWriter } from '../../adapters/fs/segment-writer';
import { RecvlogicalSupervisor, terminateLeftover } from '../../adapters/exec/pg-recvlogical';
import {
  checkRawCaptureReady,
  commitTimestamps,
  ensureRawCaptureObjects,
  factsKey,
  rawTableFacts,
  tracksCommitTimestamps,
} from '../../adapters/pg/raw-capture-objects';
import type { Profile } from '../../config';
import { ConfigError, PgincrError } from '../../errors';
import { PeriodicTask } from '../periodic';
import { recordSequencePositions } from '../sequence-recorder';
import type { CaptureControl, CaptureDeps, CaptureInput, CaptureResult, SourceSession } from '../capture-types';
import {
  closeLeftoverCurrent,
  currentRawPath,
  deleteProcessed,
  listClosedRawFiles,
  nextClosedRawPath,
  pendingEnds,
  readPendingRange,
  scanClosedRawFiles,
} from './raw-files';
import { RAW_BACKLOG_MAX_BYTES, RawBacklog } from './raw-backlog';

export interface RawCaptureOptions {
  profile: Profile;
  chainDir: string;
  /** How often the raw file is rotated and post-processed (default 2 s). */
  rawRotateEveryMs?: number;
  /** Bound on raw bytes not yet in segments (default {@link RAW_BACKLOG_MAX_BYTES}; see raw-backlog.ts). */
  rawBacklogMaxBytes?: number;
  /** pg_recvlogical `--fsync-interval` in seconds (default 1). */
  fsyncIntervalS?: number;
  /**
   * pg_recvlogical `--status-interval` in seconds (default 1): it confirms what it has fsynced
   * only in these status updates, so this bounds how far the slot lags the raw files.
   */
  statusIntervalS?: number;
  env?: NodeJS.ProcessEnv;
}

const STOP_WAIT_MS = 10_000;
const RECENT_XIDS = 200_000;
/** Raw bytes parsed at a time (parsed and repaired, a window takes some 20 times its size). */
const WINDOW_BYTES = 4 * 1024 * 1024;

class RawRun {
  private readonly recent = new Set<number>();
  private readonly facts = new Map<string, RawTableFacts | undefined>();
  private readonly context: VerifyingCaptureContext & { trust: NonNullable<VerifyingCaptureContext['trust']> };
  /** `track_commit_timestamp` of the source (read once per run). */
  private trackCommitTimestamp: boolean | undefined;
  readonly result = { segmentsSealed: 0, transactions: 0, changes: 0, bytes: 0, skipped: 0, suspensions: 0, refusedRows: 0 };
  sawSequencePositions = false;
  /**
   * Where the last pass stopped in the first raw file it kept: the bytes before it are in
   * segments. Lost with the process: a new run reads that file from its start (its transactions
   * are skipped by xid, the rest of one begun in a deleted file by the parser).
   */
  private resumeAt: { path: string; offset: number } | null = null;
  /** Raw bytes parsed at a time. */
  windowBytes = WINDOW_BYTES;

  constructor(
    private readonly deps: CaptureDeps,
    private readonly input: CaptureInput,
    private readonly control: CaptureControl,
    private readonly source: SourceSession,
    private readonly chain: string,
    public writer: SegmentWriter,
  ) {
    this.context = {
      ordinals: new DdlOrdinals(),
      ddlInFunction: input.ddlInFunction,
      encoding: source.header.encoding,
      onWarning: (message: string) => deps.log?.warn({ slot: input.slot }, message),
      trust: { onRefused: (row) => this.onRefused(row) },
    };
  }

  /** A capture-table row without a valid signature (docs/security.md): logged and counted, not replayed. */
  private onRefused(row: RefusedRow): void {
    this.result.refusedRows += 1;
    const log = this.deps.log;
    (log?.error ?? log?.warn)?.call(
      log,
      { slot: this.input.slot, table: `pgincr.${row.table}`, rowId: row.id, xid: row.xid, reason: row.reason },
      `capture (decoder_raw): REFUSED a pgincr.${row.table} row (id ${row.id}, xid ${row.xid}): ${row.reason}; ` +
        "it was not written by pgincr's triggers and is not replayed. " +
        'hint: find who wrote it (only superusers and the owner of schema pgincr can); if the DDL did run, apply it by hand after a restore or take a full backup (pgincr backup full)',
    );
  }

  /**
   * The xids that may come again: those of the open segment, and of every sealed segment
   * ending at or after the slot's restart_lsn or the lowest first-write LSN in the raw files
   * left over (`leftoverFloor`). A resendable transaction's first write is at or after
   * restart_lsn (decoding starts there), and its commit_lsn in the segment is at or after its
   * first write (`rawPositions`), so its segment is among these. After a server crash the slot
   * rewinds to its last saved position, past segments sealed since. Left-over raw files may hold
   * transactions already written (a file is deleted only when all of it is written) that the
   * slot will not resend, so restart_lsn may be past them: hence the floor.
   */
  async loadWrittenXids(leftoverFloor: Lsn | null): Promise<void> {
    const { rows } = await this.source.client.query<{ lsn: string | null }>(
      'SELECT restart_lsn::text AS lsn FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
      [this.input.slot],
    );
    const slotRestart = rows[0]?.lsn ? parseLsn(rows[0].lsn) : null;
    const restart = slotRestart === null || (leftoverFloor !== null && leftoverFloor < slotRestart) ? leftoverFloor : slotRestart;
    const paths = restart === null ? [] : (await listSealedSegments(this.chain)).filter((s) => s.endLsn >= restart).map((s) => s.path);
    paths.push(this.writer.resume.path);
    for (const path of paths) {
      const { scan } = await scanSegmentFile(path);
      for (const t of scan.transactions) this.remember(t.xid);
    }
    this.deps.log?.info(
      { slot: this.input.slot, fromLsn: restart === null ? null : formatLsn(restart), segments: paths.length, xids: this.recent.size },
      'decoder_raw: xids the slot may resend loaded',
    );
  }

  private remember(xid: number): void {
    this.recent.add(xid);
    if (this.recent.size > RECENT_XIDS) this.recent.delete(this.recent.values().next().value as number);
  }

  heartbeatDetails() {
    return {
      lastDurableLsn: formatLsn(this.writer.durableLsn),
      segment: basename(this.writer.resume.path),
      bytes: this.result.bytes,
      txns: this.result.transactions,
      refusedRows: this.result.refusedRows,
    };
  }

  private async lookupFacts(statements: readonly RawStatement[]): Promise<void> {
    const missing = new Map<string, { schema: string; table: string }>();
    for (const s of statements) {
      const key = factsKey(s.schema, s.table);
      if (!isCaptureTable(s) && !this.facts.has(key)) missing.set(key, { schema: s.schema, table: s.table });
    }
    if (missing.size === 0) return;
    const found = await rawTableFacts(this.source.client, [...missing.values()]);
    for (const key of missing.keys()) this.facts.set(key, found.get(key));
  }

  /**
   * Post-processes every closed raw file, {@link WINDOW_BYTES} at a time (memory stays bounded
   * however far pg_recvlogical is ahead); returns the number of transactions written.
   */
  async processClosedFiles(): Promise<number> {
    const files = await listClosedRawFiles(this.chain);
    if (files.length === 0) return 0;
    const ends = await pendingEnds(files);
    const total = ends.at(-1) ?? 0;
    const first = files[0] as { path: string };
    const startOffset = this.resumeAt?.path === first.path ? Math.min(this.resumeAt.offset, ends[0] ?? 0) : 0;
    let offset = startOffset;
    let window = this.windowBytes;
    let written = 0;
    let torn = 0;
    let deleted = 0; // files[0..deleted) are gone; offsets stay those of the whole list
    while (offset < total) {
      const text = await readPendingRange(files, ends, offset, window);
      const parsed = parseRawText(text, { remainderAllowed: offset === 0 });
      if (parsed.completeLength === 0) {
        if (offset + text.length >= total) break; // the open tail: for the next round
        window *= 2; // a transaction larger than the window
        continue;
      }
      written += await this.writeTransactions(parsed.transactions);
      torn += parsed.tornTransactions;
      offset += parsed.completeLength;
      window = this.windowBytes;
      deleted += await deleteProcessed(this.chain, files.slice(deleted), ends.slice(deleted), offset);
    }
    deleted += await deleteProcessed(this.chain, files.slice(deleted), ends.slice(deleted), offset); // also empty files where it stopped
    const kept = files[deleted];
    this.resumeAt = kept ? { path: kept.path, offset: offset - (deleted === 0 ? 0 : (ends[deleted - 1] as number)) } : null;
    if (torn > 0) this.deps.log?.warn({ torn }, 'decoder_raw: dropped transactions cut by a pg_recvlogical restart (resent whole)');
    return written;
  }

  private async writeTransactions(transactions: readonly RawTransaction[]): Promise<number> {
    const batch: Array<RepairedTransaction & { xid: number }> = [];
    const inBatch = new Set<number>();
    for (const txn of transactions) {
      await this.lookupFacts(txn.statements);
      if (
        !this.context.trust.key &&
        txn.statements.some(
          (s) =>
            s.schema === 'pgincr' &&
            (s.table === 'ddl_history' || s.table === 'sequence_positions') &&
            s.kind === 'insert' &&
            s.values.some((v) => v.column === 'sig'),
        )
      ) {
        this.context.trust.key = await requireCaptureKey(this.source.client);
      }
      this.context.ordinals.reset();
      const rep = repairRawTransaction(txn, (schema, table) => this.facts.get(factsKey(schema, table)), this.context);
      if (txn.statements.some((s) => s.schema === 'pgincr' && s.table === 'sequence_positions')) this.sawSequencePositions = true;
      // DDL may change what the catalog says (identity, generated, replica identity): look again.
      if (txn.statements.some((s) => s.schema === 'pgincr' && s.table === 'ddl_history')) this.facts.clear();
      if (rep.statements.length === 0) continue; // decoder_raw's empty BEGIN; COMMIT; or bookkeeping only
      if (rep.xid === null) {
        const tables = [...new Set(txn.statements.map((s) => qualifiedName(s.schema, s.table)))].join(', ');
        throw new PgincrError('raw_no_marker', `decoder_raw transaction changing ${tables} has no pgincr.raw_transactions row`, {
          hint: 'the pgincr_raw_capture trigger is missing on a table: run pgincr setup again; the raw files are kept',
        });
      }
      if (this.recent.has(rep.xid) || inBatch.has(rep.xid)) {
        this.result.skipped += 1;
        continue;
      }
      inBatch.add(rep.xid);
      batch.push({ ...rep, xid: rep.xid });
    }
    const commitTimes = await this.commitTimes(batch.map((t) => t.xid));
    for (const rep of batch) {
      const { commitLsn, endLsn } = rawPositions(this.writer.durableLsn, rep.firstWriteLsn);
      const commitTime = commitTimes.get(rep.xid) ?? rep.time ?? new Date(this.control.now()).toISOString();
      const before = this.writer.stats().bytes;
      await this.writer.beginTransaction({ xid: rep.xid, commitLsn, commitTime });
      for (const sql of rep.statements) await this.writer.writeStatement(sql);
      await this.writer.commitTransaction({ xid: rep.xid, endLsn });
      this.remember(rep.xid);
      this.result.transactions += 1;
      this.result.changes += rep.statements.length;
      this.result.bytes += this.writer.stats().bytes - before;
      await this.maybeRotateSegment();
    }
    return batch.length;
  }

  /** Exact commit times where the server keeps them (docs/decoders.md); else none. */
  private async commitTimes(xids: readonly number[]): Promise<Map<number, string>> {
    if (xids.length === 0) return new Map();
    this.trackCommitTimestamp ??= await tracksCommitTimestamps(this.source.client);
    return this.trackCommitTimestamp ? commitTimestamps(this.source.client, xids) : new Map();
  }

  private async maybeRotateSegment(): Promise<void> {
    const stats = this.writer.stats();
    const reason = shouldRotate(
      {
        bytes: stats.bytes,
        transactions: stats.transactions,
        openedAtMs: stats.openedAtMs,
        nowMs: this.control.now(),
        requested: this.control.rotateRequested(),
      },
      { maxBytes: this.input.segmentMaxBytes, maxAgeMs: this.input.segmentMaxAgeMs },
    );
    if (reason) await this.seal(reason, true);
  }

  async seal(reason: string, reopen: boolean): Promise<void> {
    const end = this.writer.durableLsn;
    const sealed = await this.writer.seal({ compress: this.input.compress });
    if (!sealed) return;
    await this.deps.recordSegment(this.source.header, sealed);
    this.result.segmentsSealed += 1;
    this.deps.log?.info({ reason, segment: sealed.file, endLsn: sealed.endLsn }, 'segment sealed');
    if (reopen) this.writer = await this.deps.openWriter(this.source.header, end);
  }
}

/**
 * Runs the decoder_raw capture for `input.runForMs` (or until `control.signal` aborts). The open
 * partial segment stays for the next run unless `input.sealOnExit`.
 */
export async function runRawCapture(
  deps: CaptureDeps,
  input: CaptureInput,
  control: CaptureControl,
  options: RawCaptureOptions,
): Promise<CaptureResult & { skipped: number; suspensions: number }> {
  await initDdlParser();
  const opened = await deps.openSource(input);
  const source: SourceSession = { ...opened, header: { ...opened.header, decoder: 'decoder_raw' } };
  const cleanups: Array<() => Promise<unknown>> = [() => source.close()];
  try {
    await ensureRawCaptureObjects(source.client);
    await checkRawCaptureReady(source.client);
    const chainEnd = (await deps.resumePoint()) ?? input.lastDurableLsn;
    if (chainEnd === undefined) {
      throw new ConfigError(`slot ${input.slot}: the chain has no segment and no base lsn to start from`, { hint: 'run pgincr setup first' });
    }
    const writer = await deps.openWriter(source.header, maxLsn(chainEnd, 0n));
    const run = new RawRun(deps, input, control, source, options.chainDir, writer);
    cleanups.unshift(() => run.writer.close());
    const maxBacklog = options.rawBacklogMaxBytes ?? RAW_BACKLOG_MAX_BYTES;
    run.windowBytes = Math.max(64 * 1024, Math.min(WINDOW_BYTES, Math.floor(maxBacklog / 8)));
    const chain = options.chainDir;
    // Raw files left by an earlier run are processed first (below); what they may repeat is known.
    await closeLeftoverCurrent(chain);
    let leftoverFloor: Lsn | null = null;
    await scanClosedRawFiles(chain, (text) => {
      const low = lowestMarkerLsn(text);
      if (low !== null && (leftoverFloor === null || low < leftoverFloor)) leftoverFloor = low;
    });
    await run.loadWrittenXids(leftoverFloor);
    const recv = new RecvlogicalSupervisor({
      profile: options.profile,
      slot: input.slot,
      file: currentRawPath(chain),
      fsyncIntervalS: options.fsyncIntervalS ?? 1,
      statusIntervalS: options.statusIntervalS ?? 1,
      serverEncoding: source.header.encoding,
      env: options.env,
      log: deps.log ?? { info: () => undefined, warn: () => undefined },
      beforeStart: async () => {
        await terminateLeftover(source.client, input.slot);
        await closeLeftoverCurrent(chain);
      },
    });
    // Raw files left by an earlier run: into segments before anything new.
    await run.processClosedFiles();
    const backlog = new RawBacklog(chain, maxBacklog, recv);
    await recv.start();
    cleanups.unshift(() => recv.stop());
    const onError = (what: string) => (err: unknown) => deps.log?.warn({ err, slot: input.slot }, `${what} failed`);
    const timers = [
      new PeriodicTask(input.heartbeatEveryMs, async () => control.heartbeat(run.heartbeatDetails()), onError('heartbeat')),
      new PeriodicTask(input.sequenceEveryMs, async () => void (await recordSequencePositions(source.client)), onError('record sequence positions')),
      // The marker rows are only needed in the stream: old ones go (their DELETEs render nothing).
      new PeriodicTask(
        60_000,
        async () =>
          void (await source.client.query(
            `DELETE FROM pgincr.raw_truncates WHERE xid IN (SELECT xid FROM pgincr.raw_transactions WHERE at < pg_catalog.now() - interval '1 hour');
         DELETE FROM pgincr.raw_transactions WHERE at < pg_catalog.now() - interval '1 hour'`,
          )),
        onError('raw marker cleanup'),
      ),
    ].map((t) => t.start());
    cleanups.unshift(async () => Promise.all(timers.map((t) => t.stop())));

    const started = control.now();
    const rotateEvery = options.rawRotateEveryMs ?? 2000;
    let lastRotation = started;
    const rotateAndProcess = async () => {
      const rotated = await recv.rotate(await nextClosedRawPath(chain));
      lastRotation = control.now();
      // Nothing new (only an open tail, if anything): no need to suspend pg_recvlogical.
      return rotated ? backlog.suspended(() => run.processClosedFiles()) : run.processClosedFiles();
    };
    while (!control.signal.aborted && control.now() - started < input.runForMs) {
      await new Promise((r) => setTimeout(r, RawBacklog.pollMs));
      if (control.now() - lastRotation >= rotateEvery || (await backlog.currentIsLarge())) await rotateAndProcess();
    }
    if (input.sealOnExit && !control.signal.aborted) {
      // The sealed chain ends with every sequence where the source has it.
      run.sawSequencePositions = false;
      if (input.sequenceEveryMs > 0) await recordSequencePositions(source.client);
      const deadline = control.now() + STOP_WAIT_MS;
      do {
        await new Promise((r) => setTimeout(r, RawBacklog.pollMs)); // pg_recvlogical runs between passes only
        await rotateAndProcess();
      } while (input.sequenceEveryMs > 0 && !run.sawSequencePositions && control.now() < deadline);
    }
    await Promise.all(timers.map((t) => t.stop()));
    await recv.stop();
    // What pg_recvlogical wrote before it stopped: into the segment too.
    await closeLeftoverCurrent(chain);
    await run.processClosedFiles();
    if (input.sealOnExit) await run.seal('stop', false);
    run.result.suspensions = backlog.suspensions;
    control.heartbeat(run.heartbeatDetails());
    return { lastDurableLsn: formatLsn(run.writer.durableLsn), ...run.result };
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  }
}
