/**
 * Migration 2: DDL recorded at the right place in the stream, temporary objects left out.
 *
 * - `CREATE TABLE … AS` and `SELECT … INTO` write their rows before `ddl_command_end` fires, so
 *   a row recorded there arrives in the stream after the new table's INSERTs. A
 *   `ddl_command_start` trigger for those two tags records a `phase = 'start'` row (objects are
 *   not known yet); the capture renders the DDL there, and renders nothing for the matching
 *   `phase = 'end'` row (kept for the history and followed by the replica-identity guard).
 * - `statement_ordinal`: which firing of its tag's verb (`CREATE`, `DROP`, …) this is within
 *   the client statement (`current_query()` at `statement_timestamp()`), counted by the trigger
 *   for every firing, recorded or not, so the capture matches the row to the right statement of
 *   a multi-statement query even when some firings are not recorded. NULL on the `end` row of
 *   the two tags above (their `start` row took the ordinal).
 * - Not recorded: commands whose objects are all temporary or all pgincr's own. A DROP has no
 *   objects at `ddl_command_end`: a `sql_drop` trigger, which fires just before it for the same
 *   command, leaves the dropped (original) objects in the transaction-local setting
 *   `pgincr.dropped`, which the `ddl_command_end` trigger reads and clears.
 */
export const version = 2;
export const description = 'ddl_history phase (ddl_command_start for CREATE TABLE AS / SELECT INTO), statement ordinal, no temporary objects';

