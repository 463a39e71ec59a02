/**
 * The restore's replication origin: the target database's own record of how far the restore
 * got. Its progress is the end LSN of the last source transaction applied, and it commits
 * atomically with the data (`pg_replication_origin_xact_setup` inside each applied
 * transaction), so a retry resumes exactly where the last commit left off. It lives in
 * `pg_replication_origin` (a shared catalog), so it leaves no table in the restored database;
 * `finishRestore` drops it.
 */
import type { Client } from 'pg';
import { ConfigError } from '../errors';

const RESTORE_ID = /^[A-Za-z0-9_.-]{1,100}$/;

/** Checks a restore id (it becomes part of an origin name and a database comment). */
export function checkRestoreId(restoreId: string): string {
  if (!RESTORE_ID.test(restoreId)) {
    throw new ConfigError(`invalid restore id ${JSON.stringify(restoreId)}`, {
      hint: 'use 1 to 100 characters from A-Z a-z 0-9 _ . -',
    });
  }
  return restoreId;
}

/** `pgincr_restore_<id>`: the replication origin of one restore. */
export function originName(restoreId: string): string {
  return `pgincr_restore_${checkRestoreId(restoreId)}`;
}

/** The application_name of the restore's connections (found again to end stale ones). */
export function restoreApplicationName(restoreId: string): string {
  return `pgincr restore ${checkRestoreId(restoreId)}`.slice(0, 63);
}

/** True when the origin exists in this cluster. */
export async function originExists(client: Client, name: string): Promise<boolean> {
  const r = await client.query<{ oid: number | null }>('SELECT pg_catalog.pg_replication_origin_oid($1) AS oid', [name]);
  return r.rows[0]?.oid !== null && r.rows[0]?.oid !== undefined;
}

/** The origin's committed progress (`0/0` when none), or null when the origin does not exist. */
export async function originProgress(client: Client, name: string): Promise<bigint | null> {
  if (!(await originExists(client, name))) return null;
  const r = await client.query<{ lsn: string | null }>('SELECT pg_catalog.pg_replication_origin_progress($1, true)::text AS lsn', [name]);
  const text = r.rows[0]?.lsn;
  if (!text) return 0n;
  const [hi, lo] = text.split('/') as [string, string];
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/** Creates the origin when missing; returns true when it was created now. */
export async function ensureOrigin(client: Client, name: string): Promise<boolean> {
  if (await originExists(client, name)) return false;
  await client.query('SELECT pg_catalog.pg_replication_origin_create($1)', [name]);
  return true;
}

/** Moves the origin's progress (non-transactional; used only where no data goes with it). */
export async function advanceOrigin(client: Client, name: string, lsn: string): Promise<void> {
  await client.query('SELECT pg_catalog.pg_replication_origin_advance($1, $2::pg_lsn)', [name, lsn]);
}

/**
 * Ends other backends of the same restore (an earlier attempt whose worker died while its
 * connection lived on): only one session at a time may use an origin.
 */
export async function endStaleSessions(client: Client, applicationName: string, timeoutMs = 30_000): Promise<number> {
  const r = await client.query<{ pid: number }>(
    `SELECT pid FROM pg_catalog.pg_stat_activity
      WHERE application_name = $1 AND pid <> pg_catalog.pg_backend_pid() AND datname = current_database()`,
    [applicationName],
  );
  if (r.rows.length === 0) return 0;
  const pids = r.rows.map((row) => row.pid);
  await client.query('SELECT pg_catalog.pg_terminate_backend(pid, $2) FROM unnest($1::int[]) AS pid', [pids, timeoutMs]);
  return pids.length;
}

/**
 * Binds this connection to the origin. When an earlier attempt's backend still holds it
 * (SQLSTATE 55006), ends that backend and tries again until `timeoutMs`.
 */
export async function setupOriginSession(client: Client, name: string, applicationName: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.query('SELECT pg_catalog.pg_replication_origin_session_setup($1)', [name]);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '55006' || Date.now() > deadline) throw error;
      await endStaleSessions(client, applicationName, Math.max(1000, deadline - Date.now()));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Drops the origin if it exists (the last step of a restore). */
export async function dropOrigin(client: Client, name: string): Promise<boolean> {
  if (!(await originExists(client, name))) return false;
  await client.query('SELECT pg_catalog.pg_replication_origin_drop($1)', [name]);
  return true;
}
