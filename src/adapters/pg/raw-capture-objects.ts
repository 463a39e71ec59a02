/**
 * What the decoder_raw capture needs in the source database, besides the capture schema:
 * - `pgincr.raw_transactions(xid xid8, lsn pg_lsn, at timestamptz)`: one row per transaction that
 *   changes a captured table (its xid, the WAL insert position and time of its first write);
 * - `pgincr.raw_truncates(xid, schema_name, table_name)`: one row per truncated table;
 * - the statement-level trigger `pgincr_raw_capture` (AFTER INSERT OR UPDATE OR DELETE OR
 *   TRUNCATE) on every captured table and on pgincr's own DDL/sequence tables, writing them;
 * - the event trigger `pgincr_raw_new_table` putting that trigger on every new table;
 * - the event trigger `pgincr_raw_replica_identity` refusing DDL that leaves a captured table
 *   without a usable replica identity (decoder_raw would drop its UPDATEs/DELETEs silently).
 * All idempotent, run with the internal switch on (setInternal) so none of it is recorded as DDL.
 * Every function runs as its owner (SECURITY DEFINER) with `search_path = pg_catalog, pg_temp`,
 * EXECUTE revoked from PUBLIC: the per-table trigger writes pgincr's tables for any role that
 * changes a captured table, without that role having any privilege on schema pgincr.
 * Also: the probe for the decoder_raw plugin, the replica-identity check, and table facts.
 */
import type { Client } from 'pg';
import type { Profile } from '../../config';
import type { RawTableFacts } from '../../core/decoding/decoder-raw-repair';
import type { ReplicaIdentity } from '../../core/decoding/model';
import { NotReadyError } from '../../errors';
import { connectProfile } from './connect';
import { setInternal } from './internal-switch';
import { CAPTURED_TABLE_FILTER, QUOTED_NAME } from './preflight-queries';

export const RAW_TRIGGER = 'pgincr_raw_capture';

/** A table (alias c) whose UPDATEs and DELETEs decoder_raw cannot write. */
const UNUSABLE_IDENTITY = `c.relreplident = 'n'
       OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
       OR (c.relreplident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisreplident))`;

