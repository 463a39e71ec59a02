/**
 * Before a restore touches anything: the roles that replayed DDL switches to (`SET ROLE` lines,
 * src/core/sql/role-switch.ts, collected by the plan's verification scan of the segments) must
 * exist in the target cluster, or be created by the restore's globals step. Otherwise the
 * restore is refused naming them, before the target database is created: a DDL statement
 * replayed as a missing role would fail mid-restore, and replaying it as the restoring
 * superuser instead would give the restored objects other owners and privileges than the
 * source's (`--no-owner` asks for exactly that, explicitly).
 */
import { readFile } from 'node:fs/promises';
import type { Profile } from '../config';
import { connectProfile } from '../adapters/pg/connect';
import { parseSetRoleLine } from '../core/sql/role-switch';
import { PlanError } from '../errors';
import { decoderFor } from './text-decoding';

/** The roles of `SET ROLE` lines (byte strings as scanned) as text, decoded from the segments' encoding. */
export function rolesOfLines(lines: Iterable<string>, encoding: string, file: string): string[] {
  const decode = decoderFor(encoding, file);
  const roles = new Set<string>();
  for (const line of lines) {
    const role = parseSetRoleLine(line);
    if (role !== null) roles.add(decode(Buffer.from(role, 'latin1'), 'a SET ROLE line'));
  }
  return [...roles].sort();
}

const CREATE_ROLE = /^CREATE ROLE ("(?:[^"]|"")+"|[^\s;"]+);$/;

/** The roles a `pg_dumpall --globals-only` script creates (`CREATE ROLE <name>;` lines). */
export function rolesCreatedBy(globalsSql: string): string[] {
  const out: string[] = [];
  for (const line of globalsSql.split('\n')) {
    const m = CREATE_ROLE.exec(line);
    if (!m) continue;
    const name = m[1] as string;
    out.push(name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name);
  }
  return out;
}

/** Of `roles`, those that do not exist in the cluster of `profile`. */
export async function rolesMissingIn(profile: Profile, roles: readonly string[]): Promise<string[]> {
  if (roles.length === 0) return [];
  // Roles are the cluster's: any database will do (the profile's may be the one to be restored).
  const client = await connectProfile(profile).catch((error: { code?: string }) => {
    if (error.code !== '3D000' || profile.dbname === 'postgres') throw error;
    return connectProfile({ ...profile, dbname: 'postgres' });
  });
  try {
    const r = await client.query<{ role: string }>(
      'SELECT r AS role FROM unnest($1::text[]) AS r WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) ORDER BY 1',
      [roles],
    );
    return r.rows.map((row) => row.role);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface DdlRolesCheck {
  /** The target cluster (any database of it). */
  profile: Profile;
  /** Its profile name, for the message. */
  profileName: string;
  /** The roles the planned segments' DDL runs as, and the source database's owner and grantees. */
  roles: readonly string[];
  /** The base's globals.sql when the restore's globals step will apply it. */
  globalsFile?: string;
}

/** Throws a PlanError naming every role of `roles` that neither exists in the target nor is created by the globals step. */
export async function checkDdlRoles(c: DdlRolesCheck): Promise<void> {
  const created = new Set(c.globalsFile ? rolesCreatedBy(await readFile(c.globalsFile, 'utf8')) : []);
  const missing = (await rolesMissingIn(c.profile, c.roles)).filter((r) => !created.has(r));
  if (missing.length === 0) return;
  const names = missing.map((r) => JSON.stringify(r)).join(', ');
  const create = c.globalsFile
    ? `${missing.length === 1 ? 'it is' : 'they are'} not in the base's globals.sql either (created after the base?): create ${missing.length === 1 ? 'it' : 'them'} in the target cluster (CREATE ROLE …, or psql -f a newer globals backup)`
    : "restore the roles first: pgincr restore --globals (restoreGlobals: true) applies the base's globals.sql, or create them yourself (CREATE ROLE …)";
  throw new PlanError(
    `the restore needs ${missing.length === 1 ? 'a role' : 'roles'} that the target cluster (profile ${c.profileName}) does not have: ${names} (the segments replay DDL as the role that ran it, and the new database gets the source database's owner and grants); nothing was restored`,
    {
      hint: `${create}; or restore with --no-owner (noOwner: true) to replay every DDL statement as the restoring role and load the base without its ownership changes, as pg_restore --no-owner does`,
    },
  );
}
