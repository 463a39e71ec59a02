/**
 * Argument vectors for PostgreSQL's client programs. Connection settings and credentials never
 * appear here: they travel as PG* environment variables (`adapters/pg/connect.ts` childEnv).
 *
 * A database name is data, never syntax: libpq reads a `-d`/`--dbname`/`--database` value that
 * contains `=` or starts with `postgresql://` as a whole connection string (host, port, …), so
 * a name is only ever passed as the one-keyword connection string {@link dbnameConninfo}, always
 * attached to its option (`--dbname=…`), so a leading `-` is never read as an option either.
 * (PGDATABASE, which the programs read otherwise, is never expanded by libpq.)
 */

import { ConfigError } from '../../errors';

/**
 * `dbname='…'`: a libpq connection string that sets only the database name, quoted so that any
 * name (spaces, `=`, quotes, backslashes, `postgresql://…`, a leading `-`) names that database
 * and nothing else; host, port and user still come from the PG* environment.
 */
export function dbnameConninfo(dbname: string): string {
  if (dbname.includes('\0')) {
    throw new ConfigError(`database name ${JSON.stringify(dbname)} contains a NUL byte`, { hint: 'PostgreSQL names cannot hold one; choose another name' });
  }
  return `dbname='${dbname.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export interface PgDumpOptions {
  /** The exported snapshot to dump in (`pg_dump --snapshot`). */
  snapshot?: string;
  format: 'plain' | 'directory' | 'custom';
  /** Parallel jobs (directory format only). */
  jobs?: number;
  /** Output folder (directory) or file (custom; stdout without it); the plain format writes to stdout. */
  outPath?: string;
  excludeSchemas: string[];
  /** `--compress` level (custom and directory formats). */
  compress?: number;
}

/** `pg_dump` arguments: large objects included, never prompts for a password. */
export function pgDumpArgs(o: PgDumpOptions): string[] {
  const args = [`--format=${o.format}`, '--no-password', '--blobs'];
  if (o.snapshot) args.push(`--snapshot=${o.snapshot}`);
  for (const schema of o.excludeSchemas) args.push(`--exclude-schema=${schema}`);
  if (o.format === 'directory') {
    if (!o.outPath) throw new Error('pg_dump directory format needs an output folder');
    args.push(`--file=${o.outPath}`);
    if (o.jobs && o.jobs > 1) args.push(`--jobs=${o.jobs}`);
  }
  if (o.format === 'custom' && o.outPath) args.push(`--file=${o.outPath}`);
  if (o.compress !== undefined && o.format !== 'plain') args.push(`--compress=${o.compress}`);
  return args;
}

/** `pg_dumpall --globals-only` arguments (roles, memberships, tablespaces) to stdout. */
export function pgDumpallGlobalsArgs(o: { database?: string; noRolePasswords: boolean }): string[] {
  const args = ['--globals-only', '--no-password'];
  if (o.database) args.push(`--database=${dbnameConninfo(o.database)}`);
  if (o.noRolePasswords) args.push('--no-role-passwords');
  return args;
}

/**
 * `pg_restore` loading an archive into `dbname` (`--clean --if-exists` over a failed earlier
 * load), with only the TOC entries of `listFile` (`--use-list`) when given.
 */
export function pgRestoreArgs(o: { dbname: string; archive: string; jobs?: number; clean?: boolean; listFile?: string }): string[] {
  const args = ['--no-password', '--exit-on-error', `--dbname=${dbnameConninfo(o.dbname)}`];
  if (o.jobs && o.jobs > 1) args.push(`--jobs=${o.jobs}`);
  if (o.clean) args.push('--clean', '--if-exists');
  if (o.listFile) args.push(`--use-list=${o.listFile}`);
  args.push('--', o.archive);
  return args;
}

/**
 * `pg_restore --list --verbose`: an archive's table of contents with each entry's dependencies
 * (a custom-format archive on stdin when `archive` is not given).
 */
export function pgRestoreListArgs(archive?: string): string[] {
  return ['--list', '--verbose', ...(archive ? ['--', archive] : [])];
}

/** `pg_restore` writing the SQL script of an archive's entries in `listFile` to stdout (archive: stdin when not given). */
export function pgRestoreScriptArgs(o: { archive?: string; listFile?: string }): string[] {
  return ['--file=-', ...(o.listFile ? [`--use-list=${o.listFile}`] : []), ...(o.archive ? ['--', o.archive] : [])];
}

/** `psql` replaying a script file, stopping at the first error, ignoring ~/.psqlrc. */
export function psqlFileArgs(file: string, o: { singleTransaction?: boolean } = {}): string[] {
  return ['-X', '--no-password', '-v', 'ON_ERROR_STOP=1', '-q', ...(o.singleTransaction ? ['--single-transaction'] : []), '-f', file];
}

/** Parses `pg_dump (PostgreSQL) 15.20 (Debian …)` into its major version (15; 9.6 → 9). */
export function parseToolMajor(versionOutput: string): number {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!m) throw new Error(`cannot read a PostgreSQL version from ${JSON.stringify(versionOutput.trim().slice(0, 200))}`);
  return Number(m[1]);
}
