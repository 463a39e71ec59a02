/**
 * Replication slot statistics for the health check: one function per statement.
 *
 * Byte counts come back from PostgreSQL as numeric text and are returned as JS numbers (exact
 * up to 8 PiB); LSNs stay text. Lags are measured against pg_current_wal_lsn() in the same
 * statement, so they are one consistent snapshot.
 */
import type { ClientBase } from 'pg';
import type { SlotObservation, WalStatus } from '../../core/monitor/health';

type Queryable = Pick<ClientBase, 'query'>;

interface SlotRow {
  slot_name: string;
  plugin: string | null;
  database: string | null;
  active: boolean;
  active_pid: number | null;
  wal_status: string | null;
  safe_wal_size: string | null;
  current_lsn: string;
  restart_lsn: string | null;
  confirmed_flush_lsn: string | null;
  restart_lag: string | null;
  confirmed_lag: string | null;
}

const num = (text: string | null): number | null => (text === null ? null : Number(text));

/** One slot's position, lag and WAL retention state; null when the slot does not exist. */
export async function querySlotStats(client: Queryable, slot: string): Promise<SlotObservation | null> {
  const { rows } = await client.query<SlotRow>(
    `SELECT s.slot_name, s.plugin, s.database, s.active, s.active_pid, s.wal_status,
            s.safe_wal_size::text AS safe_wal_size,
            c.lsn::text AS current_lsn, s.restart_lsn::text AS restart_lsn,
            s.confirmed_flush_lsn::text AS confirmed_flush_lsn,
            pg_catalog.pg_wal_lsn_diff(c.lsn, s.restart_lsn)::text AS restart_lag,
            pg_catalog.pg_wal_lsn_diff(c.lsn, s.confirmed_flush_lsn)::text AS confirmed_lag
       FROM pg_catalog.pg_replication_slots s
      CROSS JOIN (SELECT pg_catalog.pg_current_wal_lsn() AS lsn) c
      WHERE s.slot_name = $1`,
    [slot],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    name: r.slot_name,
    plugin: r.plugin,
    database: r.database,
    active: r.active,
    activePid: r.active_pid,
    walStatus: r.wal_status as WalStatus | null,
    safeWalSizeBytes: num(r.safe_wal_size),
    currentLsn: r.current_lsn,
    restartLsn: r.restart_lsn,
    confirmedFlushLsn: r.confirmed_flush_lsn,
    restartLagBytes: num(r.restart_lag),
    confirmedFlushLagBytes: num(r.confirmed_lag),
  };
}

/** max_slot_wal_keep_size in bytes; -1 means unlimited (the default). */
export async function queryMaxSlotWalKeepSize(client: Queryable): Promise<number> {
  const { rows } = await client.query<{ bytes: string }>(
    `SELECT pg_catalog.pg_size_bytes(pg_catalog.current_setting('max_slot_wal_keep_size'))::text AS bytes`,
  );
  return Number(rows[0]!.bytes);
}
