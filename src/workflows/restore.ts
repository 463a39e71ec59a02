import { patched, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import { long, quick } from './activity-options';
import type { RestoreTarget } from '../core/restore/plan';
import { restoreInput, type RestoreInput } from './inputs';
import { parseInput } from './validate';
import { restoreProgressQuery } from './signals';
import { nonRetryable, type RestoreProgress } from './boundary';
import type {
  ApplyResult,
  BaseDataReport,
  PartialBaseReport,
  PartialObjectsReport,
  PartialRestore,
  RestorePlanResult,
  VerifyResult,
} from '../activities/types';
import { checksumKey, parseSelection, selectionNames } from '../core/restore/table-selection';

export interface RestoreReport {
  targetDb: string;
  target: RestoreTarget;
  plan: RestorePlanResult;
  apply: ApplyResult;
  verify: VerifyResult | null;
  steps: { name: string; ms: number }[];
  /** A partial restore (`tables`/`schemas`): what was kept, and what was left out that a person must know; how the base was loaded. */
  partial?: PartialBaseReport & { baseData?: BaseDataReport; objects?: PartialObjectsReport };
  /** `intoSchema`: the new schema of `targetDb` the chosen tables were copied into. */
  intoSchema?: string;
  /** The functions the copies' defaults, constraints and triggers call: the target's own (restore/into-schema.ts). */
  intoSchemaFunctions?: string[];
}

/**
 * The restore runbook as steps: plan → (globals) → create the new database → base → segments up
 * to the target → sequences → verify → report. Each step is an idempotent activity; segment
 * progress commits with the data (replication origin), so a retry resumes exactly.
 */
export async function restoreWorkflow(raw: RestoreInput): Promise<RestoreReport> {
  const input = parseInput(restoreInput, raw, 'restoreWorkflow');
  const targetProfile = input.targetProfile ?? input.profile;
  // One restore, one identity: stable across activity retries and continue-as-new (the first
  // run's id), new for every restore started, even to the same database name, so a new restore
  // never mistakes another restore's database or progress for its own.
  const info = workflowInfo();
  const restoreId = `${info.workflowId.replace(/[^A-Za-z0-9_]/g, '_').slice(-20)}_${(info.firstExecutionRunId || uuid4()).replace(/-/g, '')}`;
  const progress: RestoreProgress = { step: 'plan', steps: [] };
  setHandler(restoreProgressQuery, () => progress);

  async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
    progress.step = name;
    const started = Date.now();
    const result = await run();
    progress.steps.push({ name, ms: Date.now() - started });
    return result;
  }

  // --into-schema: the restore is made in a staging database, then its tables are copied into a new schema of targetDb.
  const db = input.intoSchema ? `pgincr_s_${restoreId}`.slice(0, 63) : input.targetDb;
  const selection = input.tables.length > 0 || input.schemas.length > 0 ? parseSelection(input.tables, input.schemas) : undefined;
  // What the Temporal UI's progress query shows: the tables and the LSN range.
  if (selection) progress.tables = selectionNames(selection);
  if (input.intoSchema) progress.intoSchema = input.intoSchema;

  // The plan verifies every file it needs (long: that reads every planned segment).
  // ... and that every role the DDL replays as exists in the target (or comes with the globals), unless noOwner.
  const plan = await step('plan', () =>
    long.planRestore({
      profile: input.profile,
      target: input.target,
      fromBase: input.fromBase,
      targetProfile,
      restoreGlobals: input.restoreGlobals,
      noOwner: input.noOwner,
      ...(selection ? { selection } : {}),
    }),
  );
  progress.fromLsn = plan.baseLsn;
  if (input.intoSchema) {
    const intoSchema = input.intoSchema;
    await step('check schema', () =>
      quick.checkIntoSchema({ targetProfile, targetDb: input.targetDb, intoSchema, restoreId, tables: selection?.tables ?? [] }),
    );
  }
  // Roles first: the new database is created owned by the source database's owner.
  if (input.restoreGlobals) await step('globals', () => quick.restoreGlobals({ profile: input.profile, targetProfile, plan }));
  await step('create database', () =>
    quick.createTargetDatabase({
      profile: input.profile,
      targetProfile,
      targetDb: db,
      restoreId,
      encoding: plan.encoding,
      // owned and granted as the source database was, unless noOwner (then by the restoring role)
      ...(!input.noOwner && plan.databaseOwner ? { owner: plan.databaseOwner } : {}),
      ...(!input.noOwner && plan.databaseGrants ? { grants: plan.databaseGrants } : {}),
    }),
  );
  const noOwner = input.noOwner ? { noOwner: true } : {};
  const base = await step('base', () => long.restoreBase({ targetProfile, targetDb: db, restoreId, plan, ...noOwner, ...(selection ? { selection } : {}) }));
  // A partial restore: the base keeps only the chosen tables, and the segments only their changes.
  const partialBase = selection ? await step('keep chosen tables', () => long.keepSelectedTables({ targetProfile, targetDb: db, selection })) : undefined;
  const partial: { partial?: PartialRestore } = selection && partialBase ? { partial: { selection, sequences: partialBase.sequences } } : {};
  const apply = await step('segments', () =>
    long.applySegments({ targetProfile, targetDb: db, restoreId, plan, target: input.target, ...noOwner, ...partial }),
  );
  progress.toLsn = apply.lastEndLsn;
  if (input.target.kind !== 'latest' && !apply.reachedTarget) {
    throw nonRetryable(`the restore target was not reached: the chain ends at ${apply.lastEndLsn} (${apply.lastCommitTime ?? 'no transactions'})`, 'PlanError');
  }
  // A partial restore keeps only the types and functions its relations use, as the segments left
  // them (--into-schema copies only its schema: the others stay where they are, in the live database).
  const objects =
    partialBase && !input.intoSchema && patched('partial-needed-objects')
      ? await step('remove unneeded types and functions', () => long.removeUnneededObjects({ targetProfile, targetDb: db }))
      : undefined;
  await step('sequences', () => quick.fixSequences({ targetProfile, targetDb: db }));
  let verify: VerifyResult | null = null;
  if (input.verify) {
    verify = await step('verify', () =>
      long.verifyTarget({
        profile: input.profile,
        targetProfile,
        targetDb: db,
        checksumsFile: plan.expectedChecksumsFile,
        // The kept tables, and chosen ones the segments created after the base.
        // ... and the sequences they own or call in defaults.
        ...(partialBase && selection
          ? {
              tables: [...partialBase.checksumKeys, ...selection.tables.map(checksumKey)],
              schemas: selection.schemas,
              sequences: partialBase.sequences.map(checksumKey),
            }
          : {}),
      }),
    );
    if (verify.compared && !verify.ok) {
      throw nonRetryable(
        `restored database ${db} differs from the source in: ${verify.mismatches.map((m) => m.table).join(', ')}`,
        'VerifyFailedError',
        verify,
      );
    }
  }
  let copied: { liveFunctions?: string[] } | undefined;
  if (input.intoSchema && partialBase) {
    const intoSchema = input.intoSchema;
    copied = await step('into schema', () =>
      long.restoreIntoSchema({ targetProfile, stagingDb: db, targetDb: input.targetDb, intoSchema, restoreId, tables: partialBase.keptTables }),
    );
  }
  // The staging database of --into-schema goes once its schema is copied.
  await step('finish', () => quick.finishRestore({ targetProfile, targetDb: db, restoreId, dropDatabase: input.dropAfter || Boolean(input.intoSchema) }));
  return {
    targetDb: input.targetDb,
    target: input.target,
    plan,
    apply,
    verify,
    steps: progress.steps,
    ...(partialBase ? { partial: { ...partialBase, ...(base.data ? { baseData: base.data } : {}), ...(objects ? { objects } : {}) } } : {}),
    ...(input.intoSchema ? { intoSchema: input.intoSchema } : {}),
    ...(copied?.liveFunctions?.length ? { intoSchemaFunctions: copied.liveFunctions } : {}),
  };
}
