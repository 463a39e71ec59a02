/**
 * Workflow inputs, validated with zod inside the workflow (a bad input fails at once, with a
 * non-retryable error naming the field). Inputs name a connection profile, never credentials.
 */
import { z } from 'zod';
import type { RestoreTarget } from '../core/restore/plan';
import { normalizeTime } from '../core/segment/commit-time';
import { parseSchemaName, parseTableName } from '../core/restore/table-selection';

const profileName = z.string().regex(/^[A-Za-z0-9_-]+$/, 'a profile name from the worker configuration');
const profile = profileName.default('default');
/** Unset means "the source profile" (an optional of `profile` would take its default instead). */
const otherProfile = profileName.optional();
/**
 * A point in time with a zone, as PostgreSQL prints a timestamptz or as ISO 8601; carried on as
 * the canonical UTC form (`2026-11-27T14:00:00.123456Z`, microseconds kept).
 */
const instant = z.string().transform((text, ctx) => {
  try {
    return normalizeTime(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
/** Bytes of `text` in UTF-8 (no Buffer or TextEncoder needed in the workflow sandbox). */
function utf8Bytes(text: string): number {
  let n = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}
/**
 * A database name as PostgreSQL stores it: 1 to 63 bytes, no NUL. Any other character is fine
 * (spaces, quotes, `=`, `postgresql://…`, a leading `-`): it reaches SQL as a quoted identifier
 * and libpq and the client programs as data, never as a connection string or an option.
 */
const databaseName = z
  .string()
  .min(1)
  .refine((s) => !s.includes('\0'), 'a database name cannot contain a NUL character')
  .refine((s) => utf8Bytes(s) <= 63, 'at most 63 bytes in UTF-8 (PostgreSQL would cut a longer name)');
/** A name a person types (`public.orders`, `public."My Table"`), checked by the same parser the restore uses. */
const checkedName = (parse: (s: string) => unknown) =>
  z
    .string()
    .min(1)
    .superRefine((text, ctx) => {
      try {
        parse(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    });
const lsnText = z.string().regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, 'an LSN like 0/16B3748');

export const preflightInput = z.object({ profile }).strict();
export type PreflightInput = z.input<typeof preflightInput>;

export const setupInput = z
  .object({
    profile,
    newChain: z.boolean().default(false),
    startCapture: z.boolean().default(true),
  })
  .strict();
export type SetupInput = z.input<typeof setupInput>;

export const captureInput = z
  .object({
    profile,
    /** Set by continue-as-new: the last LSN known durable in the repository. */
    lastDurableLsn: lsnText.optional(),
    paused: z.boolean().default(false),
    iterations: z.number().int().min(0).default(0),
    /** For tests: stop after this many capture activity runs (0 = forever). */
    maxIterations: z.number().int().min(0).default(0),
    /** Overrides the configured activity run time (tests use seconds). */
    runForMs: z.number().int().min(100).optional(),
    /** Continue-as-new after this many runs (keeps history small; tests use 2). */
    runsPerExecution: z.number().int().min(1).default(50),
    /**
     * The UI's summary line of this capture (`capture <database> · slot <slot> · profile <name>`),
     * as its starter set the first run's static summary. A continued run has no static summary
     * (Temporal gives a continued run none, whatever the SDK: docs/workflows.md), so every run
     * shows this line at the top of its current details (control characters shown as spaces),
     * and continue-as-new carries it.
     */
    summary: z.string().max(1000).optional(),
  })
  .strict();
export type CaptureInput = z.input<typeof captureInput>;

export const restoreTarget = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('latest') }).strict(),
  z.object({ kind: z.literal('lsn'), lsn: lsnText, inclusive: z.boolean().default(true) }).strict(),
  z.object({ kind: z.literal('time'), time: instant, inclusive: z.boolean().default(true) }).strict(),
  z.object({ kind: z.literal('xid'), xid: z.number().int().min(1), inclusive: z.boolean().default(true) }).strict(),
]) satisfies z.ZodType<RestoreTarget>; // the planner's type, declared once in core/restore/plan.ts

export const restoreInput = z
  .object({
    /** The source chain: the profile whose database was backed up. */
    profile,
    targetProfile: otherProfile,
    targetDb: databaseName,
    target: restoreTarget.default({ kind: 'latest' }),
    fromBase: z.string().optional(),
    restoreGlobals: z.boolean().default(false),
    /**
     * Like pg_restore --no-owner: replay DDL as the restoring role instead of the role that ran it,
     * and load the base without its ownership changes (objects belong to the restoring role).
     */
    noOwner: z.boolean().default(false),
    /**
     * A partial restore: only these tables (`schema.table`, a quoted part kept as written) and
     * every table of these schemas, with what they depend on; the rest is left out.
     */
    tables: z.array(checkedName(parseTableName)).default([]),
    schemas: z.array(checkedName(parseSchemaName)).default([]),
    /**
     * Restore the chosen tables into this NEW schema of the existing database `targetDb` (the
     * live one included) instead of a new database; refused if the schema exists.
     */
    intoSchema: z
      .string()
      .min(1)
      .refine((s) => !s.includes('\0'), 'a schema name cannot contain a NUL character')
      .refine((s) => utf8Bytes(s) <= 63, 'at most 63 bytes in UTF-8 (PostgreSQL would cut a longer name)')
      .optional(),
    /** Drop the target database at the end (verification runs). */
    dropAfter: z.boolean().default(false),
    /** Compare with recorded checksums when the target is a recorded checkpoint. */
    verify: z.boolean().default(true),
  })
  .strict()
  .refine((r) => r.intoSchema === undefined || r.tables.length > 0 || r.schemas.length > 0, {
    message: 'intoSchema restores chosen tables: give tables or schemas too',
    path: ['intoSchema'],
  });
export type RestoreInput = z.input<typeof restoreInput>;

export const verifyInput = z
  .object({
    profile,
    targetProfile: otherProfile,
    /** Take a fresh checkpoint (temporary slot + snapshot checksums) and verify up to it. */
    checkpoint: z.boolean().default(false),
    /**
     * A partial verification: restore only these tables (and every table of these schemas), as
     * `restoreInput.tables`/`schemas`, and compare only them with the checkpoint's checksums.
     */
    tables: z.array(checkedName(parseTableName)).default([]),
    schemas: z.array(checkedName(parseSchemaName)).default([]),
  })
  .strict();
export type VerifyInput = z.input<typeof verifyInput>;

/** `pgincr log` from the Temporal UI (findTransactionsWorkflow): the CLI's filters, as JSON. */
export const findTransactionsInput = z
  .object({
    profile,
    /** Commit time window, inclusive, with a zone (as `--to-time` takes it). */
    from: z.string().optional(),
    to: z.string().optional(),
    /** Commit LSN window, inclusive. */
    fromLsn: z.string().optional(),
    toLsn: z.string().optional(),
    /** `schema.table` as `pgincr log --tables` takes them. */
    tables: z.array(z.string().min(1)).default([]),
    /** INSERT, UPDATE, DELETE, TRUNCATE, DDL. */
    kinds: z.array(z.string().min(1)).default([]),
    /** `col=value`, as `pgincr log --where`. */
    where: z.string().optional(),
    /** At most this many transactions (the result stays small enough for the workflow history). */
    limit: z.number().int().min(1).max(1000).default(100),
  })
  .strict();
export type FindTransactionsInput = z.input<typeof findTransactionsInput>;

export const backupInput = z.object({ profile }).strict();
export type BackupInput = z.input<typeof backupInput>;

export const retentionInput = z.object({ profile, dryRun: z.boolean().default(false) }).strict();
export type RetentionInput = z.input<typeof retentionInput>;

export const healthInput = z.object({ profile }).strict();
export type HealthInput = z.input<typeof healthInput>;
