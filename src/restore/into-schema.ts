/**
 * `pgincr restore --tables … --into-schema recovered`: the partial restore is made in a staging
 * database, its tables are moved there into the new schema, and that one schema is copied into
 * an existing database (the live one included) with `pg_dump --schema | psql --single-transaction`:
 * `CREATE SCHEMA` comes first, so a schema that exists stops the load before anything else, and
 * nothing outside the new schema is created or changed (no owners, no grants: the restoring role
 * owns the copies). The schema carries the comment `pgincr restore <restoreId>`, so a retry after
 * the copy committed finds it done. Names reach SQL through `format('%I')` / escapeIdentifier and
 * pg_dump as a quoted pattern (every character literal).
 */
import { spawn } from 'node:child_process';
import type { Profile } from '../config';
import { childEnv, connectProfile } from '../adapters/pg/connect';
import { dbnameConninfo } from '../core/commands/argv';
import { stderrWithoutRowValues } from '../core/commands/server-messages';
import { CommandFailedError, PlanError } from '../errors';
import { displayName, type QualifiedName } from '../core/restore/table-selection';
import { restoreMarker } from './create-target';

const STDERR_TAIL = 8192;

/** The schema's comment in the staging and the target database: this restore's mark. */
const schemaMark = (restoreId: string) => restoreMarker(restoreId);

/** Two tables of one name cannot go into one schema. */
function checkDistinctNames(tables: readonly QualifiedName[]): void {
  const names = new Map<string, QualifiedName>();
  for (const t of tables) {
    const other = names.get(t.name);
    if (other) {
      throw new PlanError(`--into-schema: ${displayName(other)} and ${displayName(t)} have the same name; one schema cannot hold both`, {
        hint: 'restore them with two restores into two schemas',
      });
    }
    names.set(t.name, t);
  }
}

/** Refuses, before anything is created, a target database that is missing or already has the schema (or chosen tables of one name). */
export async function checkIntoSchema(target: Profile, schema: string, restoreId: string, tables: readonly QualifiedName[] = []): Promise<void> {
  checkDistinctNames(tables);
  const client = await connectProfile(target).catch((error: Error) => {
    throw new PlanError(`cannot connect to the database to restore into (${error.message})`, {
      hint: '--into-schema adds a schema to an EXISTING database: name it with --target-db (and --target-profile for another cluster)',
    });
  });
  try {
    const r = await client.query<{ comment: string | null }>(
      `SELECT pg_catalog.obj_description(oid, 'pg_namespace') AS comment FROM pg_catalog.pg_namespace WHERE nspname = $1`,
      [schema],
    );
    if (r.rows.length > 0 && r.rows[0]!.comment !== schemaMark(restoreId)) {
      throw new PlanError(`schema ${JSON.stringify(schema)} already exists in database ${JSON.stringify(target.dbname)}: nothing was restored into it`, {
        hint: 'choose a new schema name with --into-schema (the restore never touches an existing schema)',
      });
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** In the staging database: the kept tables moved into `schema` (made, marked), one transaction; idempotent. */
async function moveTables(staging: Profile, schema: string, tables: readonly QualifiedName[], restoreId: string): Promise<void> {
  checkDistinctNames(tables);
  const client = await connectProfile(staging);
  try {
    await client.query('BEGIN');
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${client.escapeIdentifier(schema)}`);
    await client.query(`COMMENT ON SCHEMA ${client.escapeIdentifier(schema)} IS ${client.escapeLiteral(schemaMark(restoreId))}`);
    for (const t of tables) {
      if (t.schema === schema) continue;
      await client.query(
        `ALTER TABLE IF EXISTS ${client.escapeIdentifier(t.schema)}.${client.escapeIdentifier(t.name)} SET SCHEMA ${client.escapeIdentifier(schema)}`,
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** `pg_dump --schema` of the staging database into psql on the target, one transaction. */
function copySchema(staging: Profile, target: Profile, schema: string, signal?: AbortSignal): Promise<void> {
  const pattern = `"${schema.replace(/"/g, '""')}"`;
  const dump = spawn(
    'pg_dump',
    ['--format=plain', '--no-password', '--no-owner', '--no-privileges', `--schema=${pattern}`, `--dbname=${dbnameConninfo(staging.dbname ?? '')}`],
    { env: childEnv(staging), stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) },
  );
  const psql = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-f', '-'], {
    env: childEnv(target),
    stdio: ['pipe', 'ignore', 'pipe'],
    ...(signal ? { signal } : {}),
  });
  dump.stdout.pipe(psql.stdin);
  psql.stdin.on('error', () => undefined);
  const ended = (child: { stderr: NodeJS.ReadableStream; on: (e: 'error' | 'close', f: (x: unknown) => void) => unknown }, what: string) =>
    new Promise<void>((resolve, reject) => {
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-STDERR_TAIL)));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new CommandFailedError(`${what} failed (exit ${String(code)}): ${stderrWithoutRowValues(stderr)}`)),
      );
    });
  return Promise.all([ended(dump, 'pg_dump of the staging schema'), ended(psql, `psql loading schema ${JSON.stringify(schema)}`)]).then(() => undefined);
}

/** Moves the kept tables into `schema` in the staging database and copies that schema into the target database. */
export async function restoreIntoSchema(o: {
  staging: Profile;
  target: Profile;
  schema: string;
  tables: readonly QualifiedName[];
  restoreId: string;
  signal?: AbortSignal;
}): Promise<{ copied: boolean }> {
  await checkIntoSchema(o.target, o.schema, o.restoreId);
  const done = await connectProfile(o.target).then(async (c) => {
    try {
      const r = await c.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [o.schema]);
      return r.rows.length > 0; // checkIntoSchema passed: it carries this restore's mark
    } finally {
      await c.end().catch(() => undefined);
    }
  });
  if (done) return { copied: false };
  await moveTables(o.staging, o.schema, o.tables, o.restoreId);
  await copySchema(o.staging, o.target, o.schema, o.signal);
  return { copied: true };
}
