/**
 * The catalog file (`catalog/catalog.json`): what a chain folder holds, so listing, planning
 * and retention need not read every file. It is a cache: `rebuildCatalog` recreates it from
 * the files themselves (except `verifications`, which are history). LSNs are text `X/Y`
 * (bigint is not JSON); times are ISO 8601 UTC; paths are relative to the chain folder.
 */
import { z } from 'zod';

export const lsnText = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/, 'an LSN like 0/16B3748 (upper-case hex)');
const isoTime = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/, 'an ISO 8601 time');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lower-case hex');
const count = z.number().int().min(0);

export const baseEntrySchema = z
  .object({
    /** `<yyyymmddThhmmssZ>_<lsn16>`, also the folder name. */
    id: z.string().min(1),
    /** `base/<id>`. */
    dir: z.string().min(1),
    /** The consistent LSN of the snapshot the dump was taken in. */
    lsn: lsnText,
    takenAt: isoTime,
    format: z.enum(['plain', 'directory']),
    /** Bytes of every file in the base folder. */
    bytes: count,
    dumpSha256: sha256.optional(),
    /** `base/<id>/checksums.json`. */
    checksumsFile: z.string().min(1),
  })
  .strict();

export const segmentEntrySchema = z
  .object({
    /** `segments/<yyyy-mm-dd>/<start16>_<end16>.sql[.gz]`. */
    file: z.string().min(1),
    startLsn: lsnText,
    endLsn: lsnText,
    firstCommitTime: isoTime,
    lastCommitTime: isoTime,
    transactions: count,
    changes: count,
    /** Size of the stored file (compressed when `compressed`). */
    bytes: count,
    /** SHA-256 of the stored file. */
    sha256,
    compressed: z.boolean(),
    /** SHA-256 of the uncompressed `.sql` when the stored file is gzip. */
    sha256Uncompressed: sha256.optional(),
  })
  .strict();

export const checkpointEntrySchema = z.object({ lsn: lsnText, takenAt: isoTime, file: z.string().min(1) }).strict();

export const verificationEntrySchema = z
  .object({
    at: isoTime,
    fromBase: z.string(),
    toLsn: lsnText,
    ok: z.boolean(),
    mismatches: z.array(z.string()).optional(),
    /** A partial verification (`pgincr verify --tables`): the tables it compared (display form). */
    tables: z.array(z.string()).optional(),
  })
  .strict();

/**
 * What retention deleted, so a merge with an older copy of the catalog (another worker's, in an
 * object store) does not bring the entries back: segments ending at or before `segmentsThrough`
 * (retention deletes a prefix of the chain), and bases by id.
 */
export const expiredSchema = z
  .object({
    segmentsThrough: lsnText.optional(),
    bases: z.array(z.string().min(1)),
  })
  .strict();

export const catalogSchema = z
  .object({
    version: z.literal(1),
    chain: z.object({ systemIdentifier: z.string().regex(/^\d+$/), database: z.string().min(1) }).strict(),
    bases: z.array(baseEntrySchema),
    segments: z.array(segmentEntrySchema),
    checkpoints: z.array(checkpointEntrySchema),
    verifications: z.array(verificationEntrySchema),
    expired: expiredSchema.optional(),
  })
  .strict();

export type BaseEntry = z.infer<typeof baseEntrySchema>;
export type SegmentEntry = z.infer<typeof segmentEntrySchema>;
export type CheckpointEntry = z.infer<typeof checkpointEntrySchema>;
export type VerificationEntry = z.infer<typeof verificationEntrySchema>;
export type Catalog = z.infer<typeof catalogSchema>;
export type Expired = z.infer<typeof expiredSchema>;
