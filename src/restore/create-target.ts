/**
 * Creating the restore's target database. An existing database is never touched, except one
 * this very restore created on an earlier attempt: that one carries the comment
 * `pgincr restore <restoreId>` and is accepted as it is (the later steps are idempotent).
 *
 * CREATE DATABASE cannot run in a transaction with its COMMENT, so the database is created
 * under a temporary name that only this restore uses (`pgincr_tmp_<restoreId>`), commented,
 * then renamed: a crash at any point leaves something a retry recognises as its own.
 */
import type { Client } from 'pg';
import type { Profile } from '../config';
import { connectProfile } from '../adapters/pg/connect';
import { TargetExistsError } from '../errors';
import { checkRestoreId } from './origin';

export interface TargetDatabaseOptions {
  /** Ties the database to this restore (comment `pgincr restore <restoreId>`). */
  restoreId: string;
  encoding?: string;
  lcCollate?: string;
  lcCtype?: string;
  /** Copy template0 (required when encoding or locale differ from template1's). Default true. */
  template0?: boolean;
  owner?: string;
  /** Privileges on the database to grant once it is created (the source database's, base metadata). */
  grants?: ReadonlyArray<{ grantee: string; privilege: string; grantable: boolean }>;
}

export interface CreateTargetResult {
  database: string;
  /** False when an earlier attempt of this restore had already created it. */
  created: boolean;
}

/** The comment that marks a database as created by this restore. */
export function restoreMarker(restoreId: string): string {
  return `pgincr restore ${checkRestoreId(restoreId)}`;
}

/**
 * The comment of a completed restore's database: no longer this restore's working mark, so
 * `pgincr leftovers` never lists it, even once Temporal has forgotten the run.
 */
function completedMarker(restoreId: string): string {
  return `${restoreMarker(restoreId)} completed`;
}

/**
 * Marks the database of a restore that completed (its last step; idempotent): only while it
 * still carries this restore's working mark, so no other database's comment is ever changed.
 */
export async function markRestoreCompleted(profile: Profile, name: string, restoreId: string): Promise<boolean> {
  const client = await connectProfile(maintenance(profile, name));
  try {
    const existing = await databaseComment(client, name);
    if (!existing.exists || existing.comment !== restoreMarker(restoreId)) return false;
    await client.query(`COMMENT ON DATABASE ${client.escapeIdentifier(name)} IS ${client.escapeLiteral(completedMarker(restoreId))}`);
    return true;
  } finally {
    await client.end();
  }
}

/** The maintenance database to connect through (never the one being created). */
function maintenance(profile: Profile, name: string): Profile {
  return { ...profile, dbname: profile.dbname && profile.dbname !== name ? profile.dbname : 'postgres' };
}

function temporaryName(restoreId: string): string {
  return `pgincr_tmp_${restoreId}`.slice(0, 63);
}

async function databaseComment(client: Client, name: string): Promise<{ exists: boolean; comment: string | null }> {
  const r = await client.query<{ comment: string | null }>(
    "SELECT pg_catalog.shobj_description(oid, 'pg_database') AS comment FROM pg_catalog.pg_database WHERE datname = $1",
    [name],
  );
  const row = r.rows[0];
  return row ? { exists: true, comment: row.comment } : { exists: false, comment: null };
}

function createStatement(client: Client, name: string, o: TargetDatabaseOptions): string {
  const parts = [`CREATE DATABASE ${client.escapeIdentifier(name)}`];
  if (o.template0 !== false) parts.push('TEMPLATE template0');
  if (o.owner) parts.push(`OWNER ${client.escapeIdentifier(o.owner)}`);
  if (o.encoding) parts.push(`ENCODING ${client.escapeLiteral(o.encoding)}`);
  if (o.lcCollate) parts.push(`LC_COLLATE ${client.escapeLiteral(o.lcCollate)}`);
  if (o.lcCtype) parts.push(`LC_CTYPE ${client.escapeLiteral(o.lcCtype)}`);
  return parts.join(' ');
}

/**
 * Creates `name` on the server of `profile` (connected through its maintenance database,
 * profile.dbname or `postgres`). Throws {@link TargetExistsError} when `name` exists and is
 * not this restore's own.
 */
export async function createTargetDatabase(profile: Profile, name: string, options: TargetDatabaseOptions): Promise<CreateTargetResult> {
  const marker = restoreMarker(options.restoreId);
  const client = await connectProfile(maintenance(profile, name));
  try {
    const existing = await databaseComment(client, name);
    if (existing.exists) {
      if (existing.comment === marker) return { database: name, created: false };
      throw new TargetExistsError(`database ${JSON.stringify(name)} already exists`, {
        hint: 'choose another --target-db, or drop that database yourself if it is safe to replace',
      });
    }
    const tmp = temporaryName(options.restoreId);
    const staged = await databaseComment(client, tmp);
    if (staged.exists && staged.comment !== null && staged.comment !== marker) {
      throw new TargetExistsError(`database ${JSON.stringify(tmp)} exists and is not this restore's`, {
        hint: 'drop or rename it, then retry',
      });
    }
    if (!staged.exists) await client.query(createStatement(client, tmp, options));
    for (const g of options.grants ?? []) {
      if (!/^(CREATE|CONNECT|TEMPORARY)$/.test(g.privilege)) continue;
      await client.query(
        `GRANT ${g.privilege} ON DATABASE ${client.escapeIdentifier(tmp)} TO ${client.escapeIdentifier(g.grantee)}${g.grantable ? ' WITH GRANT OPTION' : ''}`,
      );
    }
    await client.query(`COMMENT ON DATABASE ${client.escapeIdentifier(tmp)} IS ${client.escapeLiteral(marker)}`);
    await client.query(`ALTER DATABASE ${client.escapeIdentifier(tmp)} RENAME TO ${client.escapeIdentifier(name)}`);
    return { database: name, created: true };
  } finally {
    await client.end();
  }
}

/**
 * Drops a database this restore created (used to start a failed parallel base load over).
 * Refuses any other database.
 */
export async function dropOwnTargetDatabase(profile: Profile, name: string, restoreId: string): Promise<boolean> {
  const client = await connectProfile(maintenance(profile, name));
  try {
    const existing = await databaseComment(client, name);
    if (!existing.exists) return false;
    if (existing.comment !== restoreMarker(restoreId)) {
      throw new TargetExistsError(`database ${JSON.stringify(name)} was not created by restore ${restoreId}; not dropping it`);
    }
    await client.query(`DROP DATABASE ${client.escapeIdentifier(name)} WITH (FORCE)`);
    return true;
  } finally {
    await client.end();
  }
}
