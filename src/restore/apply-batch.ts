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
import type { MergedBatch } from '../core/restore/merge-sql';
import { queryWithCopies } from './apply-copy';

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

async function commitItems(client: Client, items: readonly BatchItem[], merged?: MergedBatch): Promise<void> {
  const last = items[items.length - 1] as BatchItem;
  await client.query('BEGIN');
  try {
    // An xid for sure: a commit without one writes no commit record and would not move the origin.
    await client.query('SELECT pg_catalog.pg_current_xact_id()');
    if (merged === undefined) await client.query(items.length === 1 ? last.sql : items.map((i) => i.sql).join(''));
    else if (merged.copies.length === 0) await client.query(merged.sql);
    else await queryWithCopies(client, merged.sql, merged.copies);
    await client.query('SELECT pg_catalog.pg_replication_origin_xact_setup($1::pg_lsn, $2::timestamptz)', [formatLsn(last.txn.endLsn), last.txn.commitTime]);
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
export async function applyBatch(client: Client, file: string, items: readonly BatchItem[], merged?: MergedBatch): Promise<BatchOutcome> {
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

/** The connection failed (or a client-side error): nothing the statement did can be judged from it. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === undefined || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
}

/** The fields of node-postgres's DatabaseError this module reads (never `detail`, `where` or the query). */
interface ServerError {
  message?: string;
  code?: string;
  position?: string;
  schema?: string;
  table?: string;
  constraint?: string;
  /** Set on errors the server sent (node-postgres DatabaseError). */
  severity?: string;
}

/**
 * SQLSTATE classes whose primary message names objects (relations, constraints, columns,
 * roles, types) and never row values: PostgreSQL puts those in `detail` ("Key (id)=(…)",
 * "Failing row contains (…)"), which is never carried. Messages of other classes may quote a
 * value (22P02 `invalid input syntax for type integer: "…"`, a trigger's RAISE text).
 */
const MESSAGE_NAMES_OBJECTS_ONLY = new Set(['08', '0A', '23', '25', '28', '2B', '3D', '3F', '40', '42', '53', '54', '55', '57', '58']);

const CONDITION_NAMES: Record<string, string> = {
  '23502': 'not_null_violation',
  '23503': 'foreign_key_violation',
  '23505': 'unique_violation',
  '23514': 'check_violation',
  '23P01': 'exclusion_violation',
  '22001': 'string_data_right_truncation',
  '22003': 'numeric_value_out_of_range',
  '22P02': 'invalid_text_representation',
  '22007': 'invalid_datetime_format',
  '22008': 'datetime_field_overflow',
  '42601': 'syntax_error',
  '42P01': 'undefined_table',
  '42703': 'undefined_column',
  '42704': 'undefined_object',
  '42501': 'insufficient_privilege',
  P0001: 'raise_exception',
};

/** The server's message as far as it cannot hold row values. */
function messageWithoutValues(e: ServerError, error: unknown): string {
  // Not the server's (a client-side or network error, e.g. ECONNRESET): no row in it.
  if (!e.code || e.severity === undefined) return `${e.code ? `${e.code} ` : ''}${e.message ?? String(error)}`;
  const kind = CONDITION_NAMES[e.code] ? ` (${CONDITION_NAMES[e.code]})` : '';
  const quotedOut = (m: string) => m.replace(/"[\s\S]*"/, '"…"');
  if (e.code === '42601' || e.code.startsWith('22')) return `${e.code}${kind} ${quotedOut(e.message ?? '')}`;
  if (MESSAGE_NAMES_OBJECTS_ONLY.has(e.code.slice(0, 2))) return `${e.code}${kind} ${e.message ?? ''}`;
  return `${e.code}${kind} (the server's message is left out: it may quote row values)`;
}

/** Qualified names as the renderer writes them (`public.t`, `"Odd"."T"`, `U&"…"`). */
const NAME = String.raw`(?:(?:U&)?"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)`;
const DML = new RegExp(String.raw`^(INSERT INTO|UPDATE|DELETE FROM) (${NAME}\.${NAME}|${NAME})[ (]`);

/** The tables the transaction's row statements write (in order, once each). */
function dmlTables(sql: string): string[] {
  const tables = new Set<string>();
  for (const line of sql.split('\n')) {
    const m = DML.exec(line);
    if (m) tables.add(m[2]!);
  }
  return [...tables];
}

/** What failed, named without row values: the table(s), and where in the statement. */
function failedObject(sql: string, e: ServerError): string {
  let table: string | undefined = e.table ? (e.schema ? `${e.schema}.${e.table}` : e.table) : undefined;
  let near = '';
  if (e.position) {
    const chars = Array.from(sql);
    const at = Math.min(chars.length, Math.max(0, Number(e.position) - 1));
    let start = at;
    while (start > 0 && chars[start - 1] !== '\n') start--;
    let end = at;
    while (end < chars.length && chars[end] !== '\n') end++;
    const m = DML.exec(chars.slice(start, end).join('') + ' ');
    if (m) table ??= m[2]!;
    // A row statement's text is row values; other statements (DDL) are shown around the error.
    else near = ` near ${JSON.stringify(excerpt(sql, Number(e.position)))}`;
  }
  if (table) return ` on table ${table}${near}`;
  const tables = dmlTables(sql);
  if (tables.length === 0) return near;
  const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? `, … (${tables.length} tables)` : '');
  return ` in a transaction writing ${tables.length === 1 ? 'table' : 'tables'} ${shown}${near}`;
}

/**
 * The error for a source transaction the target refused. It goes into the workflow's history
 * and the logs, so it names the file, xid, LSNs, table, constraint and SQLSTATE but carries no
 * row values: not the server's `detail` (key and row values), not the statement text of a row
 * change, not the server's message where it may quote a value, and not the pg error as `cause`.
 */
function wrap(file: string, item: BatchItem, error: unknown): Error {
  return applyError(describe(file, item.txn), item.sql, error);
}

/** {@link wrap} for a source transaction named by `where`, whose statements sent were `sql` (a large transaction's piece: apply-large.ts). */
export function applyError(where: string, sql: string, error: unknown): Error {
  const e = error as ServerError;
  const message = messageWithoutValues(e, error);
  const constraint = e.constraint && !message.includes(`"${e.constraint}"`) ? ` (constraint ${e.constraint})` : '';
  return new ApplyFailedError(`${where}${failedObject(sql, e)}: ${message}${constraint}`, {
    sqlState: e.code,
    hint:
      'nothing of this transaction was applied; fix the cause in the target (e.g. a missing role or extension) and retry: the restore resumes here. ' +
      "The rows involved are not shown here; the target server's log has the failing statement",
  });
}

/** A short piece of the statement text around a 1-based character position. */
function excerpt(sql: string, position: number): string {
  const chars = Array.from(sql);
  return chars.slice(Math.max(0, position - 40), position + 40).join('');
}
