/**
 * Migration 1: the capture schema (docs/architecture.md "Capture schema").
 *
 * - `pgincr.ddl_history`: one row per top-level DDL statement, written by the
 *   `pgincr_ddl_command_end` event trigger in the DDL's own transaction (so it is decoded at its
 *   place in commit order). The function runs with the invoker's rights: every role may INSERT
 *   (not read) rows, and a row trigger stamps the real role and xid so they cannot be forged.
 * - The new-table guard in the same trigger: a table created without a primary key gets
 *   `REPLICA IDENTITY USING INDEX` (best unique, non-partial, immediate index over NOT NULL
 *   columns) or `FULL`, so updates and deletes are decodable and do not fail under a
 *   publication. The ALTER is itself recorded (with its own text) and the nested firing it causes
 *   is skipped through the transaction-local setting `pgincr.internal`.
 * - `pgincr.sequence_positions` + `pgincr.record_sequence_positions()`.
 * Objects of the pgincr schema itself are never recorded; migrations run with pgincr.internal on.
 */
export const version = 1;
export const description = 'capture schema: ddl_history, event trigger with new-table guard, sequence_positions';

export const sql = String.raw`
CREATE TABLE pgincr.ddl_history (
  id bigserial PRIMARY KEY,
  xid bigint NOT NULL,
  occurred_at timestamptz NOT NULL,
  role_name text NOT NULL,
  search_path text NOT NULL,
  command_tag text NOT NULL,
  object_types text[] NOT NULL,
  object_identities text[] NOT NULL,
  query text,
  schema_version int NOT NULL
);

CREATE TABLE pgincr.sequence_positions (
  id bigserial PRIMARY KEY,
  recorded_at timestamptz NOT NULL,
  positions jsonb NOT NULL
);

CREATE FUNCTION pgincr.stamp_ddl_history() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.role_name := current_user;
  NEW.xid := pg_catalog.pg_current_xact_id()::text::bigint;
  RETURN NEW;
END
$fn$;

CREATE TRIGGER stamp BEFORE INSERT ON pgincr.ddl_history
  FOR EACH ROW EXECUTE FUNCTION pgincr.stamp_ddl_history();

GRANT USAGE ON SCHEMA pgincr TO PUBLIC;
GRANT INSERT ON pgincr.ddl_history TO PUBLIC;
GRANT USAGE ON SEQUENCE pgincr.ddl_history_id_seq TO PUBLIC;

-- The index REPLICA IDENTITY USING INDEX can use: unique, valid, immediate, not partial, no
-- expressions, every column NOT NULL; fewest key columns first.
CREATE FUNCTION pgincr.identity_index(rel oid) RETURNS name LANGUAGE sql STABLE AS $fn$
  SELECT ic.relname
  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  WHERE i.indrelid = rel AND i.indisunique AND i.indimmediate AND i.indisvalid AND i.indislive
    AND i.indpred IS NULL AND i.indexprs IS NULL
    AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.unnest(i.indkey::int2[]) AS k(attnum)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE NOT a.attnotnull)
  ORDER BY i.indnkeyatts, ic.relname
  LIMIT 1
$fn$;

CREATE FUNCTION pgincr.on_ddl_command_end() RETURNS event_trigger LANGUAGE plpgsql AS $fn$
DECLARE
  cmd record;
  types text[] := '{}';
  identities text[] := '{}';
  own boolean := false;
  others boolean := false;
  idx name;
  ident text;
  stmt text;
BEGIN
  IF pg_catalog.current_setting('pgincr.internal', true) = 'on' THEN
    RETURN;
  END IF;
  FOR cmd IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
    IF cmd.schema_name = 'pgincr' OR (cmd.object_type = 'schema' AND cmd.object_identity = 'pgincr') THEN
      own := true;
    ELSE
      others := true;
      types := types || cmd.object_type;
      identities := identities || cmd.object_identity;
    END IF;
  END LOOP;
  IF own AND NOT others THEN
    RETURN;
  END IF;
  INSERT INTO pgincr.ddl_history (xid, occurred_at, role_name, search_path, command_tag,
                                  object_types, object_identities, query, schema_version)
  VALUES (0, pg_catalog.clock_timestamp(), current_user, pg_catalog.current_setting('search_path'), TG_TAG,
          types, identities, pg_catalog.current_query(), 1);

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
                                      object_types, object_identities, query, schema_version)
      VALUES (0, pg_catalog.clock_timestamp(), current_user, pg_catalog.current_setting('search_path'), 'ALTER TABLE',
              ARRAY['table'], ARRAY[ident], stmt || ';', 1);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pgincr: could not set a replica identity on %: %', ident, SQLERRM
        USING HINT = 'updates and deletes of this table cannot be captured until it has a primary key or a replica identity';
    END;
  END LOOP;
END
$fn$;

CREATE EVENT TRIGGER pgincr_ddl_command_end ON ddl_command_end
  EXECUTE FUNCTION pgincr.on_ddl_command_end();

CREATE FUNCTION pgincr.record_sequence_positions() RETURNS bigint LANGUAGE sql AS $fn$
  INSERT INTO pgincr.sequence_positions (recorded_at, positions)
  SELECT pg_catalog.clock_timestamp(),
         COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                    'schema', s.schemaname, 'name', s.sequencename,
                    'last_value', COALESCE(s.last_value, s.start_value)::text,
                    'is_called', s.last_value IS NOT NULL)
                  ORDER BY s.schemaname, s.sequencename), '[]'::jsonb)
  FROM pg_catalog.pg_sequences s
  WHERE s.schemaname <> 'pgincr' AND s.schemaname NOT LIKE 'pg\_temp\_%'
  RETURNING id
$fn$;
`;
