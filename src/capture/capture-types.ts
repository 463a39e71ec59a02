/**
 * The capture engine's input, control surface, result and dependencies. Dependencies are
 * ports (segment writer, catalog, source connections) so the engine stays testable and the
 * activity wires the real adapters.
 */
import type { Client } from 'pg';
import type { Lsn } from '../core/lsn';
import type { SegmentHeader, BeginMeta } from '../core/segment/grammar';
import type { CaptureTableRenderer } from './change-renderer';
import type { RelationFactsLookup } from './relation-cache';

export interface CaptureInput {
  slot: string;
  publication: string;
  /** The last durable LSN the caller knows (heartbeat or workflow state); the files may know more. */
  lastDurableLsn?: Lsn;
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  /** Return after this long (the open partial stays on disk for the next run). */
  runForMs: number;
  heartbeatEveryMs: number;
  /** Standby status updates (keeps wal_sender_timeout away while we are busy); default 10 s. */
  statusEveryMs?: number;
  /** Record sequence positions this often (and before each rotation); 0 = never. */
  sequenceEveryMs: number;
  /** Emit an idle logical message this often; 0 = never. */
  idleMessageEveryMs: number;
  /** Seal the open segment on the way out (a stop request). */
  sealOnExit?: boolean;
}

export interface HeartbeatDetails {
  /** Everything up to here is in fsynced segments (or held nothing to write). */
  lastDurableLsn: string;
  segment: string;
  bytes: number;
  txns: number;
}

export interface CaptureControl {
  heartbeat(details: HeartbeatDetails): void;
  /** Aborts the run (cancellation, stop): returns promptly with what is durable. */
  signal: AbortSignal;
  /** A "rotate now" request is pending (checked between transactions). */
  rotateRequested(): boolean;
  now(): number;
}

export interface CaptureResult {
  lastDurableLsn: string;
  segmentsSealed: number;
  transactions: number;
  changes: number;
  bytes: number;
}

/** A sealed segment as the writer reports it (what the catalog records). */
export interface SealedSegmentInfo {
  file: string;
  startLsn: Lsn;
  endLsn: Lsn;
  [key: string]: unknown;
}

/** The segment writer as the engine uses it. */
export interface SegmentSink {
  /** End LSN of the last complete transaction in the chain (the segment's start when empty). */
  lastEndLsn(): Lsn;
  name(): string;
  /** Bytes written to the open segment so far. */
  bytes(): number;
  stats(): { bytes: number; transactions: number; openedAtMs: number };
  beginTransaction(meta: BeginMeta): Promise<void>;
  writeStatement(sql: string): Promise<void>;
  /** Writes the COMMIT marker and fsyncs: returns the durable end LSN. */
  commitTransaction(meta: { xid: number; endLsn: Lsn }): Promise<Lsn>;
  abortTransaction(): Promise<void>;
  seal(): Promise<SealedSegmentInfo>;
  /** Idempotent; leaves the partial on disk. */
  close(): Promise<void>;
}

/** The connections to the source for one run. */
export interface SourceSession {
  /** A normal SQL connection (catalog lookups, sequence recording, idle messages). */
  client: Client;
  /** A `replication=database` connection with the pinned session settings, not yet streaming. */
  replication: Client;
  header: Omit<SegmentHeader, 'startLsn'>;
  factsLookup: RelationFactsLookup;
  close(): Promise<void>;
}

export interface CaptureLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CaptureDeps {
  openSource(input: CaptureInput): Promise<SourceSession>;
  /**
   * Opens the segment writer: resumes the partial (cutting a torn tail) when `startLsn` is
   * undefined, else starts a new partial at `startLsn` (after a rotation).
   */
  openWriter(header: Omit<SegmentHeader, 'startLsn'>, startLsn: Lsn | undefined): Promise<SegmentSink>;
  /** Records a sealed segment in the catalog. */
  recordSegment(sealed: SealedSegmentInfo): Promise<void>;
  captureTables: CaptureTableRenderer;
  log?: CaptureLog;
}
