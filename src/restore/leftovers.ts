/**
 * What restores leave in a target cluster, found by the marks a restore makes and nothing else:
 * a database commented `pgincr restore <restoreId>` (create-target.ts; also the staging name
 * `pgincr_tmp_<restoreId>`), and a replication origin `pgincr_restore_<restoreId>` (origin.ts,
 * the restore's progress, dropped by finishRestore). Whether a mark is a leftover is decided by
 * the caller from the restore run it names (`<workflow id tail>_<first run id>`): only a run that
 * ended without completing leaves leftovers; a completed restore's database is the user's.
 */
import type { Profile } from '../config';
import { connectProfile } from '../adapters/pg/connect';
import { formatLsn } from '../core/lsn';
import { TargetExistsError } from '../errors';
import { originName, originProgress, restoreApplicationName } from './origin';
import { restoreMarker } from './create-target';

const MARKER = /^pgincr restore ([A-Za-z0-9_.-]{1,100})$/;
const ORIGIN = /^pgincr_restore_([A-Za-z0-9_.-]{1,100})$/;
/** A restore id as restoreWorkflow makes it: the workflow id's last 20 characters (sanitized), `_`, the run id's 32 hex digits. */
const RESTORE_ID = /^([A-Za-z0-9_]{1,20})_([0-9a-f]{32})$/;

export interface RestoreMarks {
  restoreId: string;
  /** The database carrying this restore's comment (its final name, or `pgincr_tmp_…`). */
  databases: string[];
  /** The replication origin's applied position, when the origin exists. */
  origin: { name: string; lsn: string } | null;
  /** Sessions of this restore still connected (application_name `pgincr restore <id>`). */
  sessions: number;
}

/** The Temporal run a restore id names, or null when it is not of restoreWorkflow's form. */
export function restoreRunOf(restoreId: string): { workflowIdTail: string; runId: string } | null {
  const m = RESTORE_ID.exec(restoreId);
  if (!m) return null;
  const hex = m[2] as string;
  return { workflowIdTail: m[1] as string, runId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` };
}

/** The tail of a workflow id as restoreWorkflow folds it into the restore id. */
export function workflowIdTail(workflowId: string): string {
  return workflowId.replace(/[^A-Za-z0-9_]/g, '_').slice(-20);
}

function maintenance(profile: Profile): Profile {
  return { ...profile, dbname: profile.dbname ?? 'postgres' };
}

/** Every restore mark in the cluster of `profile`, grouped by restore id. */
export async function findRestoreMarks(profile: Profile): Promise<RestoreMarks[]> {
  const client = await connectProfile(maintenance(profile));
  try {
    const byId = new Map<string, RestoreMarks>();
    const entry = (id: string) => {
      let m = byId.get(id);
      if (!m) byId.set(id, (m = { restoreId: id, databases: [], origin: null, sessions: 0 }));
      return m;
    };
    const dbs = await client.query<{ datname: string; comment: string }>(
      `SELECT datname, pg_catalog.shobj_description(oid, 'pg_database') AS comment FROM pg_catalog.pg_database
        WHERE pg_catalog.shobj_description(oid, 'pg_database') LIKE 'pgincr restore %' ORDER BY datname`,
    );
    for (const row of dbs.rows) {
      const m = MARKER.exec(row.comment);
      if (m) entry(m[1] as string).databases.push(row.datname);
    }
    const origins = await client.query<{ roname: string }>(
      `SELECT roname FROM pg_catalog.pg_replication_origin WHERE roname LIKE 'pgincr\\_restore\\_%' ORDER BY roname`,
    );
    for (const row of origins.rows) {
      const m = ORIGIN.exec(row.roname);
      if (!m) continue;
      const lsn = await originProgress(client, row.roname);
      entry(m[1] as string).origin = { name: row.roname, lsn: formatLsn(lsn ?? 0n) };
    }
    for (const marks of byId.values()) {
      const r = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity WHERE application_name = $1', [
        restoreApplicationName(marks.restoreId),
      ]);
      marks.sessions = r.rows[0]?.n ?? 0;
    }
    return [...byId.values()];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Removes one ended restore's marks: its databases (each checked again for this restore's
 * comment right before `DROP DATABASE … WITH (FORCE)`), then its origin (after ending its
 * sessions). Returns what was removed.
 */
export async function cleanRestoreMarks(profile: Profile, marks: RestoreMarks): Promise<{ databases: string[]; origin: string | null }> {
  const client = await connectProfile(maintenance(profile));
  const removed: { databases: string[]; origin: string | null } = { databases: [], origin: null };
  try {
    const marker = restoreMarker(marks.restoreId);
    for (const name of marks.databases) {
      const r = await client.query<{ comment: string | null }>(
        "SELECT pg_catalog.shobj_description(oid, 'pg_database') AS comment FROM pg_catalog.pg_database WHERE datname = $1",
        [name],
      );
      if (r.rows.length === 0) continue;
      if (r.rows[0]?.comment !== marker) {
        throw new TargetExistsError(`database ${JSON.stringify(name)} no longer carries the comment of restore ${marks.restoreId}; not dropping it`);
      }
      await client.query(`DROP DATABASE ${client.escapeIdentifier(name)} WITH (FORCE)`);
      removed.databases.push(name);
    }
    const origin = originName(marks.restoreId);
    await client.query(
      'SELECT pg_catalog.pg_terminate_backend(pid, 10000) FROM pg_catalog.pg_stat_activity WHERE application_name = $1 AND pid <> pg_catalog.pg_backend_pid()',
      [restoreApplicationName(marks.restoreId)],
    );
    const exists = await client.query<{ oid: number | null }>('SELECT pg_catalog.pg_replication_origin_oid($1) AS oid', [origin]);
    if (exists.rows[0]?.oid !== null && exists.rows[0]?.oid !== undefined) {
      await client.query('SELECT pg_catalog.pg_replication_origin_drop($1)', [origin]);
      removed.origin = origin;
    }
    return removed;
  } finally {
    await client.end().catch(() => undefined);
  }
}
