/**
 * The activity surface the workflows call, typed once. Everything crossing Temporal is plain
 * JSON: LSNs as 'X/Y' text, times as ISO strings, profiles by name (never credentials).
 */
import type { CaptureResult } from '../capture/capture-types';
import type { HealthReport } from '../core/monitor/health';
import type { Finding } from '../core/preflight/report';
import type { RestoreTarget } from '../core/restore/plan';

export interface PreflightResult {
  profile: string;
  ready: boolean;
  exitCode: 0 | 1 | 2;
  findings: Finding[];
  server?: string;
}

export interface ChainInfo {
  systemIdentifier: string;
  database: string;
  chainDir: string;
}

export interface SetupState extends ChainInfo {
  /** A slot exists and the catalog has a base taken from it. */
  alreadySetUp: boolean;
  /** The slot exists but the server invalidated it (wal_status lost): a new chain is needed. */
  slotLost: boolean;
  slot: string;
  publication: string;
}

export interface BaseResult {
  baseId: string;
  lsn: string;
  dir: string;
  bytes: number;
  tables: number;
}

export interface CaptureRunInput {
  profile: string;
  lastDurableLsn?: string;
  runForMs?: number;
  stopping?: boolean;
}

export interface RestorePlanResult {
  chainDir: string;
  baseId: string;
  baseLsn: string;
  segments: string[];
  /**
   * Restore to latest when nothing sealed the open segment for it: its whole transactions, read
   * up to its last COMMIT and applied after `segments` (src/restore/open-prefix.ts).
   */
  openSegment?: import('../restore/open-prefix').OpenPrefix;
  expectedChecksumsFile?: string;
  encoding: string;
  /** The roles the planned segments' DDL runs as (`SET ROLE` lines), sorted. */
  ddlRoles?: string[];
  /** Restore to latest: how far the chain reaches and the capture's state then (src/monitor/chain-reach.ts). */
  reach?: import('../core/monitor/capture-failure').ChainReach;
  /** The source database's owner and the privileges granted on it (base metadata; absent in older bases). */
  databaseOwner?: string;
  databaseGrants?: DatabaseGrant[];
}

export interface DatabaseGrant {
  grantee: string;
  privilege: string;
  grantable: boolean;
}

export interface ApplyResult {
  appliedTransactions: number;
  lastEndLsn: string;
  lastCommitTime?: string;
  reachedTarget: boolean;
  /** A partial restore: what the segments held for tables left out (restore/partial-apply.ts). */
  partial?: import('../restore/partial-apply').PartialApplyTally;
}

import type { PartialBaseReport } from '../restore/partial-base';
import type { PartialObjectsReport } from '../restore/partial-objects';
import type { FindTransactionsInput, FindTransactionsResult } from '../restore/find-transactions';
import type { BaseDataReport } from '../restore/restore-base';
export type { BaseDataReport, FindTransactionsResult, PartialBaseReport, PartialObjectsReport };

/** A partial restore's selection and the sequences its base kept. */
export interface PartialRestore {
  selection: import('../core/restore/table-selection').TableSelection;
  sequences: import('../core/restore/table-selection').QualifiedName[];
}

export interface VerifyResult {
  ok: boolean;
  compared: boolean;
  tables: number;
  /** A partial restore's sequences compared (with `sequences` in the input). */
  sequences?: number;
  mismatches: { table: string; expected: string; actual: string }[];
  rowCounts: Record<string, string>;
}

/** What a `pgincr.markers` row stands for. */
export type MarkerKind = 'full-backup' | 'checkpoint' | 'verify';

/** Whether sealed segments reach an LSN (a base's or a checkpoint's), so a restore to it can be planned. */
export interface SegmentCoverage {
  lsn: string;
  covered: boolean;
  /** The end LSN of the newest sealed segment, null when there is none. */
  sealedEndLsn: string | null;
  /** The first sealed segment ending at or after `lsn`. */
  segment?: string;
  /** Why it is not covered (timed out, no capture running). */
  reason?: string;
}

export interface HealthResult {
  status: string;
  exitCode: number;
  findings: { check: string; severity: string; message: string }[];
}