const OBJECTS_SQL = `
CREATE TABLE IF NOT EXISTS pgincr.raw_transactions (
  xid xid8 NOT NULL, lsn pg_lsn NOT NULL, at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS pgincr.raw_truncates (
  xid xid8 NOT NULL, schema_name text NOT NULL, table_name text NOT NULL);

CREATE OR REPLACE FUNCTION pgincr.raw_capture_trigger() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  x text := pg_catalog.pg_current_xact_id()::text;
BEGIN
  -- once per transaction (the setting is transaction-local and undone with a rolled-back savepoint;
  -- sealed, so that a role cannot set it to its own xid and leave its transaction unmarked)
  IF pgincr.unseal('pgincr.raw_xid') IS DISTINCT FROM x THEN
    PERFORM pgincr.set_sealed('pgincr.raw_xid', x);
    INSERT INTO pgincr.raw_transactions (xid, lsn, at)
    VALUES (x::xid8, pg_catalog.pg_current_wal_insert_lsn(), pg_catalog.clock_timestamp());
  END IF;
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO pgincr.raw_truncates (xid, schema_name, table_name) VALUES (x::xid8, TG_TABLE_SCHEMA, TG_TABLE_NAME);
  END IF;
  RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION pgincr.raw_install_trigger(rel regclass) RETURNS boolean LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = rel AND tgname = '${RAW_TRIGGER}') THEN
    RETURN false;
  END IF;
  EXECUTE pg_catalog.format(
    'CREATE TRIGGER ${RAW_TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION pgincr.raw_capture_trigger()', rel);
  RETURN true;
END
$fn$;

CREATE OR REPLACE FUNCTION pgincr.raw_on_new_table() RETURNS event_trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  r record;
  previous text := COALESCE(pg_catalog.current_setting('pgincr.internal', true), '');
BEGIN
  FOR r IN
    SELECT c.oid FROM pg_catalog.pg_event_trigger_ddl_commands() d
    JOIN pg_catalog.pg_class c ON c.oid = d.objid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND c.relkind IN ('r', 'p')
      AND c.relpersistence = 'p' AND n.nspname <> 'pgincr'
  LOOP
    PERFORM pg_catalog.set_config('pgincr.internal', pgincr.internal_token(), true);
    PERFORM pgincr.raw_install_trigger(r.oid);
    PERFORM pg_catalog.set_config('pgincr.internal', previous, true);
  END LOOP;
END
$fn$;

-- decoder_raw writes no UPDATE/DELETE for a table without a usable replica identity, silently.
-- A DDL that would leave a captured table so (REPLICA IDENTITY NOTHING, DEFAULT without a
-- primary key) is refused. It fires after pgincr_ddl_command_end (event triggers fire in name
-- order), whose replica-identity guard (capture schema 6) gives new keyless tables, and tables
-- whose primary key or identity index was dropped, FULL first.
CREATE OR REPLACE FUNCTION pgincr.raw_check_replica_identity() RETURNS event_trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  bad text;
BEGIN
  IF pgincr.internal_on() THEN
    RETURN;
  END IF;
  SELECT pg_catalog.string_agg(${QUOTED_NAME}, ', ' ORDER BY n.nspname, c.relname) INTO bad
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE ${CAPTURED_TABLE_FILTER}
    AND (${UNUSABLE_IDENTITY})
    AND (TG_TAG = 'DROP INDEX' OR c.oid IN (
      SELECT d.objid FROM pg_catalog.pg_event_trigger_ddl_commands() d WHERE d.classid = 'pg_catalog.pg_class'::regclass));
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'pgincr: % would have no usable replica identity, and the decoder_raw capture would lose its UPDATEs and DELETEs', bad
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'keep a primary key, or use REPLICA IDENTITY FULL or USING INDEX (a unique index on NOT NULL columns)';
  END IF;
END
$fn$;

REVOKE ALL ON pgincr.raw_transactions, pgincr.raw_truncates FROM PUBLIC;
REVOKE ALL ON FUNCTION pgincr.raw_capture_trigger(), pgincr.raw_install_trigger(regclass), pgincr.raw_on_new_table(),
  pgincr.raw_check_replica_identity() FROM PUBLIC;

DO $do$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = 'pgincr_raw_replica_identity') THEN
    CREATE EVENT TRIGGER pgincr_raw_replica_identity ON ddl_command_end
      WHEN TAG IN ('ALTER TABLE', 'DROP INDEX', 'CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
      EXECUTE FUNCTION pgincr.raw_check_replica_identity();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = 'pgincr_raw_new_table') THEN
    CREATE EVENT TRIGGER pgincr_raw_new_table ON ddl_command_end
      WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
      EXECUTE FUNCTION pgincr.raw_on_new_table();
  END IF;
END
$do$;`;

const TABLES_SQL = `
SELECT c.oid::regclass::text AS rel FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE (${CAPTURED_TABLE_FILTER.replace("c.relkind = 'r'", "c.relkind IN ('r', 'p')")})
   OR (n.nspname = 'pgincr' AND c.relname IN ('ddl_history', 'sequence_positions', 'markers'))`;

/**
 * Installs the decoder_raw capture objects and the trigger on every captured table (needs the
 * capture schema). Returns the tables that got the trigger now.
 */
