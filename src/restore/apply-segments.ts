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
 * Runs of one-row INSERTs within a source transaction are sent as multi-row INSERTs
 * (`core/restore/merge-inserts.ts`: same rows, same order, DDL untouched), unless a trigger or
 * rule could fire on them (`replica` role only, and no ENABLE ALWAYS/REPLICA INSERT trigger or
 * rule in the target: those would see one statement instead of several). A transaction holding
 * DDL is sent as written and ends its batch, and the target is checked again after it.
 */
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Client } from 'pg';
import type { Profile } from '../config';
import { connectProfile } from '../adapters/pg/connect';
import { formatLsn } from '../core/lsn';
import type { ScanResult, ScannedTransaction } from '../core/segment/format';
import { verifySegmentFile } from '../adapters/fs/segment-files';
import { SegmentCorruptError } from '../errors';
import {
  ensureOrigin, advanceOrigin, originName, originProgress, restoreApplicationName, setupOriginSession, dropOrigin, endStaleSessions,
} from './origin';
import { decoderFor, type SegmentDecoder } from './text-decoding';
import { stopDecider, type StopTarget } from './stop-target';
import { applyBatch, type BatchItem } from './apply-batch';
import { mergeInserts } from '../core/restore/merge-inserts';

const gunzipAsync = promisify(gunzip);

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
  stopAt: StopTarget;
  /** The base's LSN: the origin starts there when the base step did not create it. */
  startLsn?: string;
  /** Batch limits: a target transaction holds at most this many source bytes / transactions. */
  batchBytes?: number;
  batchTransactions?: number;
  /** `replica` (default) keeps triggers and foreign keys from firing on replayed rows. */
  sessionReplicationRole?: 'replica' | 'origin';
  /** Merge one-row INSERT runs into multi-row INSERTs where exact (default true; see the module comment). */
  mergeInserts?: boolean;
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
}

interface VerifiedSegment {
  path: string;
  scan: ScanResult;
}

/** Reads a segment file's bytes, uncompressing `.gz`. */
export async function readSegmentBytes(path: string): Promise<Buffer> {
  const raw = await readFile(path);
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

/** Verifies every segment (streamed, bounded memory) before anything is applied; throws the first problem. */
export async function verifySegments(paths: readonly string[]): Promise<VerifiedSegment[]> {
  const out: VerifiedSegment[] = [];
  for (const path of paths) out.push({ path, scan: (await verifySegmentFile(path)).scan });
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
    // Progress commits with the data, so a lost commit loses both together: safe to not wait.
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
  const maxTxns = opts.batchTransactions ?? 1000;
  const decide = stopDecider(opts.stopAt);
  const verified = await verifySegments(opts.segments);
  const bytesTotal = verified.reduce((n, v) => n + v.scan.length, 0);
  const client = await openApplyConnection(opts, name);
  const mergeWanted = opts.mergeInserts !== false && opts.sessionReplicationRole !== 'origin';
  const result: ApplyResult = {
    appliedTransactions: 0, skippedTransactions: 0, batches: 0, lastEndLsn: null, lastCommitTime: null,
    reachedTarget: false,
  };
  const started = Date.now();
  let bytesBefore = 0;
  let bytesSkipped = 0;
  try {
    const progress = (await originProgress(client, name)) ?? 0n;
    let merging = mergeWanted && !(await insertTriggersFire(client));
    let stop = false;
    for (let i = 0; i < verified.length && !stop; i++) {
      const { path, scan } = verified[i] as VerifiedSegment;
      const bytes = await readSegmentBytes(path);
      if (bytes.length !== scan.length) {
        throw new SegmentCorruptError(`${path}: changed while the restore ran (${scan.length} bytes verified, ${bytes.length} now) at offset 0`);
      }
      const decode = decoderFor(scan.header.encoding, path);
      await client.query(headerSettings(bytes, scan.headerLength));
      let batch: BatchItem[] = [];
      let batchBytes = 0;
      const flush = async (doneBytes: number): Promise<void> => {
        if (batch.length > 0) {
          opts.signal?.throwIfAborted();
          await applyBatch(client, path, batch);
          const last = batch[batch.length - 1] as BatchItem;
          result.appliedTransactions += batch.length;
          result.batches += 1;
          result.lastEndLsn = formatLsn(last.txn.endLsn);
          result.lastCommitTime = last.txn.commitTime;
          batch = [];
          batchBytes = 0;
        }
        const done = bytesBefore + doneBytes;
        const rate = (done - bytesSkipped) / Math.max(1, Date.now() - started);
        await opts.onProgress?.({
          segment: path, segmentIndex: i, segmentCount: verified.length, bytesDone: done, bytesTotal,
          appliedTransactions: result.appliedTransactions, lastEndLsn: result.lastEndLsn,
          etaSeconds: result.appliedTransactions > 0 && rate > 0 ? Math.round((bytesTotal - done) / rate / 1000) : null,
        });
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
          const sql = decodeBody(decode, body, txn);
          const ddl = mergeWanted && holdsDdl(sql);
          batch.push({ txn, sql: merging && !ddl ? mergeInserts(sql) : sql });
          batchBytes += body.length;
          if (ddl || batchBytes >= maxBytes || batch.length >= maxTxns) await flush(txn.byteEnd);
          if (ddl) merging = !(await insertTriggersFire(client));
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
    if (opts.stopAt.kind === 'latest') result.reachedTarget = true;
    // Make the final progress durable before reporting it (synchronous_commit is off).
    await originProgress(client, name);
    return result;
  } finally {
    await client.end().catch(() => undefined);
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
