/**
 * decoder_raw transactions → the statements pgincr writes, repairing or refusing each measured
 * fault of decoder_raw (none is passed through):
 * - its own `BEGIN;`/`COMMIT;` are dropped (segments carry pgincr's markers; `psql -1` works);
 *   a transaction with nothing to write (decoder_raw's empty `BEGIN; COMMIT;`) is dropped;
 * - every row change is re-rendered by `core/sql/render` from its parsed values, so:
 *   REPLICA IDENTITY FULL compares `IS NULL` for NULL (never `= null`), exactly one row is
 *   changed among identical duplicates (`ctid = (SELECT ctid … LIMIT 1)`), every type compares
 *   by its text form (json has no `=`); generated columns are never written; GENERATED ALWAYS
 *   identity columns get `OVERRIDING SYSTEM VALUE` (a changed one is refused);
 * - an unchanged TOAST value where a value is needed is refused by the parser;
 * - TRUNCATE, which decoder_raw does not emit, comes from `pgincr.raw_truncates` rows written by
 *   pgincr's statement-level AFTER TRUNCATE triggers, at their place in the transaction;
 * - the transaction's xid, first-write LSN and time come from its `pgincr.raw_transactions` row
 *   (written once per transaction by pgincr's statement-level triggers).
 * Literals are text output forms shaped by the walsender's settings: the capture pins them
 * (DateStyle ISO, TimeZone UTC, …) in the pg_recvlogical session, as the segment header does.
 */
import { parseLsn, type Lsn } from '../lsn';
import { isCaptureTable } from '../sql/capture-tables';
import { renderVerifiedCaptureChange, type VerifyingCaptureContext } from '../sql/capture-row-verify';
import { renderDelete, renderInsert, renderTruncate, renderUpdate, type RelationInfo } from '../sql/render';
import { qualifiedName } from '../sql/quote';
import { RenderError } from '../sql/render-error';
import { DecodeError } from './decode-error';
import type { ReplicaIdentity, Tuple, TupleValue } from './model';
import type { RawColumnValue, RawStatement, RawTransaction } from './decoder-raw';

/** The pgincr table holding one row per captured transaction (xid, first-write LSN, time). */
export const RAW_TRANSACTIONS_TABLE = 'raw_transactions';
/** The pgincr table holding one row per truncated table (written by the TRUNCATE triggers). */
export const RAW_TRUNCATES_TABLE = 'raw_truncates';

/** What the catalog says about a table (looked up by the capture; absent for a dropped table). */
export interface RawTableFacts {
  replicaIdentity: ReplicaIdentity;
  identityAlways: readonly string[];
  generated: readonly string[];
  /** A partitioned table (TRUNCATE without ONLY). */
  partitioned: boolean;
}

export type RawFactsLookup = (schema: string, table: string) => RawTableFacts | undefined;

/** A transaction ready for the segment writer. */
export interface RepairedTransaction {
  /** From the transaction's `pgincr.raw_transactions` row; null when it has none. */
  xid: number | null;
  /** WAL insert position at the transaction's first write (a lower bound of its commit LSN). */
  firstWriteLsn: Lsn | null;
  /** Time of its first write (ISO, UTC): decoder_raw gives no commit time. */
  time: string | null;
  statements: string[];
}

function rel(schema: string, table: string, names: string[], facts: RawTableFacts | undefined, keys: ReadonlySet<string>): RelationInfo {
  return {
    relationId: 0,
    schema,
    table,
    replicaIdentity: facts?.replicaIdentity === 'd' || facts?.replicaIdentity === 'i' ? facts.replicaIdentity : 'f',
    columns: names.map((name) => ({ name, typeOid: 0, typeMod: -1, isKey: keys.has(name) })),
    identityAlways: new Set(facts?.identityAlways ?? []),
    generated: new Set(facts?.generated ?? []),
    partitioned: facts?.partitioned ?? false,
  };
}

function tupleOf(names: readonly string[], values: readonly RawColumnValue[], missing: TupleValue): Tuple {
  const byName = new Map(values.map((v) => [v.column, v.value]));
  return names.map((n) => byName.get(n) ?? missing);
}

function textOf(values: readonly RawColumnValue[], column: string): string | null {
  const v = values.find((x) => x.column === column)?.value;
  return v?.kind === 'text' ? v.value : null;
}

