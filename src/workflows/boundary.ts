/**
 * The typed Temporal boundary: what crosses between workflows, activities and clients besides
 * the workflow inputs (inputs.ts) — heartbeat details, query results, search attributes and
 * the non-retryable failures a workflow throws (workflow ids: ids.ts). One type and one decoder each
 * (zod), so the CLI, the activities and the workflows cannot read the same payload two ways.
 * Workflow-safe: zod and the SDK's common module only.
 */
import { z } from 'zod';
import { ApplicationFailure, defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { Sinks } from '@temporalio/workflow';
import type { NonRetryableErrorType } from '../core/error-types';
import type { FaultPointName } from '../adapters/fault-point';

// ---- search attributes: what the Temporal UI's list filters on ----

/**
 * Registered on the server once per namespace (the dev server that pgincr starts registers them
 * itself; `searchAttributeCommands` gives the commands for any other server). Workflows started
 * without them (a server that lacks them) still run; only filtering is missing.
 */
export const searchAttributes = {
  /** The databases a workflow reads or writes: the source; for a restore also the target. */
  database: defineSearchAttributeKey('PgincrDatabase', SearchAttributeType.KEYWORD_LIST),
  /** The backup chain: `<system_identifier>-<dbname>`, the chain folder's name in the repository. */
  chain: defineSearchAttributeKey('PgincrChain', SearchAttributeType.KEYWORD),
  /** What the workflow does: capture, setup, restore, verify, full-backup, … */
  kind: defineSearchAttributeKey('PgincrKind', SearchAttributeType.KEYWORD),
};

/** `Name=Type` as `temporal server start-dev --search-attribute` and `operator search-attribute create` take them. */
export const SEARCH_ATTRIBUTE_DEFINITIONS: readonly { name: string; type: 'Keyword' | 'KeywordList' }[] = [
  { name: searchAttributes.database.name, type: 'KeywordList' },
  { name: searchAttributes.chain.name, type: 'Keyword' },
  { name: searchAttributes.kind.name, type: 'Keyword' },
];

/** The commands that register pgincr's search attributes on a server that lacks them. */
export function searchAttributeCommands(namespace: string): string[] {
  return SEARCH_ATTRIBUTE_DEFINITIONS.map((d) => `temporal operator search-attribute create --namespace ${namespace} --name ${d.name} --type ${d.type}`);
}

export type WorkflowKind =
  'preflight' | 'setup' | 'capture' | 'full-backup' | 'globals-backup' | 'restore' | 'verify' | 'health-check' | 'retention' | 'find-transactions';

/** The kind of each workflow type (src/workflows/index.ts). */
export const workflowKinds: Record<string, WorkflowKind> = {
  preflightWorkflow: 'preflight',
  setupWorkflow: 'setup',
  captureWorkflow: 'capture',
  fullBackupWorkflow: 'full-backup',
  globalsBackupWorkflow: 'globals-backup',
  restoreWorkflow: 'restore',
  verifyWorkflow: 'verify',
  findTransactionsWorkflow: 'find-transactions',
  healthCheckWorkflow: 'health-check',
  retentionWorkflow: 'retention',
};

// ---- heartbeat details ----

/** The capture activity's heartbeat: everything up to `lastDurableLsn` is in fsynced segments. */
export const captureHeartbeat = z.object({
  lastDurableLsn: z.string(),
  segment: z.string(),
  bytes: z.number(),
  txns: z.number(),
  /** Capture-table rows refused in this run (docs/security.md). */
  refusedRows: z.number().optional(),
});
export type CaptureHeartbeat = z.infer<typeof captureHeartbeat>;

/** The restore activities' heartbeats: the plan verifying files, the base loading, the applier. */
export const restoreHeartbeat = z.union([
  z.object({ step: z.literal('plan'), verified: z.number(), of: z.number() }),
  z.object({ step: z.literal('base') }),
  z.object({
    step: z.literal('segments').optional(),
    transactions: z.number(),
    lsn: z.string().nullable(),
    segmentIndex: z.number().optional(),
    segmentCount: z.number().optional(),
    bytesDone: z.number(),
    bytesTotal: z.number(),
    etaSeconds: z.number().nullable(),
    /** The LSN range: from the base's LSN to `lsn`, the last applied transaction's end. */
    fromLsn: z.string().optional(),
    /** A partial restore's tables (and schemas), as a person reads them. */
    tables: z.array(z.string()).optional(),
  }),
]);

/** findTransactionsWorkflow's activity heartbeat (restore/find-transactions.ts): how far the search has read, and its last match. */
export const findTransactionsHeartbeat = z.object({
  step: z.literal('search'),
  /** Segments read to their end, of those in the window. */
  segmentsRead: z.number(),
  segmentsTotal: z.number(),
  /** The segment being read (relative to the chain). */
  segment: z.string().nullable(),
  /** SQL read so far (decompressed), in MiB to one decimal. */
  sqlMiBRead: z.number(),
  found: z.number(),
  /** The last match's commit. */
  commitLsn: z.string().nullable(),
  commitTime: z.string().nullable(),
});
export type FindTransactionsHeartbeat = z.infer<typeof findTransactionsHeartbeat>;

/**
 * Decodes heartbeat details with `schema`: the value an activity attempt gets back
 * (`info.heartbeatDetails`), or the JSON payload bytes a client reads from describe()'s pending
 * activity. Anything else (absent, another shape, an older worker's) is `undefined`, never a guess.
 */
export function decodeHeartbeat<S extends z.ZodTypeAny>(schema: S, details: unknown): z.output<S> | undefined {
  let value = details;
  if (details instanceof Uint8Array) {
    try {
      value = JSON.parse(new TextDecoder().decode(details));
    } catch {
      return undefined;
    }
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** The first pending activity's heartbeat (as describe() returns it), decoded with `schema`. */
export function pendingHeartbeat<S extends z.ZodTypeAny>(
  raw: { pendingActivities?: { heartbeatDetails?: { payloads?: { data?: Uint8Array | null }[] | null } | null }[] | null },
  schema: S,
): z.output<S> | undefined {
  const data = raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0]?.data;
  return data ? decodeHeartbeat(schema, data) : undefined;
}

// ---- query results ----

export const captureStatus = z.object({
  state: z.enum(['running', 'paused', 'stopping', 'stopped']),
  lastDurableLsn: z.string().nullable(),
  iterations: z.number(),
  transactions: z.number(),
  changes: z.number(),
  bytes: z.number(),
  segmentsSealed: z.number(),
  lastRunEndedAt: z.string().nullable(),
  /** Capture-table rows refused for a missing or wrong signature in this execution (docs/security.md). */
  refusedRows: z.number().optional(),
});
/** The capture workflow's `status` query result and its return value. */
export type CaptureStatus = z.infer<typeof captureStatus>;

export const restoreProgress = z.object({
  step: z.string(),
  steps: z.array(z.object({ name: z.string(), ms: z.number() })),
  /** A partial restore: the chosen tables and schemas (`schema ` + name), and the new schema it goes into. */
  tables: z.array(z.string()).optional(),
  intoSchema: z.string().optional(),
  /** The LSN range: the base's LSN once planned, the last applied end LSN once the segments are in. */
  fromLsn: z.string().optional(),
  toLsn: z.string().optional(),
});
/** The restore workflow's `progress` query result. */
export type RestoreProgress = z.infer<typeof restoreProgress>;

/** Decodes a query result (or a workflow result) with `schema`; a mismatch names the query and the field. */
export function decodeResult<S extends z.ZodTypeAny>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`);
  throw new Error(`${what} returned an unexpected shape (${problems.join('; ')}); is the worker running another pgincr version?`);
}

// ---- memo ----

// The memo keys live in ./memo.ts (no zod, no SDK: `pgincr check` reads them at start-up).
export { CAPTURE_STATE_MEMO, DURABLE_LSN_MEMO } from './memo';

// ---- failures ----

/** A workflow's non-retryable failure; `type` is one of src/core/error-types.ts's names (no retry fixes it). */
export function nonRetryable(message: string, type: NonRetryableErrorType, ...details: unknown[]): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type, ...details);
}

// ---- sinks: workflow → worker calls outside history ----

/**
 * Test-only kill points inside workflow code (the worker's `faultPoint`, src/adapters/fault-point.ts):
 * the sandbox cannot signal its process, a sink runs in the worker, before the activation's
 * completion reaches the server. Not called during replay; a no-op unless PGINCR_FAULT_POINT is set.
 */
export interface FaultSinks extends Sinks {
  faults: { point(name: Extract<FaultPointName, 'mid-continue-as-new'>): void };
}
