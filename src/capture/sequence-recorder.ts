/**
 * Statements the capture runs on its normal (non-replication) connection to the source:
 * recording sequence positions into the stream, and an idle message so the slot of a quiet
 * database keeps moving. Each returns the WAL insert position after its commit, so the caller
 * can wait until the stream has carried it.
 */
import type { Client } from 'pg';
import { parseLsn, type Lsn } from '../core/lsn';

/**
 * Calls `pgincr.record_sequence_positions()`: its row (in `pgincr.sequence_positions`) arrives
 * in the stream in commit order and is rendered as `setval` lines at that place.
 */
export async function recordSequencePositions(client: Client): Promise<Lsn> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pgincr.record_sequence_positions()');
    // The commit record comes after this position: once the stream carried a commit at or
    // past it, the positions are in the files.
    const lsn = await currentInsertLsn(client);
    await client.query('COMMIT');
    return lsn;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Records the sequence positions as {@link recordSequencePositions} does and returns the
 * recording transaction's xid (32 bits, as pgoutput's BEGIN carries it): the positions are in
 * the files once a commit of that xid has been written. A WAL position is not enough to wait
 * on: a keepalive's walEnd can pass the recorded row while its commit record is not yet
 * flushed, so not yet decoded.
 */
export async function recordSequencePositionsXid(client: Client): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pgincr.record_sequence_positions()');
    const { rows } = await client.query<{ xid: string }>('SELECT (pg_catalog.pg_current_xact_id()::text::numeric % 4294967296)::text AS xid');
    await client.query('COMMIT');
    return Number(rows[0]!.xid);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A non-transactional logical message: WAL the walsender must decode, nothing to replay. */
export async function emitIdleMessage(client: Client): Promise<Lsn> {
  const { rows } = await client.query<{ lsn: string }>(`SELECT pg_catalog.pg_logical_emit_message(false, 'pgincr', 'keepalive')::text AS lsn`);
  return parseLsn(rows[0]!.lsn);
}

export async function currentInsertLsn(client: Client): Promise<Lsn> {
  const { rows } = await client.query<{ lsn: string }>('SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS lsn');
  return parseLsn(rows[0]!.lsn);
}
