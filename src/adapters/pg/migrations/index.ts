/**
 * Versioned migrations of the `pgincr` capture schema. Each runs in its own transaction, under
 * an advisory lock, with `search_path = pg_catalog, pg_temp` and the internal switch on (so
 * pgincr's own DDL is not recorded: {@link setInternal}), and is recorded in
 * `pgincr.schema_version`: re-running is a no-op. Needs a superuser (event triggers). Refuses a
 * `pgincr` schema, or an object in it, that neither the setup role nor a superuser owns
 * ({@link checkSchemaOwnership}).
 */
import type { Client } from 'pg';
import { NotReadyError } from '../../../errors';
import { setInternal } from '../internal-switch';
import { ensureRawCaptureObjects } from '../raw-capture-objects';
import * as m001 from './001-capture-schema';
import * as m002 from './002-ddl-phases';
import * as m003 from './003-markers';
import * as m004 from './004-ddl-session-settings';
import * as m005 from './005-trust-boundary';
import * as m006 from './006-replica-identity-follows-schema';
import * as m007 from './007-writers-only';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [m001, m002, m003, m004, m005, m006, m007];
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

export { setInternal };

/**
 * Refuses (NotReadyError, not retryable) a `pgincr` schema, or an object in it, owned by a role
 * that is neither the current (setup) role nor a superuser, or a schema on which such a role may
 * CREATE: its owner could replace what pgincr's triggers run for every role's DDL.
 */
export async function checkSchemaOwnership(client: Client): Promise<void> {
  const { rows } = await client.query<{ what: string; owner: string; me: string }>(`
WITH ns AS (SELECT oid, nspowner FROM pg_catalog.pg_namespace WHERE nspname = 'pgincr'),
trusted AS (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolsuper OR r.rolname = CURRENT_USER),
objects AS (
  SELECT 'schema pgincr' AS what, ns.nspowner AS owner FROM ns
  UNION ALL SELECT 'relation pgincr.' || pg_catalog.quote_ident(c.relname), c.relowner FROM pg_catalog.pg_class c JOIN ns ON c.relnamespace = ns.oid
  UNION ALL SELECT 'function ' || p.oid::regprocedure::text, p.proowner FROM pg_catalog.pg_proc p JOIN ns ON p.pronamespace = ns.oid
  UNION ALL SELECT 'type pgincr.' || pg_catalog.quote_ident(t.typname), t.typowner FROM pg_catalog.pg_type t JOIN ns ON t.typnamespace = ns.oid
  UNION ALL SELECT 'operator pgincr.' || o.oprname, o.oprowner FROM pg_catalog.pg_operator o JOIN ns ON o.oprnamespace = ns.oid
  UNION ALL SELECT 'CREATE privilege on schema pgincr', r.oid FROM ns, pg_catalog.pg_roles r
   WHERE pg_catalog.has_schema_privilege(r.oid, ns.oid, 'CREATE')
)
SELECT o.what, COALESCE(pg_catalog.pg_get_userbyid(o.owner)::text, o.owner::text) AS owner, CURRENT_USER::text AS me
FROM objects o WHERE o.owner NOT IN (SELECT oid FROM trusted)
ORDER BY 1 LIMIT 5`);
  const first = rows[0];
  if (!first) return;
  throw new NotReadyError(
    `schema pgincr is not the setup role's: ${rows.map((r) => `${r.what} belongs to role ${r.owner}`).join(', ')} ` +
      `(setup role ${first.me}); pgincr's event triggers run its functions for every role's DDL, so setup will not install into it`,
    {
      hint:
        `check what schema pgincr holds; if it is not pgincr's, rename it (ALTER SCHEMA pgincr RENAME TO ...) or drop it (DROP SCHEMA pgincr CASCADE), ` +
        `then run pgincr setup again as a superuser; if it is, make the setup role own it (ALTER SCHEMA pgincr OWNER TO ${first.me}, and each object) and revoke CREATE on it from other roles`,
    },
  );
}

/** Applies every migration not yet recorded; returns the resulting version and what it applied. */
export async function migrate(client: Client, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  const applied: number[] = [];
  for (const m of migrations) {
    const done = await inTransaction(client, async () => {
      await client.query('SELECT pg_catalog.pg_advisory_xact_lock($1)', [LOCK_KEY]);
      await client.query("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)");
      await checkSchemaOwnership(client);
      await setInternal(client);
      await client.query(BOOTSTRAP);
      await checkSchemaOwnership(client); // again: a schema created since the first check was kept by IF NOT EXISTS
      const { rowCount } = await client.query('SELECT 1 FROM pgincr.schema_version WHERE version = $1', [m.version]);
      if (rowCount) return true;
      await client.query(m.sql);
      await client.query('INSERT INTO pgincr.schema_version (version, description) VALUES ($1, $2)', [m.version, m.description]);
      return false;
    });
    if (!done) applied.push(m.version);
  }
  if (applied.length > 0 && applied[0] !== 1) {
    // An upgrade: decoder_raw objects installed by an older version are replaced by their
    // current form now (from version 5 they must run as their owner: PUBLIC has no USAGE on the
    // schema any more, and 'on' no longer switches recording off).
    const raw = await client.query<{ has: boolean }>("SELECT pg_catalog.to_regprocedure('pgincr.raw_capture_trigger()') IS NOT NULL AS has");
    if (raw.rows[0]?.has) await ensureRawCaptureObjects(client);
  }
  return { version: (await installedVersion(client)) ?? 0, applied };
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
    await setInternal(client);
    await client.query(UNINSTALL_SQL);
  });
}
