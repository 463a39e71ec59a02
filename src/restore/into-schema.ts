/**
 * `pgincr restore --tables … --into-schema recovered`: the partial restore is made in a staging
 * database, its relations (the chosen tables, the sequences they own or call in defaults, with
 * their positions at the target, and the views over them) are moved there into the new schema,
 * and that one schema is copied into
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

/**
 * Every relation of the staging database outside `schema`, in the order they are moved: tables
 * first (their owned sequences, indexes and constraints go with them), then the other sequences
 * (those a default calls), then views and materialized views. The staging database holds only
 * what the partial restore kept, so this is the chosen tables and what comes with them, under
 * the names replayed DDL gave them.
 */
const TO_MOVE = `
SELECT n.nspname AS schema, c.relname AS name,
       CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'f', 'S', 'v', 'm') AND n.nspname <> $1
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgincr') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                     AND ((c.relkind = 'S' AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')) OR d.deptype = 'e'))
 ORDER BY CASE WHEN c.relkind IN ('r', 'p', 'f') THEN 0 WHEN c.relkind = 'S' THEN 1 ELSE 2 END, n.nspname, c.relname`;

/**
 * In the staging database: the kept tables, the sequences their defaults call and the views over
 * them moved into `schema` (made, marked), one transaction; idempotent. A default keeps naming its
 * sequence by OID, so after the move it calls the new schema's copy, never a live one.
 */
async function moveRelations(staging: Profile, schema: string, restoreId: string): Promise<void> {
  const client = await connectProfile(staging);
  try {
    await client.query('BEGIN');
    const moving = (await client.query<QualifiedName & { kind: string }>(TO_MOVE, [schema])).rows;
    checkDistinctNames(moving);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${client.escapeIdentifier(schema)}`);
    await client.query(`COMMENT ON SCHEMA ${client.escapeIdentifier(schema)} IS ${client.escapeLiteral(schemaMark(restoreId))}`);
    for (const t of moving) {
      await client.query(
        `ALTER ${t.kind} IF EXISTS ${client.escapeIdentifier(t.schema)}.${client.escapeIdentifier(t.name)} SET SCHEMA ${client.escapeIdentifier(schema)}`,
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

/**
 * The functions the copied tables' defaults, constraints and triggers call: in the target they
 * are the target's own (only the new schema is copied), so a default calling a function that
 * calls nextval() on a sequence draws from the live sequence. The report names them.
 */
async function calledFunctions(staging: Profile, schema: string): Promise<string[]> {
  const client = await connectProfile(staging);
  try {
    await client.query("SET search_path = ''");
    const r = await client.query<{ f: string }>(
      `SELECT DISTINCT d.refobjid::pg_catalog.regprocedure::text AS f
         FROM pg_catalog.pg_depend d
         LEFT JOIN pg_catalog.pg_attrdef ad ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND ad.oid = d.objid
         LEFT JOIN pg_catalog.pg_constraint co ON d.classid = 'pg_catalog.pg_constraint'::regclass AND co.oid = d.objid
         LEFT JOIN pg_catalog.pg_trigger tg ON d.classid = 'pg_catalog.pg_trigger'::regclass AND tg.oid = d.objid
         JOIN pg_catalog.pg_class c ON c.oid = coalesce(ad.adrelid, co.conrelid, tg.tgrelid)
        WHERE d.refclassid = 'pg_catalog.pg_proc'::regclass AND c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1)
        ORDER BY 1`,
      [schema],
    );
    return r.rows.map((x) => x.f);
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

/** Moves the kept relations into `schema` in the staging database and copies that schema into the target database. */
export async function restoreIntoSchema(o: {
  staging: Profile;
  target: Profile;
  schema: string;
  tables: readonly QualifiedName[];
  restoreId: string;
  signal?: AbortSignal;
}): Promise<{ copied: boolean; liveFunctions: string[] }> {
  await checkIntoSchema(o.target, o.schema, o.restoreId);
  const done = await connectProfile(o.target).then(async (c) => {
    try {
      const r = await c.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [o.schema]);
      return r.rows.length > 0; // checkIntoSchema passed: it carries this restore's mark
    } finally {
      await c.end().catch(() => undefined);
    }
  });
  if (done) return { copied: false, liveFunctions: [] };
  checkDistinctNames(o.tables);
  await moveRelations(o.staging, o.schema, o.restoreId);
  const liveFunctions = await calledFunctions(o.staging, o.schema);
  await copySchema(o.staging, o.target, o.schema, o.signal);
  return { copied: true, liveFunctions };
}
