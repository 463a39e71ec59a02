/**
 * Error classes. Each has an explicit `name` (bundlers mangle constructor names) and a `code`.
 * Messages are lowercase, facts first (slot, LSN, file, SQLSTATE), then `hint:` lines saying
 * what to do. Names listed in NON_RETRYABLE are given to Temporal as nonRetryableErrorTypes.
 */
import { NON_RETRYABLE_ERROR_TYPES } from './core/error-types';

export class PgincrError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(options.hint ? `${message}\nhint: ${options.hint}` : message, { cause: options.cause });
    this.name = 'PgincrError';
    this.code = code;
    this.hint = options.hint;
  }
}

function defineError(name: string, code: string) {
  const cls = class extends PgincrError {
    constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
      super(code, message, options);
      this.name = name;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

/** Bad configuration or workflow input: fix the input, retrying cannot help. */
export const ConfigError = defineError('ConfigError', 'config');
/** The server is not ready for pgincr (wal_level, privileges, plugin, slots). */
export const NotReadyError = defineError('NotReadyError', 'not_ready');
/** The replication slot is gone or invalidated: the chain is broken, a new setup is needed. */
export const SlotMissingError = defineError('SlotMissingError', 'slot_missing');
/** The publication the pgoutput decoder needs does not exist. */
export const PublicationMissingError = defineError('PublicationMissingError', 'publication_missing');
/** The output plugin is not installed or not allowed. */
export const DecoderMissingError = defineError('DecoderMissingError', 'decoder_missing');
/** A segment file fails its checksum or grammar. */
export const SegmentCorruptError = defineError('SegmentCorruptError', 'segment_corrupt');
/** The restore plan cannot be made (gap, no base, bad target). */
export const PlanError = defineError('PlanError', 'plan');
/** The restore target database already exists. */
export const TargetExistsError = defineError('TargetExistsError', 'target_exists');
/** A restored database differs from the recorded checksums. */
export const VerifyFailedError = defineError('VerifyFailedError', 'verify_failed');
/** A DDL command the stream cannot replay (e.g. DDL inside a function, when configured to fail). */
export const UnreplayableDdlError = defineError('UnreplayableDdlError', 'unreplayable_ddl');
/** An object-store repository request failed or an object does not match what was uploaded; retryable. */
export const ObjectStoreError = defineError('ObjectStoreError', 'object_store');
/**
 * An encrypted repository file cannot be decrypted with this worker's keys (no identity file, an
 * unreadable one, or none of its identities opens the file), or there are no recipients to encrypt to.
 */
export const EncryptionKeyError = defineError('EncryptionKeyError', 'encryption_key');
/** An external command (pg_dump, psql…) failed; retryable by default. */
export const CommandFailedError = defineError('CommandFailedError', 'command_failed');

/**
 * A statement that would break the segment format (a line that reads as a transaction marker or
 * footer): writing it would corrupt the chain, and rendering it again gives the same bytes.
 */
export const SegmentFormatError = defineError('SegmentFormatError', 'segment_format');

/** The names given to Temporal as nonRetryableErrorTypes: one list (src/core/error-types.ts). */
export const NON_RETRYABLE = NON_RETRYABLE_ERROR_TYPES;
/**
 * Another capture holds this chain (its lock on the source database is taken before any segment
 * file is opened): retryable, so a retry takes over once that capture is gone.
 */
export const CaptureBusyError = defineError('CaptureBusyError', 'capture_busy');
