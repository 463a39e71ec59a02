/**
 * Activities grouped by timeout/retry class: one proxyActivities call per class.
 * Non-retryable error names: the one list in src/core/error-types.ts (also behind src/errors.ts).
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { PgincrActivities } from '../activities/types';
import { NON_RETRYABLE_ERROR_TYPES } from '../core/error-types';

export const nonRetryableErrorTypes: string[] = [...NON_RETRYABLE_ERROR_TYPES];

/** Catalog reads, small DDL, checks: seconds. */
export const quick = proxyActivities<PgincrActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes },
});

/** pg_dump, base restore, segment apply: long, heartbeating, resumable. */
export const long = proxyActivities<PgincrActivities>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '2 minutes',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10, nonRetryableErrorTypes },
});

/**
 * The capture stream: runs for a bounded time, heartbeats from a timer (capture.heartbeatInterval,
 * default 5s), retried forever with backoff. The heartbeat timeout is how long a dead worker
 * holds up the capture before another worker's retry takes over.
 */
export const capture = proxyActivities<PgincrActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '20s',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '2 minutes', nonRetryableErrorTypes },
});
