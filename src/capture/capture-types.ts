/**
 * The capture engine's input, control surface, result and dependencies. Dependencies are
 * ports (segment writer, catalog, source connections) so the engine stays testable and the
 * activity wires the real adapters.
 */
import type { Client } from 'pg';
import type { Lsn } from '../core/lsn';
import type { SegmentEntry } from '../core/catalog/schema';
import type { SegmentHeader } from '../core/segment/grammar';
import type { SegmentWriter } from '../adapters/fs/segment-writer';
import type { ReplicationMessage, StandbyStatus } from '../adapters/pg/replication-messages';
import type { StreamLiveness } from '../adapters/pg/replication-stream';
import type { StartReplicationOptions } from '../adapters/pg/replication-command';
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
  /** Standby status updates (keeps wal_sender_timeout away while we are busy); default 10 s, at most a quarter of receiveTimeoutMs. */
  statusEveryMs?: number;
  /**
   * No byte from the server for this long (and the socket not held back by us) means the
   * network or the server is gone: the run fails and is retried (stream-watchdog.ts); default 60 s.
   */
  receiveTimeoutMs?: number;
  /** Record sequence positions this often (and before each rotation); 0 = never. */
  sequenceEveryMs: number;
  /** Emit an idle logical message this often; 0 = never. */
  idleMessageEveryMs: number;
  /** Seal the open segment on the way out (a stop request). */
  sealOnExit?: boolean;
  compress: 'gzip' | 'none';
  ddlInFunction: 'fail' | 'warn';
}

export interface HeartbeatDetails {
  /** Everything up to here is in fsynced segments (or held nothing to write). */
  lastDurableLsn: string;
  segment: string;
  bytes: number;
  txns: number;
  /** Capture-table rows refused in this run (docs/security.md). */
  refusedRows?: number;
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
  /** Capture-table rows refused for a missing or wrong signature (docs/security.md). */
  refusedRows?: number;
}

/** The connections to the source for one run. */
export interface SourceSession {
  /** A normal SQL connection (catalog lookups, sequence recording, idle messages). */
  client: Client;
  /** A `replication=database` connection with the pinned session settings, not yet streaming. */
  replication: Client;
  header: Omit<SegmentHeader, 'startLsn'>;
  factsLookup: RelationFactsLookup;
  /** Where the session connects, for messages (`host=… port=… dbname=… user=…`, never a password). */
  server: string;
  /** Destroys both connections now (a dead network: pending queries reject). */
  abort(): void;
  close(): Promise<void>;
}

export interface CaptureLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error?(obj: object, msg: string): void;
}

/** Time for the engine: the run time, rotation ages and the group commit's fsync spacing. */
export interface CaptureClock {
  now: () => number;
  /** Calls `fn` once after `ms`; returns its cancel. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** What the engine uses of a replication stream (adapters/pg/replication-stream.ts; a fake in unit tests). */
export interface CaptureStream {
  /** A queued message, `null` once the stream ended, `undefined` when none is queued yet. */
  poll(): ReplicationMessage | null | undefined;
  /** Waits at most `ms` for the next message: `undefined` on timeout. */
  nextWithin(ms: number): Promise<ReplicationMessage | null | undefined>;
  hasQueued(): boolean;
  /** When bytes last arrived, and whether we hold the socket back (the receive timeout); absent: not watched. */
  liveness?(): StreamLiveness;
  /** A standby status update; `flush` must be durable (docs/design.md invariant 2). */
  sendStatus(status: StandbyStatus): void;
  stop(): Promise<unknown>;
}

/** Starts streaming the slot on the session's idle replication connection. */
export type StreamOpener = (replication: Client, options: StartReplicationOptions) => Promise<CaptureStream>;

export interface CaptureDeps {
  openSource(input: CaptureInput): Promise<SourceSession>;
  /** Starts the replication stream (startReplication; a fake stream in unit tests). */
  openStream: StreamOpener;
  clock: CaptureClock;
  /** The end of the last whole transaction in the chain's files (findResumePoint); null when none. */
  resumePoint(): Promise<Lsn | null>;
  /**
   * Opens the segment writer: resumes the partial (cutting a torn tail) when there is one,
   * else starts a new partial at `startLsn` (the previous segment's end, or the base LSN).
   */
  openWriter(header: Omit<SegmentHeader, 'startLsn'>, startLsn: Lsn): Promise<SegmentWriter>;
  /**
   * Records a sealed segment in the catalog; with an object-store repository (`offsite`) it also
   * uploads it and resolves once the bucket holds it, verified.
   */
  recordSegment(header: Omit<SegmentHeader, 'startLsn'>, sealed: SegmentEntry): Promise<void>;
  /** gzips a sealed, uncompressed segment (compressSealedSegment); returns its new catalog entry. */
  compressSegment(sealed: SegmentEntry): Promise<SegmentEntry>;
  /** An object-store repository: acknowledge only what recordSegment has put in the bucket (group-commit.ts). */
  offsite?: boolean;
  log?: CaptureLog;
}
