import { long } from './activity-options';
import { findTransactionsInput, type FindTransactionsInput } from './inputs';
import { parseInput } from './validate';
import type { FindTransactionsResult } from '../activities/types';

/**
 * `pgincr log` from the Temporal UI: the transactions in a time or LSN window that touched
 * these tables (of these kinds, with this key value), read from the repository by one
 * heartbeating activity (segments read, the one being read, MiB read, the last match). Statements are not returned
 * (row values stay out of Temporal's history): `pgincr log --show --from-lsn <commitLsn>` prints them.
 */
export async function findTransactionsWorkflow(raw: FindTransactionsInput): Promise<FindTransactionsResult> {
  const input = parseInput(findTransactionsInput, raw, 'findTransactionsWorkflow');
  return long.findTransactions(input);
}
