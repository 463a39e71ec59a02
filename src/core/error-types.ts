/**
 * Which failures a retry can fix. The names of the error classes that a retry cannot fix are
 * given to Temporal as `nonRetryableErrorTypes` (src/workflows/activity-options.ts) and define
 * the classes in src/errors.ts: one list, so the two cannot drift. Transient failures (the
 * connection was lost, the server is restarting) are retried with backoff; anything else not
 * listed is retried too (docs/monitoring.md, "Failures that stop retrying").
 */

/** Error names (`error.name`, Temporal's ApplicationFailure type) that stop retrying at once. */
export const NON_RETRYABLE_ERROR_TYPES = [
  'ConfigError',
  'NotReadyError',
  'SlotMissingError',
  'PublicationMissingError',
  'DecoderMissingError',
  'SegmentCorruptError',
  'SegmentFormatError',
  'PlanError',
  'TargetExistsError',
  'VerifyFailedError',
  'UnreplayableDdlError',
  'EncryptionKeyError',
  'DecodeError',
  'RenderError',
] as const;

export type NonRetryableErrorType = (typeof NON_RETRYABLE_ERROR_TYPES)[number];

/** Node socket errors that mean "the connection was lost or refused": try again later. */
const TRANSIENT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** SQLSTATEs that mean the same on the server's side: class 08 (connection), 57P01..57P03 (shutdown, restart). */
export function isTransientSqlstate(code: string): boolean {
  return /^08[0-9A-Z]{3}$/.test(code) || code === '57P01' || code === '57P02' || code === '57P03';
}

export type FailureClass = 'permanent' | 'transient' | 'other';

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  cause?: unknown;
  errors?: unknown;
  message?: unknown;
}

/**
 * `permanent` when the error (by name) is one a retry cannot fix, `transient` when it (or its
 * cause) is a lost or refused connection or a server shutting down/starting, else `other`
 * (retried with backoff, like a transient one).
 */
export function classifyFailure(error: unknown, depth = 0): FailureClass {
  if (error === null || typeof error !== 'object' || depth > 5) return 'other';
  const e = error as ErrorLike;
  if (typeof e.name === 'string' && (NON_RETRYABLE_ERROR_TYPES as readonly string[]).includes(e.name)) return 'permanent';
  if (typeof e.code === 'string' && (TRANSIENT_ERRNOS.has(e.code) || isTransientSqlstate(e.code))) return 'transient';
  // a Unix socket path without a server behind it: the server is down
  if (e.code === 'ENOENT' && (error as { syscall?: unknown }).syscall === 'connect') return 'transient';
  if (typeof e.message === 'string' && /^Connection terminated( unexpectedly)?$|^connect ECONNREFUSED /.test(e.message)) return 'transient';
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) if (classifyFailure(inner, depth + 1) === 'transient') return 'transient';
  }
  return e.cause !== undefined ? classifyFailure(e.cause, depth + 1) : 'other';
}
