/**
 * Where a restore stops. Source transactions arrive in commit order, so the first one past
 * the target ends the apply; `decide` is evaluated on each in turn.
 *
 * - `latest`: everything in the planned segments.
 * - `lsn`: transactions whose commit LSN is `<= lsn` (inclusive) or `< lsn` (exclusive).
 * - `time`: transactions committed `<= time` (inclusive) or `< time` (exclusive), to the
 *   microsecond.
 * - `xid`: up to and including that transaction (inclusive) or up to just before it.
 */
import { parseLsn } from '../core/lsn';
import { timeToMicros } from '../core/segment/commit-time';
import type { RestoreTarget } from '../core/restore/plan';

/** The planner's target (`RestorePlan.stopAt`). */
export type StopTarget = RestoreTarget;

/** What to do with one transaction: apply it, stop before it, or apply it and then stop. */
export type StopDecision = 'apply' | 'stop-before' | 'apply-and-stop';

export interface TxnPosition {
  xid: number;
  commitLsn: bigint;
  commitTime: string;
}

/** Builds the per-transaction decision function once (targets parsed up front). */
export function stopDecider(target: StopTarget): (txn: TxnPosition) => StopDecision {
  switch (target.kind) {
    case 'latest':
      return () => 'apply';
    case 'lsn': {
      const lsn = parseLsn(target.lsn);
      return (t) => (t.commitLsn < lsn || (target.inclusive && t.commitLsn === lsn) ? 'apply' : 'stop-before');
    }
    case 'time': {
      const at = timeToMicros(target.time);
      return (t) => {
        const c = timeToMicros(t.commitTime);
        return c < at || (target.inclusive && c === at) ? 'apply' : 'stop-before';
      };
    }
    case 'xid':
      return (t) => (t.xid !== target.xid ? 'apply' : target.inclusive ? 'apply-and-stop' : 'stop-before');
  }
}
