/**
 * Migration 4: what else a DDL statement's outcome depends on besides its text.
 *
 * - The session settings that change how DDL text is read or what its rewrites compute, one
 *   `pgincr.ddl_history` column each (GUC name in lower case, `current_setting()` text):
 *   `timezone`, `datestyle`, `intervalstyle` (date/time/interval constants, casts such as
 *   `date` → `timestamptz` in `ALTER COLUMN … TYPE`), `extra_float_digits`, `bytea_output`
 *   (casts to text in a rewrite), `standard_conforming_strings` (backslashes in string
 *   constants), `check_function_bodies` (a body referring to objects created later), and
 *   `transform_null_equals`, `array_nulls` (how `x = NULL` and `'{NULL}'` are parsed). The
 *   capture sets them around the replayed DDL (docs/capture.md). Rows of older versions have
 *   NULL there and replay with the segment's settings, as before.
 * - `volatile_rewrites`: tables rewritten by the statement with new columns filled per row
 *   from a volatile default (`gen_random_uuid()`, `clock_timestamp()`, `nextval` of a serial) or
 *   an identity, as `schema.table (col, …)`. A rewrite is not logically decoded, so replay
 *   computes other values: the capture writes a warning comment, and the DDL session gets a
 *   WARNING. Found by a `table_rewrite` trigger (reason "default value"): columns with such a
 *   default whose catalog row this transaction wrote (xmin at or after its xid), left in the
 *   transaction-local setting `pgincr.rewrites` for the `ddl_command_end` trigger.
 * The two DDL trigger functions are replaced (same logic as migration 2, plus these columns;
 * rows now say schema_version 4).
 */
export const version = 4;
export const description = 'ddl_history: session settings of the DDL, tables rewritten from volatile defaults';

/** ddl_history column → the GUC whose value it records. */
export const SETTING_COLUMNS: ReadonlyArray<readonly [column: string, guc: string]> = [
  ['timezone', 'TimeZone'],
  ['datestyle', 'DateStyle'],
  ['intervalstyle', 'IntervalStyle'],
  ['extra_float_digits', 'extra_float_digits'],
  ['bytea_output', 'bytea_output'],
  ['standard_conforming_strings', 'standard_conforming_strings'],
  ['check_function_bodies', 'check_function_bodies'],
  ['transform_null_equals', 'transform_null_equals'],
  ['array_nulls', 'array_nulls'],
];

const COLUMNS = SETTING_COLUMNS.map(([c]) => c).join(', ');
const VALUES = SETTING_COLUMNS.map(([, g]) => `pg_catalog.current_setting('${g}')`).join(', ');
const INSERT_COLUMNS = `xid, occurred_at, role_name, search_path, command_tag, object_types, object_identities, query,
                                  schema_version, phase, statement_ordinal, volatile_rewrites, ${COLUMNS}`;

export const sql = String.raw`
ALTER TABLE pgincr.ddl_history
  ${SETTING_COLUMNS.map(([c]) => `ADD COLUMN ${c} text`).join(',\n  ')},
  ADD COLUMN volatile_rewrites text[];

CREATE FUNCTION pgincr.on_table_rewrite() RETURNS event_trigger LANGUAGE plpgsql AS $fn$
DECLARE
  rel oid := pg_catalog.pg_event_trigger_table_rewrite_oid();
  top bigint;
  previous text := COALESCE(NULLIF(pg_catalog.current_setting('pgincr.rewrites', true), ''), '[]');
  ident text;
  cols text;
BEGIN
  IF pg_catalog.current_setting('pgincr.internal', true) = 'on'
     OR pg_catalog.pg_event_trigger_table_rewrite_reason() & 2 = 0 THEN -- AT_REWRITE_DEFAULT_VAL
    RETURN;
  END IF;
  SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO ident
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = rel AND c.relpersistence <> 't' AND n.nspname <> 'pgincr';
  IF ident IS NULL THEN
    RETURN;
  END IF;
  top := (pg_catalog.pg_current_xact_id()::xid)::text::bigint;
  SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
    FROM pg_catalog.pg_attribute a
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     -- written by this transaction or one of its subtransactions (xids wrap at 2^32)
     AND (a.xmin::text::bigint - top + 4294967296) % 4294967296 < 2147483648
     AND (a.attidentity <> '' OR EXISTS (
           SELECT 1 FROM pg_catalog.regexp_matches(d.adbin::text, ':(?:funcid|opfuncid) (\d+)', 'g') AS m(f)
           JOIN pg_catalog.pg_proc p ON p.oid = m.f[1]::oid
          WHERE p.provolatile = 'v'));
  IF cols IS NOT NULL THEN
    PERFORM pg_catalog.set_config('pgincr.rewrites',
      (previous::jsonb || pg_catalog.jsonb_build_array(ident || ' (' || cols || ')'))::text, true);
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION pgincr.on_ddl_command_start() RETURNS event_trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF pg_catalog.current_setting('pgincr.internal', true) = 'on' THEN
    RETURN;
  END IF;
  INSERT INTO pgincr.ddl_history (${INSERT_COLUMNS})
  VALUES (0, pg_catalog.clock_timestamp(), current_user, pg_catalog.current_setting('search_path'), TG_TAG,
          '{}', '{}', pg_catalog.current_query(), 4, 'start', pgincr.next_firing_ordinal(TG_TAG), NULL, ${VALUES});
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
  rewrites text[];
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
  SELECT pg_catalog.array_agg(r) INTO rewrites
    FROM pg_catalog.jsonb_array_elements_text(COALESCE(NULLIF(pg_catalog.current_setting('pgincr.rewrites', true), ''), '[]')::jsonb) AS r;
  PERFORM pg_catalog.set_config('pgincr.rewrites', '', true);
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
  INSERT INTO pgincr.ddl_history (${INSERT_COLUMNS})
  VALUES (0, pg_catalog.clock_timestamp(), current_user, pg_catalog.current_setting('search_path'), TG_TAG,
          types, identities, pg_catalog.current_query(), 4, 'end', firing, rewrites, ${VALUES});
  IF rewrites IS NOT NULL THEN
    RAISE WARNING 'pgincr: % filled % from a volatile default or an identity; a restore computes other values there',
      TG_TAG, pg_catalog.array_to_string(rewrites, ', ')
      USING HINT = 'take a full backup (pgincr backup full) so restores after this point carry the values';
  END IF;

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
      INSERT INTO pgincr.ddl_history (${INSERT_COLUMNS})
      VALUES (0, pg_catalog.clock_timestamp(), current_user, pg_catalog.current_setting('search_path'), 'ALTER TABLE',
              ARRAY['table'], ARRAY[ident], stmt || ';', 4, 'end', 0, NULL, ${VALUES});
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pgincr: could not set a replica identity on %: %', ident, SQLERRM
        USING HINT = 'updates and deletes of this table cannot be captured until it has a primary key or a replica identity';
    END;
  END LOOP;
END
$fn$;

CREATE EVENT TRIGGER pgincr_table_rewrite ON table_rewrite
  EXECUTE FUNCTION pgincr.on_table_rewrite();
`;
