/**
 * Argument vectors for PostgreSQL's client programs. Connection settings and credentials never
 * appear here: they travel as PG* environment variables (`adapters/pg/connect.ts` childEnv).
 */

export interface PgDumpOptions {
  /** The exported snapshot to dump in (`pg_dump --snapshot`). */
  snapshot?: string;
  format: 'plain' | 'directory';
  /** Parallel jobs (directory format only). */
  jobs?: number;
  /** Output folder for the directory format; the plain format writes to stdout. */
  outPath?: string;
  excludeSchemas: string[];
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
  return args;
}

/** `pg_dumpall --globals-only` arguments (roles, memberships, tablespaces) to stdout. */
export function pgDumpallGlobalsArgs(o: { database?: string; noRolePasswords: boolean }): string[] {
  const args = ['--globals-only', '--no-password'];
  if (o.database) args.push(`--database=${o.database}`);
  if (o.noRolePasswords) args.push('--no-role-passwords');
  return args;
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
