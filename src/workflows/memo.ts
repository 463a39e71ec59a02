/**
 * The capture workflow's memo keys: what `describe()` returns about a run with no worker
 * answering a query, and what the Temporal UI shows. Plain names, no imports: the CLI's
 * `pgincr check` reads them without loading zod or the SDK (re-exported by ./boundary.ts).
 */

/** The durable LSN, upserted after every capture run. */
export const DURABLE_LSN_MEMO = 'pgincrDurableLsn';

/**
 * `paused` or `running`, upserted by pause and resume: a paused capture's execution is still
 * RUNNING. Absent: never paused (or a run of older code).
 */
export const CAPTURE_STATE_MEMO = 'pgincrCaptureState';
