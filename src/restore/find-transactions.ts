/**
 * `pgincr log` as an activity, for `findTransactionsWorkflow` (the transaction search started
 * from the Temporal UI with a JSON input): the same filter and the same streaming reader over the
 * chain's sealed and open segments (adapters/fs/segment-log-reader.ts), heartbeating how far it
 * has read: segments read of those in the window, the one being read, MiB of SQL read, matches
 * found and the last one's commit. The result holds what identifies each transaction (xid, commit time and LSNs, its
 * segment, counts per table and kind), never its statements: row values do not go into
 * Temporal's history (docs/design.md invariant 6); `pgincr log --show` prints them.
 */
import { chainDirFor, withTimerHeartbeat, type ActivityDeps } from '../activities/context';
import { logTransactions, lsnOption, type ScanProgress } from '../adapters/fs/segment-log-reader';
import { normalizeTime } from '../core/segment/commit-time';
import { parseKinds, parseWhere, tableName, type KindCounts, type LogFilter } from '../core/segment/txn-log';
import { ConfigError } from '../errors';
import type { FindTransactionsHeartbeat } from '../workflows/boundary';

export interface FindTransactionsInput {
  profile: string;
  from?: string | undefined;
  to?: string | undefined;
  fromLsn?: string | undefined;
  toLsn?: string | undefined;
  tables: string[];
  kinds: string[];
  where?: string | undefined;
  limit: number;
}

export interface FoundTransaction {
  xid: number;
  commitTime: string;
  commitLsn: string;
  endLsn: string;
  segment: string;
  /** Per table (as `pgincr log` shows it), per kind. */
  tables: Record<string, KindCounts>;
  matched: number;
}

export interface FindTransactionsResult {
  chain: string;
  transactions: FoundTransaction[];
  /** True when `limit` transactions were found (there may be more: narrow the window or raise it). */
  limitReached: boolean;
}

/** Segments hold the server's bytes (UTF8 in practice); the filter compares bytes (as the CLI does). */
const toBytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const fromBytes = (s: string) => (/[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s);

/** The filter of a workflow input; a bad field is a ConfigError naming it (non-retryable). */
export function findFilter(input: FindTransactionsInput): LogFilter {
  const field = <T>(name: string, parse: () => T): T => {
    try {
      return parse();
    } catch (err) {
      throw new ConfigError(`findTransactionsWorkflow input ${name}: ${(err as Error).message}`, { cause: err });
    }
  };
  const fromLsn = field('fromLsn', () => lsnOption('fromLsn', input.fromLsn));
  const toLsn = field('toLsn', () => lsnOption('toLsn', input.toLsn));
  const fromTime = input.from === undefined ? undefined : field('from', () => normalizeTime(input.from!));
  const toTime = input.to === undefined ? undefined : field('to', () => normalizeTime(input.to!));
  return {
    ...(fromLsn !== undefined ? { fromLsn } : {}),
    ...(toLsn !== undefined ? { toLsn } : {}),
    ...(fromTime ? { fromTime } : {}),
    ...(toTime ? { toTime } : {}),
    ...(input.tables.length ? { tables: new Set(input.tables.map((t) => field('tables', () => tableName(toBytes(t))))) } : {}),
    ...(input.kinds.length ? { kinds: field('kinds', () => parseKinds(input.kinds.join(','))) } : {}),
    ...(input.where !== undefined ? { where: field('where', () => parseWhere(toBytes(input.where!))) } : {}),
  };
}

export async function findTransactions(deps: ActivityDeps, input: FindTransactionsInput): Promise<FindTransactionsResult> {
  const chain = await chainDirFor(deps, input.profile);
  const filter = findFilter(input);
  const transactions: FoundTransaction[] = [];
  let last: FoundTransaction | undefined;
  const progress: ScanProgress = { segmentsTotal: 0, segmentsRead: 0, segment: null, bytesRead: 0 };
  // What the Temporal UI shows of a running search: how far it has read, and the last match.
  const details = (): FindTransactionsHeartbeat => ({
    step: 'search' as const,
    segmentsRead: progress.segmentsRead,
    segmentsTotal: progress.segmentsTotal,
    segment: progress.segment,
    sqlMiBRead: Math.round(progress.bytesRead / 104857.6) / 10,
    found: transactions.length,
    commitLsn: last?.commitLsn ?? null,
    commitTime: last?.commitTime ?? null,
  });
  await withTimerHeartbeat(
    details,
    async () => {
      for await (const t of logTransactions(chain, filter, input.limit, undefined, progress)) {
        const tables: Record<string, KindCounts> = {};
        for (const [name, k] of Object.entries(t.tables)) tables[fromBytes(name)] = k;
        last = { xid: t.xid, commitTime: t.commitTime, commitLsn: t.commitLsn, endLsn: t.endLsn, segment: t.segment, tables, matched: t.matched };
        transactions.push(last);
      }
    },
    1_000,
  );
  deps.logger.info({ chain, found: transactions.length }, 'transactions searched');
  return { chain, transactions, limitReached: transactions.length >= input.limit };
}
