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
 * Every segment is verified (footer, counts, body checksum) before anything is applied.
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
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Client } from 'pg';
import type { Profile } from '../config';
import { connectProfile } from '../adapters/pg/connect';
import { formatLsn } from '../core/lsn';
import type { ScanResult, ScannedTransaction } from '../core/segment/format';
import { verifySegment } from '../core/segment/scan';
import { SegmentCorruptError } from '../errors';
import { ensureOrigin, advanceOrigin, originName, originProgress, restoreApplicationName, setupOriginSession, dropOrigin, endStaleSessions } from './origin';
import { decoderFor, type SegmentDecoder } from './text-decoding';
import { stopDecider, type StopTarget } from './stop-target';
import { applyBatch, type BatchItem } from './apply-batch';
import { batchTables, mergeBatch, parseBatch } from '../core/restore/merge-changes';
import type { MergedBatch } from '../core/restore/merge-sql';
import { TableShapes } from './table-shapes';
import { withoutRoleSwitches } from '../core/restore/ddl-region';
import { InFlight } from './in-flight';

const gunzipAsync = promisify(gunzip);

/** Source transactions per target transaction by default (see applySegments). */
const DEFAULT_BATCH_TRANSACTIONS = 250;

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
   * for: src/restore/open-prefix.ts): `read` returns exactly the planned bytes, checked, or throws.
   */
  openPrefix?: { read(): Promise<{ path: string; bytes: Buffer; scan: ScanResult }> };
  stopAt: StopTarget;
  /** The base's LSN: the origin starts there when the base step did not create it. */
  startLsn?: string;
  /** Batch limits: a target transaction holds at most this many source bytes / transactions. */
  batchBytes?: number;
  batchTransactions?: number;
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
}

interface VerifiedSegment {
  path: string;
  scan: ScanResult;
  /** The bytes again, when the segment is applied (checked to be the bytes verified). */
  read: () => Promise<Buffer>;
}

/** Reads a segment file's bytes, uncompressing `.gz`. */
export async function readSegmentBytes(path: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') throw error;
    throw new SegmentCorruptError(`${path}: cannot be read (${(error as Error).message})`, { cause: error });
  }
  if (!path.endsWith('.gz')) return raw;
  try {
    return await gunzipAsync(raw);
  } catch (cause) {
    throw new SegmentCorruptError(`${path}: gzip stream is damaged (${(cause as Error).message}) at offset 0`, {
      cause,
      hint: 'restore the file from a copy; `gzip -t` shows the damage',
    });
  }
}

/**
 * Verifies every segment (footer, counts, body checksum) before anything is applied; throws the
 * first problem. One segment in memory at a time (a segment is bounded by rotation, and the
 * applier holds one anyway), its body hashed once.
 */