export interface PgincrActivities {
  // preflight / setup
  preflight(input: { profile: string }): Promise<PreflightResult>;
  inspectSetup(input: { profile: string }): Promise<SetupState>;
  installCaptureSchema(input: { profile: string }): Promise<{ version: number }>;
  fixReplicaIdentity(input: { profile: string }): Promise<{ table: string; action: string }[]>;
  ensurePublication(input: { profile: string }): Promise<void>;
  dropChainSlot(input: { profile: string }): Promise<boolean>;
  takeBase(input: { profile: string; temporarySlot: boolean }): Promise<BaseResult>;
  dumpGlobals(input: { profile: string; baseId: string }): Promise<{ file: string }>;
  writeMetadata(input: { profile: string; baseId: string }): Promise<{ file: string }>;
  // capture
  captureChanges(input: CaptureRunInput): Promise<CaptureResult>;
  requestRotation(input: { profile: string }): Promise<void>;
  sealCurrentSegment(input: { profile: string }): Promise<{ sealed: string | null }>;
  // markers: make a base's or checkpoint's LSN reachable by sealed segments
  writeMarker(input: { profile: string; kind: MarkerKind; lsn: string; note: string }): Promise<{ written: boolean; lsn: string | null }>;
  waitForSegmentCoverage(input: { profile: string; lsn: string; timeoutMs: number }): Promise<SegmentCoverage>;
  // restore
  /** With `targetProfile`, also refuses DDL roles missing there (unless `noOwner`; globals.sql counts when `restoreGlobals`). */
  planRestore(input: {
    profile: string;
    target: RestoreTarget;
    fromBase?: string;
    targetProfile?: string;
    restoreGlobals?: boolean;
    noOwner?: boolean;
    /** A partial restore: its names are checked against the base and the planned segments (restore/check-selection.ts). */
    selection?: import('../core/restore/table-selection').TableSelection;
  }): Promise<RestorePlanResult>;
  /** `owner`/`grants`: the source database's (plan), unless the restore is noOwner. */
  createTargetDatabase(input: {
    profile: string;
    targetProfile: string;
    targetDb: string;
    restoreId: string;
    encoding: string;
    owner?: string;
    grants?: DatabaseGrant[];
  }): Promise<{ created: boolean }>;
  restoreGlobals(input: { profile: string; targetProfile: string; plan: RestorePlanResult }): Promise<{ notes: string[] }>;
  /** `selection`: a partial restore loads only the kept tables' data (restore/restore-base.ts). */
  restoreBase(input: {
    targetProfile: string;
    targetDb: string;
    restoreId: string;
    plan: RestorePlanResult;
    noOwner?: boolean;
    selection?: import('../core/restore/table-selection').TableSelection;
  }): Promise<{ skipped: boolean; data?: BaseDataReport }>;
  applySegments(input: {
    targetProfile: string;
    targetDb: string;
    restoreId: string;
    plan: RestorePlanResult;
    target: RestoreTarget;
    noOwner?: boolean;
    partial?: PartialRestore;
  }): Promise<ApplyResult>;
  /** `--into-schema`: refuses a missing target database, an existing schema, chosen tables of one name (restore/into-schema.ts). */
  checkIntoSchema(input: {
    targetProfile: string;
    targetDb: string;
    intoSchema: string;
    restoreId: string;
    tables: import('../core/restore/table-selection').QualifiedName[];
  }): Promise<void>;
  /** `--into-schema`: the staging database's kept tables copied into a new schema of the target database. */
  restoreIntoSchema(input: {
    targetProfile: string;
    stagingDb: string;
    targetDb: string;
    intoSchema: string;
    restoreId: string;
    tables: import('../core/restore/table-selection').QualifiedName[];
  }): Promise<{ copied: boolean; liveFunctions?: string[] }>;
  /** A partial restore: removes all but the chosen tables from the loaded base (restore/partial-base.ts). */
  keepSelectedTables(input: {
    targetProfile: string;
    targetDb: string;
    selection: import('../core/restore/table-selection').TableSelection;
  }): Promise<PartialBaseReport>;
  /** A partial restore, after the segments: removes the types and functions no restored relation needs (restore/partial-objects.ts). */
  removeUnneededObjects(input: { targetProfile: string; targetDb: string }): Promise<PartialObjectsReport>;
  fixSequences(input: { targetProfile: string; targetDb: string }): Promise<{ adjusted: number }>;
  /** `pgincr log` for findTransactionsWorkflow (restore/find-transactions.ts): no statements, row values stay out of the history. */
  findTransactions(input: FindTransactionsInput): Promise<FindTransactionsResult>;
  /** `tables`: compare only these (checksums.json keys; a partial restore), and every table of `schemas`. */
  verifyTarget(input: {
    profile: string;
    targetProfile: string;
    targetDb: string;
    checksumsFile?: string;
    tables?: string[];
    schemas?: string[];
    /** A partial restore's kept sequences (checksums.json keys): compared too (core/verify/compare.ts compareKeptSequences). */
    sequences?: string[];
  }): Promise<VerifyResult>;
  finishRestore(input: { targetProfile: string; targetDb: string; restoreId: string; dropDatabase: boolean }): Promise<void>;
  // verify / checkpoints
  takeCheckpoint(input: { profile: string }): Promise<{ lsn: string; file: string }>;
  planVerification(input: { profile: string; checkpoint: boolean }): Promise<{ fromBase: string; toLsn: string; checksumsFile: string } | null>;
  recordVerification(input: {
    profile: string;
    fromBase: string;
    toLsn: string;
    ok: boolean;
    mismatches: string[];
    /** A partial verification: the tables compared. */
    tables?: string[];
  }): Promise<void>;
  // retention / health
  applyRetention(input: { profile: string; dryRun: boolean }): Promise<{ removed: string[]; kept: number }>;
  healthCheck(input: { profile: string }): Promise<HealthResult>;
}

/** Activities only the CLI calls directly (never a workflow). */
export interface CliOnlyActivities {
  runCheck(input: { profile: string; nagios: boolean }): Promise<{ report: HealthReport; text: string }>;
  slotDrop(input: { profile: string; slot: string; confirm: string }): Promise<void>;
  slotAdvance(input: { profile: string; slot: string; lsn: string; confirm: string }): Promise<{ lsn: string }>;
  listRepository(input: { profile: string }): Promise<{ text: string; data: unknown }>;
  /** `damaged`: sealed segments left out because they fail verification (file and offset each). */
  rebuildCatalog(input: { profile: string }): Promise<{ bases: number; segments: number; damaged: string[] }>;
  uninstall(input: { profile: string; confirm: string }): Promise<{ removed: string[] }>;
}