export const sql = String.raw`
ALTER TABLE pgincr.ddl_history
  ADD COLUMN phase text NOT NULL DEFAULT 'end' CONSTRAINT ddl_history_phase_check CHECK (phase IN ('start', 'end')),
  ADD COLUMN statement_ordinal int;

-- The n-th (from 0) firing of the tag's verb within the current client statement; counts it.
CREATE FUNCTION pgincr.next_firing_ordinal(tag text) RETURNS int LANGUAGE plpgsql AS $fn$
DECLARE
  setting text := 'pgincr.ordinal_' || pg_catalog.lower(pg_catalog.split_part(tag, ' ', 1));
  stmt text := pg_catalog.date_part('epoch', pg_catalog.statement_timestamp())::text || '/'
               || pg_catalog.md5(COALESCE(pg_catalog.current_query(), ''));
  counted text := pg_catalog.current_setting(setting, true);
  n int := 0;
BEGIN
  IF counted IS NOT NULL AND pg_catalog.split_part(counted, '#', 1) = stmt THEN
    n := pg_catalog.split_part(counted, '#', 2)::int;
  END IF;
  PERFORM pg_catalog.set_config(setting, stmt || '#' || (n + 1), true);
  RETURN n;
END
$fn$;

CREATE FUNCTION pgincr.on_ddl_command_start() RETURNS event_trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF pg_catalog.current_setting('pgincr.internal', true) = 'on' THEN
    RETURN;
  END IF;
  INSERT INTO pgincr.ddl_history (xid, occurred_at, role_name, search_path, command_tag,
                                  object_types, object_identities, query, schema_version, phase, statement_ordinal)
  VALUES (0, pg_catalog.clock_timestamp(), current_user, pg_catalog.current_setting('search_path'), TG_TAG,
          '{}', '{}', pg_catalog.current_query(), 2, 'start', pgincr.next_firing_ordinal(TG_TAG));
END
$fn$;

CREATE FUNCTION pgincr.on_sql_drop() RETURNS event_trigger LANGUAGE plpgsql AS $fn$
DECLARE
  previous text := COALESCE(NULLIF(pg_catalog.current_setting('pgincr.dropped', true), ''), '[]');
  dropped jsonb;
BEGIN
  IF pg_catalog.current_setting('pgincr.internal', true) = 'on' THEN
    RETURN;
  END IF;
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'type', d.object_type, 'identity', d.object_identity,
           'kind', CASE WHEN d.schema_name = 'pgincr' OR (d.object_type = 'schema' AND d.object_name = 'pgincr') THEN 'own'
                        WHEN d.is_temporary THEN 'temp' ELSE 'other' END)), '[]'::jsonb)
    INTO dropped
    FROM pg_catalog.pg_event_trigger_dropped_objects() d
   WHERE d.original;
  PERFORM pg_catalog.set_config('pgincr.dropped', (previous::jsonb || dropped)::text, true);
END
$fn$;

CREATE OR REPLACE FUNCTION pgincr.on_ddl_command_end() RETURNS event_trigger LANGUAGE plpgsql AS $fn$
DECLARE
  cmd record;
  types text[] := '{}';
  identities text[] := '{}';
  skipped boolean := false;
  others boolean := false;
  dropped text;
  firing int;
  idx name;
  ident text;
  stmt text;
BEGIN
  IF pg_catalog.current_setting('pgincr.internal', true) = 'on' THEN
    RETURN;
  END IF;
  dropped := COALESCE(NULLIF(pg_catalog.current_setting('pgincr.dropped', true), ''), '[]');
  PERFORM pg_catalog.set_config('pgincr.dropped', '', true);
  IF TG_TAG NOT IN ('CREATE TABLE AS', 'SELECT INTO') THEN
    firing := pgincr.next_firing_ordinal(TG_TAG); -- counted whether or not the firing is recorded
  END IF;
  FOR cmd IN
    SELECT c.object_type AS type, c.object_identity AS identity,
           CASE WHEN c.schema_name = 'pgincr' OR (c.object_type = 'schema' AND c.object_identity = 'pgincr') THEN 'own'
                WHEN c.schema_name = 'pg_temp' THEN 'temp' ELSE 'other' END AS kind
      FROM pg_catalog.pg_event_trigger_ddl_commands() c
    UNION ALL
    SELECT d.type, d.identity, d.kind FROM pg_catalog.jsonb_to_recordset(dropped::jsonb) AS d(type text, identity text, kind text)
  LOOP
    IF cmd.kind = 'other' THEN
      others := true;
      types := types || cmd.type;
      identities := identities || cmd.identity;
    ELSE
      skipped := true;
    END IF;
  END LOOP;
  IF skipped AND NOT others THEN
    RETURN; -- only temporary objects or pgincr's own
  END IF;
  INSERT INTO pgincr.ddl_history (xid, occurred_at, role_name, search_path, command_tag,
                                  object_types, object_identities, query, schema_version, phase, statement_ordinal)
  VALUES (0, pg_catalog.clock_timestamp(), current_user, pg_catalog.current_setting('search_path'), TG_TAG,
          types, identities, pg_catalog.current_query(), 2, 'end', firing);

  IF TG_TAG NOT IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') THEN
    RETURN;
  END IF;
  FOR cmd IN
    SELECT c.oid, n.nspname, c.relname
    FROM pg_catalog.pg_event_trigger_ddl_commands() d
    JOIN pg_catalog.pg_class c ON c.oid = d.objid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE d.object_type = 'table' AND d.classid = 'pg_catalog.pg_class'::regclass
      AND c.relkind = 'r' AND c.relpersistence <> 't' AND c.relreplident = 'd' AND n.nspname <> 'pgincr'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
  LOOP
    idx := pgincr.identity_index(cmd.oid);
    ident := pg_catalog.format('%I.%I', cmd.nspname, cmd.relname);
    stmt := pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY %s', ident,
                              CASE WHEN idx IS NULL THEN 'FULL' ELSE pg_catalog.format('USING INDEX %I', idx) END);
    BEGIN
      PERFORM pg_catalog.set_config('pgincr.internal', 'on', true);
      EXECUTE stmt;
      PERFORM pg_catalog.set_config('pgincr.internal', 'off', true);
      INSERT INTO pgincr.ddl_history (xid, occurred_at, role_name, search_path, command_tag,
                                      object_types, object_identities, query, schema_version, phase, statement_ordinal)
      VALUES (0, pg_catalog.clock_timestamp(), current_user, pg_catalog.current_setting('search_path'), 'ALTER TABLE',
              ARRAY['table'], ARRAY[ident], stmt || ';', 2, 'end', 0);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pgincr: could not set a replica identity on %: %', ident, SQLERRM
        USING HINT = 'updates and deletes of this table cannot be captured until it has a primary key or a replica identity';
    END;
  END LOOP;
END
$fn$;

CREATE EVENT TRIGGER pgincr_ddl_command_start ON ddl_command_start
  WHEN TAG IN ('CREATE TABLE AS', 'SELECT INTO')
  EXECUTE FUNCTION pgincr.on_ddl_command_start();

CREATE EVENT TRIGGER pgincr_sql_drop ON sql_drop
  EXECUTE FUNCTION pgincr.on_sql_drop();
`;