export async function verifySegments(paths: readonly string[]): Promise<VerifiedSegment[]> {
  const out: VerifiedSegment[] = [];
  for (const path of paths) {
    const checked = verifySegment(await readSegmentBytes(path), path);
    if (!checked.ok) throw checked.error;
    const scan = checked.scan;
    const read = async () => {
      const bytes = await readSegmentBytes(path);
      if (bytes.length !== scan.length) {
        throw new SegmentCorruptError(`${path}: changed while the restore ran (${scan.length} bytes verified, ${bytes.length} now) at offset 0`);
      }
      return bytes;
    };
    out.push({ path, scan, read });
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

/** The statements of one transaction: the bytes between its BEGIN and COMMIT marker lines. */
export function transactionBody(bytes: Buffer, txn: ScannedTransaction): Buffer {
  const firstNewline = bytes.indexOf(10, txn.byteStart);
  const commitAt = bytes.lastIndexOf('\nCOMMIT; -- xid ', txn.byteEnd - 1, 'latin1');
  if (firstNewline < 0 || commitAt < firstNewline) return Buffer.alloc(0);
  return bytes.subarray(firstNewline + 1, commitAt + 1);
}

async function openApplyConnection(opts: ApplyOptions, name: string): Promise<Client> {
  const applicationName = restoreApplicationName(opts.restoreId);
  const client = await connectProfile(opts.profile, { application_name: applicationName });
  // A connection that dies while idle must not crash the worker: the next query reports it.
  client.on('error', () => undefined);
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
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

/** True when an INSERT could fire a trigger or rule under `session_replication_role = replica`. */
async function insertTriggersFire(client: Client): Promise<boolean> {
  const r = await client.query<{ fires: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgenabled IN ('A', 'R') AND (tgtype & 4) <> 0)
         OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite WHERE ev_enabled IN ('A', 'R') AND ev_type = '3') AS fires`,
  );
  return r.rows[0]?.fires !== false;
}

const holdsDdl = (sql: string): boolean => sql.startsWith('-- ddl: ') || sql.includes('\n-- ddl: ');

/** Applies planned segments up to the stop target; resumable (see the module comment). */
export async function applySegments(opts: ApplyOptions): Promise<ApplyResult> {
  const name = originName(opts.restoreId);
  const maxBytes = opts.batchBytes ?? 5 * 1024 * 1024;
  // 250, not more: a batch's parsed lines live until it is merged, and past a few hundred source
  // transactions they outlive V8's young-generation collections and are promoted, which made the
  // garbage collector the applier's largest cost (synthetic bench: half the JavaScript CPU at 250
  // as at 1000, the same server work: a COPY of a few thousand rows amortises its statement).
  const maxTxns = opts.batchTransactions ?? DEFAULT_BATCH_TRANSACTIONS;
  const decide = stopDecider(opts.stopAt);
  const verified = await verifySegments(opts.segments);
  if (opts.openPrefix) {
    const open = opts.openPrefix;
    const first = await open.read();
    verified.push({ path: first.path, scan: first.scan, read: async () => (await open.read()).bytes });
  }
  const bytesTotal = verified.reduce((n, v) => n + v.scan.length, 0);
  const client = await openApplyConnection(opts, name);
  const mergeWanted = opts.mergeInserts !== false && opts.sessionReplicationRole !== 'origin';
  const result: ApplyResult = {
    appliedTransactions: 0,
    skippedTransactions: 0,
    batches: 0,
    lastEndLsn: null,
    lastCommitTime: null,
    reachedTarget: false,
    mergedBatches: 0,
    mergeFallbacks: 0,
  };
  const shapes = new TableShapes();
  const started = Date.now();
  let bytesBefore = 0;
  let sessionSettings: string | null = null;
  let bytesSkipped = 0;
  // One batch may be in flight on the server while the next is read, decoded and merged here;
  // the connection is used for anything else only after `settle`.
  const inflight = new InFlight();
  const settle = () => inflight.settle();
  try {
    const progress = (await originProgress(client, name)) ?? 0n;
    let insertRuns = mergeWanted && !(await insertTriggersFire(client));
    let stop = false;
    for (let i = 0; i < verified.length && !stop; i++) {
      const { path, scan, read } = verified[i] as VerifiedSegment;
      const bytes = await read();
      const decode = decoderFor(scan.header.encoding, path);
      // The same settings as the segment before, with no DDL since: nothing to set, and the batch
      // still in flight need not be waited for.
      const settings = headerSettings(bytes, scan.headerLength);
      if (settings !== sessionSettings) {
        await settle();
        await client.query(settings);
        sessionSettings = settings;
      }
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
        const outcome = await applyBatch(client, path, items, merged);
        if (outcome === 'merged') result.mergedBatches += 1;
        else if (merged !== undefined) result.mergeFallbacks += 1;
        const last = items[items.length - 1] as BatchItem;
        result.appliedTransactions += items.length;
        result.batches += 1;
        result.lastEndLsn = formatLsn(last.txn.endLsn);
        result.lastCommitTime = last.txn.commitTime;
        await report(doneBytes);
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
        const merged = mergeWanted ? await mergedSql(client, shapes, items, { insertRuns, copy: opts.copy !== false }, settle) : undefined;
        await settle();
        opts.signal?.throwIfAborted();
        if (!ddl) {
          inflight.then(() => apply(items, merged, doneBytes));
          return;
        }
        await apply(items, merged, doneBytes);
        // The catalog changed: read it again before merging anything after this batch, and set the
        // next segment's settings again whatever they are.
        shapes.clear();
        sessionSettings = null;
        insertRuns = mergeWanted && !(await insertTriggersFire(client));
      };
      for (const txn of scan.transactions) {
        const decision = decide(txn);
        if (decision === 'stop-before') {
          stop = true;
          break;
        }
        if (txn.endLsn <= progress) {
          result.skippedTransactions += 1;
          bytesSkipped += txn.byteEnd - txn.byteStart;
        } else {
          const body = transactionBody(bytes, txn);
          const whole = decodeBody(decode, body, txn);
          const decoded = opts.filterTransaction ? opts.filterTransaction(whole) : whole;
          const ddl = holdsDdl(decoded);
          const sql = ddl && opts.noOwner ? withoutRoleSwitches(decoded) : decoded;
          batch.push({ txn, sql, ddl });
          batchBytes += body.length;
          if (ddl || batchBytes >= maxBytes || batch.length >= maxTxns) await flush(txn.byteEnd);
        }
        if (decision === 'apply-and-stop') {
          stop = true;
          break;
        }
      }
      await flush(scan.length);
      bytesBefore += scan.length;
      if (stop) result.reachedTarget = true;
    }
    await settle();
    if (opts.stopAt.kind === 'latest') result.reachedTarget = true;
    // Make the final progress durable before reporting it (synchronous_commit is off).
    await originProgress(client, name);
    return result;
  } finally {
    await inflight.drain();
    await client.end().catch(() => undefined);
  }
}

/** The batch's merged SQL (core/restore/merge-changes.ts), reading shapes of tables not seen since the last DDL. */
async function mergedSql(
  client: Client,
  shapes: TableShapes,
  batch: readonly BatchItem[],
  options: { insertRuns: boolean; copy: boolean },
  idle: () => Promise<void>,
): Promise<MergedBatch> {
  const lines = parseBatch(batch.map((b) => ({ sql: b.sql, verbatim: b.ddl })));
  const tables = batchTables(lines);
  if (shapes.missing(tables)) {
    await idle(); // never a catalog query inside a batch that is still running
    await shapes.load(client, tables);
  }
  return mergeBatch(lines, (table) => shapes.get(table), options);
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
