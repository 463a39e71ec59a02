/**
 * Versioned migrations of the `pgincr` capture schema. Each runs in its own transaction, under
 * an advisory lock, with `pgincr.internal = on` (so pgincr's own DDL is not recorded), and is
 * recorded in `pgincr.schema_version`: re-running is a no-op. Needs a superuser (event triggers).
 */
import type { Client } from 'pg';
import * as m001 from './001-capture-schema';
import * as m002 from './002-ddl-phases';
import * as m003 from './003-markers';
import * as m004 from './004-ddl-session-settings';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [m001, m002, m003, m004];
/** The schema version this build installs. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Any constant: serialises concurrent installs into the same database. */
const LOCK_KEY = 7_457_393_101;

const BOOTSTRAP = `
CREATE SCHEMA IF NOT EXISTS pgincr;
CREATE TABLE IF NOT EXISTS pgincr.schema_version (
  version int PRIMARY KEY,
  description text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);`;

export interface MigrateResult {
  version: number;
  applied: number[];
}

async function inTransaction<T>(client: Client, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Applies every migration not yet recorded; returns the resulting version and what it applied. */
export async function migrate(client: Client, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  const applied: number[] = [];
  for (const m of migrations) {
    const done = await inTransaction(client, async () => {
      await client.query("SELECT pg_catalog.set_config('pgincr.internal', 'on', true)");
      await client.query('SELECT pg_catalog.pg_advisory_xact_lock($1)', [LOCK_KEY]);
      await client.query(BOOTSTRAP);
      const { rowCount } = await client.query('SELECT 1 FROM pgincr.schema_version WHERE version = $1', [m.version]);
      if (rowCount) return true;
      await client.query(m.sql);
      await client.query('INSERT INTO pgincr.schema_version (version, description) VALUES ($1, $2)', [m.version, m.description]);
      return false;
    });
    if (!done) applied.push(m.version);
  }
  return { version: await installedVersion(client) ?? 0, applied };
}

/** The installed schema version, or null when the pgincr schema is absent. */
export async function installedVersion(client: Client): Promise<number | null> {
  const { rows } = await client.query<{ v: number | null }>(
    `SELECT CASE WHEN pg_catalog.to_regclass('pgincr.schema_version') IS NULL THEN NULL
            ELSE (SELECT max(version) FROM pgincr.schema_version) END AS v`,
  );
  return rows[0]?.v ?? null;
}

/** Removes pgincr's event triggers and the schema with everything in it. */
export const UNINSTALL_SQL = `
DO $$
DECLARE t name;
BEGIN
  FOR t IN SELECT evtname FROM pg_catalog.pg_event_trigger WHERE evtname LIKE 'pgincr\\_%' LOOP
    EXECUTE pg_catalog.format('DROP EVENT TRIGGER %I', t);
  END LOOP;
END
$$;
DROP SCHEMA IF EXISTS pgincr CASCADE;`;

export async function uninstallSchema(client: Client): Promise<void> {
  await inTransaction(client, async () => {
    await client.query("SELECT pg_catalog.set_config('pgincr.internal', 'on', true)");
    await client.query(UNINSTALL_SQL);
  });
}
