/**
 * One target transaction of the applier: several source transactions' statements, then the
 * origin's progress set to the last one's end LSN, committed together. If the batch fails it
 * is rolled back and re-run one source transaction at a time; a source transaction that fails
 * on its own is the error, named by file, xid, LSNs and offset.
 *
 * A batch may come with a merged form of its statements (core/restore/merge-changes.ts). If that
 * fails, nothing of it stays (rolled back) and the batch runs as written: a merged batch commits
 * the same state as the statements as written, or is not used.
 */
import type { Client } from 'pg';
import { formatLsn } from '../core/lsn';
import type { ScannedTransaction } from '../core/segment/format';
import { PgincrError } from '../errors';

export interface BatchItem {
  txn: ScannedTransaction;
  /** The transaction's statements (without its BEGIN/COMMIT marker lines), decoded. */
  sql: string;
  /** It holds DDL: never rewritten, and the target's catalog changes after it. */
  ddl?: boolean;
}

/** How a batch was committed: its merged form, as written, or one source transaction at a time. */
export type BatchOutcome = 'merged' | 'as-written' | 'one-by-one';

/** A source transaction the target refused. Retryable: the cause may be transient. */
export class ApplyFailedError extends PgincrError {
  readonly sqlState: string | undefined;
  constructor(message: string, options: { hint?: string; cause?: unknown; sqlState?: string } = {}) {
    super('apply_failed', message, options);
    this.name = 'ApplyFailedError';
    this.sqlState = options.sqlState;
  }
}

async function commitItems(client: Client, items: readonly BatchItem[], sql?: string): Promise<void> {
  const last = items[items.length - 1] as BatchItem;
  await client.query('BEGIN');
  try {
    // An xid for sure: a commit without one writes no commit record and would not move the origin.
    await client.query('SELECT pg_catalog.pg_current_xact_id()');
    await client.query(sql ?? (items.length === 1 ? last.sql : items.map((i) => i.sql).join('')));
    await client.query('SELECT pg_catalog.pg_replication_origin_xact_setup($1::pg_lsn, $2::timestamptz)', [
      formatLsn(last.txn.endLsn),
      last.txn.commitTime,
    ]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

function describe(file: string, txn: ScannedTransaction): string {
  return `${file}: xid ${txn.xid} commit_lsn ${formatLsn(txn.commitLsn)} end_lsn ${formatLsn(txn.endLsn)} (offset ${txn.byteStart})`;
}

/**
 * Applies a batch atomically (its `merged` SQL when given, else as written); on failure, as
 * written, then its transactions one by one.
 */
export async function applyBatch(client: Client, file: string, items: readonly BatchItem[], merged?: string): Promise<BatchOutcome> {
  if (merged !== undefined) {
    try {
      await commitItems(client, items, merged);
      return 'merged';
    } catch (error) {
      if (isConnectionError(error)) throw wrap(file, items[0] as BatchItem, error);
    }
  }
  try {
    await commitItems(client, items);
    return 'as-written';
  } catch (error) {
    if (items.length === 1 || isConnectionError(error)) throw wrap(file, items[0] as BatchItem, error);
  }
  for (const item of items) {
    try {
      await commitItems(client, [item]);
    } catch (error) {
      throw wrap(file, item, error);
    }
  }
  return 'one-by-one';
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === undefined || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
}

function wrap(file: string, item: BatchItem, error: unknown): Error {
  const e = error as { message?: string; code?: string; position?: string };
  const where = e.position ? ` near ${JSON.stringify(excerpt(item.sql, Number(e.position)))}` : '';
  return new ApplyFailedError(`${describe(file, item.txn)}: ${e.code ? `${e.code} ` : ''}${e.message ?? String(error)}${where}`, {
    cause: error,
    sqlState: e.code,
    hint: 'nothing of this transaction was applied; fix the cause in the target (e.g. a missing role or extension) and retry: the restore resumes here',
  });
}

/** A short piece of the statement text around a 1-based character position. */
function excerpt(sql: string, position: number): string {
  const chars = Array.from(sql);
  return chars.slice(Math.max(0, position - 40), position + 40).join('');
}
