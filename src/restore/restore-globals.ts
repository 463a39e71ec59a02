/**
 * Applying `globals.sql` (pg_dumpall --globals-only: roles, memberships, tablespaces) to the
 * target cluster with psql. Roles and tablespaces that already exist there (SQLSTATE 42710,
 * duplicate_object — always true of the superuser running the restore) are reported as notes;
 * the `ALTER ROLE` that follows each `CREATE ROLE` still applies its attributes. Any other
 * error fails the step. psql runs without ON_ERROR_STOP and with VERBOSITY=verbose so every
 * error carries its SQLSTATE (whatever the server's lc_messages). Re-running is harmless.
 */
import { spawn } from 'node:child_process';
import type { Profile } from '../config';
import { childEnv } from '../adapters/pg/connect';
import { CommandFailedError } from '../errors';

export interface GlobalsError {
  line: number;
  sqlState: string;
  message: string;
}

export interface RestoreGlobalsResult {
  /** Objects that already existed, e.g. `role "postgres" already exists`. */
  notes: string[];
}

const ERROR_LINE = /^psql:.*?:(\d+): ERROR:\s+([0-9A-Z]{5}): (.*)$/;
const DUPLICATE_OBJECT = '42710';

/** Parses psql's stderr (VERBOSITY=verbose) into errors with line, SQLSTATE and message. */
export function parsePsqlErrors(stderr: string): GlobalsError[] {
  const out: GlobalsError[] = [];
  for (const line of stderr.split('\n')) {
    const m = ERROR_LINE.exec(line);
    if (m) out.push({ line: Number(m[1]), sqlState: m[2] as string, message: m[3] as string });
  }
  return out;
}

function runPsqlFile(env: Record<string, string>, file: string, signal?: AbortSignal): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', ['-X', '-q', '-v', 'VERBOSITY=verbose', '-f', file], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(signal ? { signal } : {}),
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Applies globals.sql to the cluster of `profile` (any database; `postgres` is usual). */
export async function restoreGlobals(profile: Profile, globalsPath: string, signal?: AbortSignal): Promise<RestoreGlobalsResult> {
  const { code, stderr } = await runPsqlFile(childEnv(profile), globalsPath, signal);
  const errors = parsePsqlErrors(stderr);
  const fatal = errors.filter((e) => e.sqlState !== DUPLICATE_OBJECT);
  if (code !== 0 || fatal.length > 0) {
    const what =
      fatal.length > 0 ? fatal.map((e) => `line ${e.line}: ${e.sqlState} ${e.message}`).join('; ') : `psql exit ${code}: ${stderr.trim().slice(-2000)}`;
    throw new CommandFailedError(`${globalsPath}: ${what}`, {
      hint: 'fix the cause in the target cluster (e.g. create the tablespace folder) and retry; objects already created are kept and reported as existing',
    });
  }
  return { notes: errors.map((e) => e.message) };
}