/** A row change of a user table, rendered exactly (see the module comment). */
export function renderRawChange(s: RawStatement, lookup: RawFactsLookup): string {
  const facts = lookup(s.schema, s.table);
  if (s.kind === 'insert') {
    const names = s.values.map((v) => v.column);
    return renderInsert(rel(s.schema, s.table, names, facts, new Set()), tupleOf(names, s.values, { kind: 'null' }));
  }
  const where = s.where.map((v) => v.column);
  const keys = new Set(where);
  if (where.length === 0) {
    throw new RenderError(`decoder_raw ${s.kind} on ${qualifiedName(s.schema, s.table)} has no WHERE clause`);
  }
  const full = !facts || facts.replicaIdentity === 'f' || facts.replicaIdentity === 'n';
  if (s.kind === 'delete') {
    const r = rel(s.schema, s.table, where, facts, keys);
    return renderDelete(r, { kind: full ? 'old' : 'key', tuple: tupleOf(where, s.where, { kind: 'null' }) });
  }
  const names = [...s.set.map((v) => v.column), ...where.filter((n) => !s.set.some((v) => v.column === n))];
  const r = rel(s.schema, s.table, names, facts, keys);
  // Under FULL the old row holds every column; a column absent from WHERE is not compared.
  const old = tupleOf(names, s.where, { kind: 'unchanged' });
  return renderUpdate(r, tupleOf(names, s.set, { kind: 'unchanged' }), { kind: full ? 'old' : 'key', tuple: old });
}

function captureRow(s: RawStatement & { kind: 'insert' }, ctx: VerifyingCaptureContext): string {
  const names = s.values.map((v) => v.column);
  const r = rel(s.schema, s.table, names, undefined, new Set());
  return renderVerifiedCaptureChange({ kind: 'insert', rel: r, tuple: tupleOf(names, s.values, { kind: 'null' }) }, ctx);
}

function isoTime(text: string | null): string | null {
  if (text === null) return null;
  return text.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
}

/**
 * Repairs one decoder_raw transaction (see the module comment). `ctx.ordinals` must be reset by
 * the caller for each transaction, as for pgoutput.
 */
export function repairRawTransaction(txn: RawTransaction, lookup: RawFactsLookup, ctx: VerifyingCaptureContext): RepairedTransaction {
  const out: RepairedTransaction = { xid: null, firstWriteLsn: null, time: null, statements: [] };
  let truncates: RelationInfo[] = [];
  const flushTruncates = () => {
    if (truncates.length > 0) out.statements.push(renderTruncate(truncates, { cascade: false, restartIdentity: false }));
    truncates = [];
  };
  for (const s of txn.statements) {
    if (!isCaptureTable(s)) {
      flushTruncates();
      out.statements.push(renderRawChange(s, lookup));
      continue;
    }
    if (s.kind !== 'insert') continue; // pgincr's own bookkeeping (cleanup of old marker rows)
    if (s.table === RAW_TRANSACTIONS_TABLE) {
      if (out.xid !== null) continue;
      const xid = textOf(s.values, 'xid');
      const lsn = textOf(s.values, 'lsn');
      if (xid === null || lsn === null) throw new DecodeError(`decoder_raw: pgincr.${RAW_TRANSACTIONS_TABLE} row without xid or lsn`);
      out.xid = Number(BigInt(xid) % 4294967296n);
      out.firstWriteLsn = parseLsn(lsn);
      out.time = isoTime(textOf(s.values, 'at'));
    } else if (s.table === RAW_TRUNCATES_TABLE) {
      const schema = textOf(s.values, 'schema_name');
      const table = textOf(s.values, 'table_name');
      if (schema === null || table === null) throw new DecodeError(`decoder_raw: pgincr.${RAW_TRUNCATES_TABLE} row without a table`);
      if (!truncates.some((t) => t.schema === schema && t.table === table)) {
        truncates.push(rel(schema, table, [], lookup(schema, table), new Set()));
      }
    } else {
      flushTruncates();
      const sql = captureRow(s, ctx);
      if (sql) out.statements.push(sql);
    }
  }
  flushTruncates();
  return out;
}

/**
 * The positions written for a transaction in a segment: decoder_raw gives no LSNs, so the commit
 * LSN is the transaction's first-write LSN, raised to stay after the previous transaction's end
 * (and after the segment start), and the end LSN is one past it. Strictly increasing, at least
 * the true first write and at most… nothing: see docs/decoders.md for the granularity.
 */
export function rawPositions(prevEnd: Lsn, firstWriteLsn: Lsn | null): { commitLsn: Lsn; endLsn: Lsn } {
  const floor = prevEnd + 1n;
  const commitLsn = firstWriteLsn !== null && firstWriteLsn > floor ? firstWriteLsn : floor;
  return { commitLsn, endLsn: commitLsn + 1n };
}

/** A marker row as decoder_raw prints it (columns in table order; the xid and LSN are quoted text). */
const MARKER_ROW = /INSERT INTO pgincr\.raw_transactions \(xid, lsn, at\) VALUES \('\d+', '([0-9A-F]+\/[0-9A-F]+)'/g;

/**
 * The lowest first-write LSN among the marker rows in a raw text (null when none). Every
 * transaction in that text sits in the segments at or after its first-write LSN
 * (`rawPositions`), so segments ending before it hold none of them. A user value that happens
 * to contain a marker row only lowers the result (safe: more segments are looked at).
 */
export function lowestMarkerLsn(text: string): Lsn | null {
  let low: Lsn | null = null;
  for (const m of text.matchAll(MARKER_ROW)) {
    const lsn = parseLsn(m[1] as string);
    if (low === null || lsn < low) low = lsn;
  }
  return low;
}