export async function ensureRawCaptureObjects(client: Client): Promise<string[]> {
  await client.query('BEGIN');
  try {
    await setInternal(client);
    await client.query(OBJECTS_SQL);
    const { rows } = await client.query<{ rel: string }>(TABLES_SQL);
    const added: string[] = [];
    for (const r of rows) {
      const res = await client.query<{ added: boolean }>('SELECT pgincr.raw_install_trigger($1::regclass) AS added', [r.rel]);
      if (res.rows[0]?.added) added.push(r.rel);
    }
    await client.query('COMMIT');
    return added;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Refuses to capture with decoder_raw while a captured table lacks what the capture needs:
 * a usable replica identity (decoder_raw silently drops UPDATE/DELETE without one) and the
 * pgincr trigger (no xid, no TRUNCATE).
 */
export async function checkRawCaptureReady(client: Client): Promise<void> {
  const { rows } = await client.query<{ name: string; problem: string }>(`
SELECT ${QUOTED_NAME} AS name,
  CASE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = '${RAW_TRIGGER}')
       THEN 'no ${RAW_TRIGGER} trigger'
       ELSE 'no usable replica identity' END AS problem
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE ${CAPTURED_TABLE_FILTER}
  AND (NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = '${RAW_TRIGGER}')
       OR ${UNUSABLE_IDENTITY})
ORDER BY 1`);
  if (rows.length > 0) {
    throw new NotReadyError(`decoder_raw capture refused: ${rows.map((r) => `${r.name} (${r.problem})`).join(', ')}`, {
      hint: 'run pgincr setup (it sets replica identities and installs the pgincr triggers), or give these tables a primary key',
    });
  }
}

/** Catalog facts for tables named in raw statements (names are byte strings; the catalog is read as UTF-8). */
export async function rawTableFacts(client: Client, names: ReadonlyArray<{ schema: string; table: string }>): Promise<Map<string, RawTableFacts>> {
  const out = new Map<string, RawTableFacts>();
  if (names.length === 0) return out;
  const utf8 = (s: string) => Buffer.from(s, 'latin1').toString('utf8');
  const { rows } = await client.query<{ i: number; replident: ReplicaIdentity; relkind: string; identity_always: string[]; generated: string[] }>(
    `
SELECT q.i, c.relreplident AS replident, c.relkind,
  coalesce(array_agg(a.attname::text) FILTER (WHERE a.attidentity = 'a'), '{}') AS identity_always,
  coalesce(array_agg(a.attname::text) FILTER (WHERE a.attgenerated <> ''), '{}') AS generated
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS q(s, t, i)
JOIN pg_catalog.pg_namespace n ON n.nspname = q.s
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = q.t
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
GROUP BY q.i, c.relreplident, c.relkind`,
    [names.map((n) => utf8(n.schema)), names.map((n) => utf8(n.table))],
  );
  const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  for (const r of rows) {
    const n = names[Number(r.i) - 1];
    if (!n) continue;
    out.set(factsKey(n.schema, n.table), {
      replicaIdentity: r.replident,
      identityAlways: r.identity_always.map(latin1),
      generated: r.generated.map(latin1),
      partitioned: r.relkind === 'p',
    });
  }
  return out;
}

/** Whether the server records commit timestamps (`track_commit_timestamp`, set at server start). */
export async function tracksCommitTimestamps(client: Client): Promise<boolean> {
  const { rows } = await client.query<{ on: boolean }>(`SELECT pg_catalog.current_setting('track_commit_timestamp')::bool AS on`);
  return rows[0]?.on === true;
}

/**
 * The commit time of each transaction (32-bit xids of this epoch) as canonical UTC ISO text, from
 * the server's commit timestamps: the time pgoutput reports too. An xid without one (committed
 * before the setting was on) is left out.
 */
export async function commitTimestamps(client: Client, xids: readonly number[]): Promise<Map<number, string>> {
  const { rows } = await client.query<{ xid: string; at: string | null }>(
    `SELECT x AS xid, pg_catalog.to_char(pg_catalog.pg_xact_commit_timestamp(x::xid) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
     FROM pg_catalog.unnest($1::text[]) AS x`,
    [xids.map(String)],
  );
  const out = new Map<number, string>();
  for (const r of rows) if (r.at !== null) out.set(Number(r.xid), r.at);
  return out;
}

export const factsKey = (schema: string, table: string) => `${schema}\u0000${table}`;

/** Whether the decoder_raw output plugin can be used on this server (installed and, where the server has that setting, allow-listed). */
export interface DecoderRawProbe {
  available: boolean;
  reason: string;
}

export async function decoderRawAvailable(profile: Profile, env: NodeJS.ProcessEnv = process.env): Promise<DecoderRawProbe> {
  const client = await connectProfile(profile, { application_name: 'pgincr probe' }, env);
  try {
    const allow = await client.query<{ setting: string }>(`SELECT setting FROM pg_catalog.pg_settings WHERE name = 'output_plugin_libraries'`);
    const listed = allow.rows[0]?.setting;
    if (
      listed !== undefined &&
      !listed
        .split(',')
        .map((s) => s.trim().replace(/^'|'$/g, ''))
        .includes('decoder_raw')
    ) {
      return { available: false, reason: `output_plugin_libraries is '${listed}', without decoder_raw` };
    }
    try {
      await client.query(`LOAD 'decoder_raw'`);
      return { available: true, reason: 'decoder_raw loads' };
    } catch (err) {
      return { available: false, reason: `LOAD 'decoder_raw' failed: ${(err as Error).message}` };
    }
  } finally {
    await client.end();
  }
}
