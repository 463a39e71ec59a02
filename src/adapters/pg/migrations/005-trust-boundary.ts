/**
 * Migration 5: the trust boundary (docs/security.md). Only pgincr's own trigger functions can
 * write what the restore replays, no role can hide its DDL, and the capture can tell a row
 * pgincr wrote from one that was put there some other way.
 *
 * - `pgincr.secret(key bytea)`: one random 256-bit key per database (sha256 of four random
 *   uuids), readable only by the schema's owner (the setup role) and superusers.
 * - Signed rows: `ddl_history.sig` and `sequence_positions.sig`, set by their BEFORE INSERT
 *   trigger: hex(sha256(key || sha256(key || canonical))), where canonical is every field that
 *   decides what is replayed, each as `<byte length>:<bytes>` (database encoding) or `-` for
 *   NULL (`pgincr.ddl_history_canonical`). The capture checks it (src/core/sql/capture-row-signature.ts)
 *   and refuses a row without a good one.
 * - No grants to PUBLIC: not the schema, not INSERT on ddl_history, not EXECUTE on any function.
 *   The functions that write run as their owner (SECURITY DEFINER) with
 *   `search_path = pg_catalog, pg_temp`; so does every other function here, except the two
 *   event-trigger entry points `on_ddl_command_start` / `on_ddl_command_end`: they must read the
 *   DDL session's search_path (a SET clause would hide it), so their bodies are one call of a
 *   schema-qualified function with `TG_TAG` and `pg_catalog.current_setting('search_path')`.
 * - The DDL's role: `role_name` is the role in effect (`SET ROLE`, else the session user; inside
 *   a SECURITY DEFINER function current_user is pgincr's owner), `session_user_name` the session
 *   user. Rows say schema_version 5.
 * - `pgincr.internal` (pgincr's own sessions: no recording) counts only when it equals
 *   `pgincr.internal_token()`: a MAC of the top-level xid, which only the owner can compute. `on`
 *   is ignored: the DDL is recorded.
 * - The firing ordinals (`statement_ordinal`) are counted in the UNLOGGED table
 *   `pgincr.firing_ordinals`, which no other role can touch (the `pgincr.ordinal_*` settings of
 *   migration 2 could be set or reset between the statements of one query string).
 * - `pgincr.dropped` / `pgincr.rewrites` (passed from the sql_drop / table_rewrite firing to
 *   ddl_command_end) are sealed: value plus a MAC over (name, xid, value); a value that fails the
 *   check is ignored.
 * - `pgincr.guard_replica_identity(tag)`: the new-table guard of migrations 1-4, unchanged,
 *   called at the end of every ddl_command_end firing; it records the ALTER it runs through
 *   `pgincr.record_internal_ddl(command_tag, object_identity, stmt)`.
 */
import { SETTING_COLUMNS } from './004-ddl-session-settings';

export const version = 5;
export const description = 'trust boundary: per-database key, signed rows, SECURITY DEFINER writers, no PUBLIC grants, internal token';

const COLUMNS = SETTING_COLUMNS.map(([c]) => c).join(', ');
const VALUES = SETTING_COLUMNS.map(([, g]) => `pg_catalog.current_setting('${g}')`).join(', ');
const FIXED = 'SECURITY DEFINER SET search_path = pg_catalog, pg_temp';

/** The canonical form's fields, in order (ddl_history columns, text form). */
export const DDL_SIGNED_FIELDS: readonly string[] = [
  'xid',
  'role_name',
  'session_user_name',
  'search_path',
  'command_tag',
  'object_identities',
  'query',
  'phase',
  'statement_ordinal',
  ...SETTING_COLUMNS.map(([c]) => c),
  'volatile_rewrites',
];

export const sql = String.raw`
-- The key. gen_random_uuid() draws from the server's strong random source.
CREATE TABLE pgincr.secret (
  one boolean PRIMARY KEY DEFAULT true CONSTRAINT secret_one_row CHECK (one),
  key bytea NOT NULL
);
REVOKE ALL ON pgincr.secret FROM PUBLIC;
INSERT INTO pgincr.secret (key)
SELECT pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text
       || pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, 'UTF8'));

-- hex(sha256(key || sha256(key || data))). Functions here are plpgsql rather than sql: a sql
-- function that cannot be inlined (SECURITY DEFINER, SET) is planned again at every call.
CREATE FUNCTION pgincr.mac(data bytea) RETURNS text LANGUAGE plpgsql STABLE ${FIXED} AS $fn$
DECLARE
  k bytea;
BEGIN
  SELECT s.key INTO k FROM pgincr.secret s;
  RETURN pg_catalog.encode(pg_catalog.sha256(k OPERATOR(pg_catalog.||) pg_catalog.sha256(k OPERATOR(pg_catalog.||) data)), 'hex');
END
$fn$;

-- One field of a canonical form: '<byte length>:<bytes>' in the database encoding, '-' for NULL.
CREATE FUNCTION pgincr.canonical_field(v text) RETURNS bytea LANGUAGE plpgsql STABLE ${FIXED} AS $fn$
DECLARE
  b bytea;
BEGIN
  IF v IS NULL THEN
    RETURN '\x2d'::bytea;
  END IF;
  b := pg_catalog.convert_to(v, pg_catalog.getdatabaseencoding());
  RETURN pg_catalog.convert_to(pg_catalog.length(b)::text || ':', 'UTF8') OPERATOR(pg_catalog.||) b;
END
$fn$;

-- The token that switches recording off in pgincr's own sessions: bound to this transaction.
CREATE FUNCTION pgincr.internal_token() RETURNS text LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
BEGIN
  RETURN pgincr.mac(pg_catalog.convert_to('internal:' || pg_catalog.pg_current_xact_id()::text, 'UTF8'));
END
$fn$;

CREATE FUNCTION pgincr.internal_on() RETURNS boolean LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
DECLARE
  v text := pg_catalog.current_setting('pgincr.internal', true);
BEGIN
  IF v IS NULL OR pg_catalog.length(v) <> 64 THEN
    RETURN false;
  END IF;
  RETURN v = pgincr.internal_token();
END
$fn$;


-- Sealed transaction-local settings: '<mac>:<value>'.
CREATE FUNCTION pgincr.set_sealed(name text, value text) RETURNS void LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
BEGIN
  PERFORM pg_catalog.set_config(name,
    pgincr.mac(pg_catalog.convert_to('seal:' || name || ':' || pg_catalog.pg_current_xact_id()::text || ':', 'UTF8')
               OPERATOR(pg_catalog.||) pg_catalog.convert_to(value, pg_catalog.getdatabaseencoding())) || ':' || value, true);
END
$fn$;

-- The value of a sealed setting; NULL when absent or when it fails the check (set by anyone else).
CREATE FUNCTION pgincr.unseal(name text) RETURNS text LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
DECLARE
  s text := pg_catalog.current_setting(name, true);
  value text;
BEGIN
  IF s IS NULL OR pg_catalog.length(s) < 65 OR pg_catalog.substr(s, 65, 1) <> ':' THEN
    RETURN NULL;
  END IF;
  value := pg_catalog.substr(s, 66);
  IF pg_catalog.left(s, 64) = pgincr.mac(pg_catalog.convert_to('seal:' || name || ':' || pg_catalog.pg_current_xact_id()::text || ':', 'UTF8')
                                         OPERATOR(pg_catalog.||) pg_catalog.convert_to(value, pg_catalog.getdatabaseencoding())) THEN
    RETURN value;
  END IF;
  RAISE WARNING 'pgincr: ignoring the setting %, which was not set by pgincr', name;
  RETURN NULL;
END
$fn$;

ALTER TABLE pgincr.ddl_history ADD COLUMN session_user_name text, ADD COLUMN sig text;
ALTER TABLE pgincr.sequence_positions ADD COLUMN sig text;

-- canonical_field of each signed field, concatenated (inline: a call per field costs more).
CREATE FUNCTION pgincr.ddl_history_canonical(r pgincr.ddl_history) RETURNS bytea LANGUAGE plpgsql STABLE ${FIXED} AS $fn$
DECLARE
  enc name := pg_catalog.getdatabaseencoding();
  acc bytea := ''::bytea;
  v text;
  b bytea;
BEGIN
  FOREACH v IN ARRAY ARRAY[${DDL_SIGNED_FIELDS.map((f) => `r.${f}::text`).join(', ')}] LOOP
    IF v IS NULL THEN
      acc := acc OPERATOR(pg_catalog.||) '\x2d'::bytea;
    ELSE
      b := pg_catalog.convert_to(v, enc);
      acc := acc OPERATOR(pg_catalog.||) pg_catalog.convert_to(pg_catalog.length(b)::text || ':', 'UTF8') OPERATOR(pg_catalog.||) b;
    END IF;
  END LOOP;
  RETURN acc;
END
$fn$;

CREATE OR REPLACE FUNCTION pgincr.stamp_ddl_history() RETURNS trigger LANGUAGE plpgsql ${FIXED} AS $fn$
BEGIN
  NEW.xid := pg_catalog.pg_current_xact_id()::text::bigint;
  NEW.sig := pgincr.mac(pgincr.ddl_history_canonical(NEW));
  RETURN NEW;
END
$fn$;

CREATE FUNCTION pgincr.stamp_sequence_positions() RETURNS trigger LANGUAGE plpgsql ${FIXED} AS $fn$
BEGIN
  NEW.sig := pgincr.mac(pgincr.canonical_field(NEW.positions::text));
  RETURN NEW;
END
$fn$;

CREATE TRIGGER stamp BEFORE INSERT ON pgincr.sequence_positions
  FOR EACH ROW EXECUTE FUNCTION pgincr.stamp_sequence_positions();

-- The role that ran the DDL: SET ROLE's, else the session user (current_user here is the owner).
CREATE FUNCTION pgincr.ddl_role() RETURNS text LANGUAGE plpgsql STABLE ${FIXED} AS $fn$
BEGIN
  RETURN COALESCE(NULLIF(pg_catalog.current_setting('role'), 'none'), SESSION_USER::text);
END
$fn$;

-- The writer: one ddl_history row for the DDL running now (the stamp trigger adds xid and sig).
CREATE FUNCTION pgincr.write_ddl_row(tag text, types text[], identities text[], query text, caller_search_path text,
                                     phase text, ordinal int, rewrites text[]) RETURNS void LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
BEGIN
  INSERT INTO pgincr.ddl_history (xid, occurred_at, role_name, session_user_name, search_path, command_tag, object_types,
                                  object_identities, query, schema_version, phase, statement_ordinal, volatile_rewrites, ${COLUMNS})
  VALUES (0, pg_catalog.clock_timestamp(), pgincr.ddl_role(), SESSION_USER, caller_search_path, tag, types,
          identities, query, 5, phase, ordinal, rewrites, ${VALUES});
END
$fn$;

-- Firing ordinals: the n-th (from 0) firing of the tag's verb within the current client statement.
CREATE UNLOGGED TABLE pgincr.firing_ordinals (
  xid xid8 NOT NULL,
  statement_key text NOT NULL,
  verb text NOT NULL,
  n int NOT NULL,
  PRIMARY KEY (xid, statement_key, verb)
);

CREATE OR REPLACE FUNCTION pgincr.next_firing_ordinal(tag text) RETURNS int LANGUAGE plpgsql ${FIXED} AS $fn$
DECLARE
  x xid8 := pg_catalog.pg_current_xact_id();
  stmt text := pg_catalog.date_part('epoch', pg_catalog.statement_timestamp())::text || '/'
               || pg_catalog.md5(COALESCE(pg_catalog.current_query(), ''));
  n int;
BEGIN
  INSERT INTO pgincr.firing_ordinals AS f (xid, statement_key, verb, n)
  VALUES (x, stmt, pg_catalog.lower(pg_catalog.split_part(tag, ' ', 1)), 0)
  ON CONFLICT (xid, statement_key, verb) DO UPDATE SET n = f.n + 1
  RETURNING f.n INTO n;
  IF n = 0 AND pg_catalog.right(x::text, 1) = '0' THEN -- now and then: rows of finished transactions (older than every running one)
    DELETE FROM pgincr.firing_ordinals WHERE ctid IN (
      SELECT ctid FROM pgincr.firing_ordinals
       WHERE xid < pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
       FOR UPDATE SKIP LOCKED);
  END IF;
  RETURN n;
END
$fn$;

-- Runs one statement of pgincr's own (recording off), then records it as DDL of the current
-- statement's role. Interface kept stable for later migrations.
CREATE FUNCTION pgincr.record_internal_ddl(command_tag text, object_identity text, stmt text) RETURNS void
LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
DECLARE
  previous text := COALESCE(pg_catalog.current_setting('pgincr.internal', true), '');
BEGIN
  PERFORM pg_catalog.set_config('pgincr.internal', pgincr.internal_token(), true);
  EXECUTE stmt;
  PERFORM pg_catalog.set_config('pgincr.internal', previous, true);
  PERFORM pgincr.write_ddl_row(command_tag, ARRAY['table'], ARRAY[object_identity], stmt || ';',
                               pg_catalog.current_setting('search_path'), 'end', 0, NULL);
END
$fn$;

-- The new-table guard (migrations 1-4): a table created without a primary key gets REPLICA
-- IDENTITY USING INDEX (best index) or FULL. Interface kept stable for later migrations.
CREATE FUNCTION pgincr.guard_replica_identity(tag text) RETURNS void LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
DECLARE
  cmd record;
  idx name;
  ident text;
  stmt text;
BEGIN
  IF tag NOT IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') THEN
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
      PERFORM pgincr.record_internal_ddl('ALTER TABLE', ident, stmt);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pgincr: could not set a replica identity on %: %', ident, SQLERRM
        USING HINT = 'updates and deletes of this table cannot be captured until it has a primary key or a replica identity';
    END;
  END LOOP;
END
$fn$;

CREATE FUNCTION pgincr.ddl_command_start_impl(tag text, caller_search_path text) RETURNS void LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
BEGIN
  IF pgincr.internal_on() THEN
    RETURN;
  END IF;
  PERFORM pgincr.write_ddl_row(tag, '{}', '{}', pg_catalog.current_query(), caller_search_path, 'start',
                               pgincr.next_firing_ordinal(tag), NULL);
END
$fn$;

CREATE FUNCTION pgincr.ddl_command_end_impl(tag text, caller_search_path text) RETURNS void LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
DECLARE
  cmd record;
  types text[] := '{}';
  identities text[] := '{}';
  skipped boolean := false;
  others boolean := false;
  dropped text;
  rewrites text[];
  firing int;
BEGIN
  IF pgincr.internal_on() THEN
    RETURN;
  END IF;
  dropped := COALESCE(NULLIF(pgincr.unseal('pgincr.dropped'), ''), '[]');
  PERFORM pg_catalog.set_config('pgincr.dropped', '', true);
  SELECT pg_catalog.array_agg(r) INTO rewrites
    FROM pg_catalog.jsonb_array_elements_text(COALESCE(NULLIF(pgincr.unseal('pgincr.rewrites'), ''), '[]')::jsonb) AS r;
  PERFORM pg_catalog.set_config('pgincr.rewrites', '', true);
  IF tag NOT IN ('CREATE TABLE AS', 'SELECT INTO') THEN
    firing := pgincr.next_firing_ordinal(tag); -- counted whether or not the firing is recorded
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
  IF others OR NOT skipped THEN -- not: only temporary objects or pgincr's own
    PERFORM pgincr.write_ddl_row(tag, types, identities, pg_catalog.current_query(), caller_search_path, 'end', firing, rewrites);
    IF rewrites IS NOT NULL THEN
      RAISE WARNING 'pgincr: % filled % from a volatile default or an identity; a restore computes other values there',
        tag, pg_catalog.array_to_string(rewrites, ', ')
        USING HINT = 'take a full backup (pgincr backup full) so restores after this point carry the values';
    END IF;
  END IF;
  PERFORM pgincr.guard_replica_identity(tag);
END
$fn$;

-- The event-trigger entry points: no SET clause (see the module comment), nothing but one call.
CREATE OR REPLACE FUNCTION pgincr.on_ddl_command_start() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $fn$
BEGIN
  PERFORM pgincr.ddl_command_start_impl(TG_TAG, pg_catalog.current_setting('search_path'));
END
$fn$;

CREATE OR REPLACE FUNCTION pgincr.on_ddl_command_end() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $fn$
BEGIN
  PERFORM pgincr.ddl_command_end_impl(TG_TAG, pg_catalog.current_setting('search_path'));
END
$fn$;

-- From here the triggers honour only the token (until here the runner's 'on' kept the
-- triggers of migration 4 quiet; nothing but pgincr's own objects was changed in between).
SELECT pg_catalog.set_config('pgincr.internal', pgincr.internal_token(), true);

CREATE OR REPLACE FUNCTION pgincr.on_sql_drop() RETURNS event_trigger LANGUAGE plpgsql ${FIXED} AS $fn$
DECLARE
  previous text;
  dropped jsonb;
BEGIN
  IF pgincr.internal_on() THEN
    RETURN;
  END IF;
  previous := COALESCE(NULLIF(pgincr.unseal('pgincr.dropped'), ''), '[]');
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'type', d.object_type, 'identity', d.object_identity,
           'kind', CASE WHEN d.schema_name = 'pgincr' OR (d.object_type = 'schema' AND d.object_name = 'pgincr') THEN 'own'
                        WHEN d.is_temporary THEN 'temp' ELSE 'other' END)), '[]'::jsonb)
    INTO dropped
    FROM pg_catalog.pg_event_trigger_dropped_objects() d
   WHERE d.original;
  PERFORM pgincr.set_sealed('pgincr.dropped', (previous::jsonb || dropped)::text);
END
$fn$;

CREATE OR REPLACE FUNCTION pgincr.on_table_rewrite() RETURNS event_trigger LANGUAGE plpgsql ${FIXED} AS $fn$
DECLARE
  rel oid := pg_catalog.pg_event_trigger_table_rewrite_oid();
  top bigint;
  previous text;
  ident text;
  cols text;
BEGIN
  IF pg_catalog.pg_event_trigger_table_rewrite_reason() & 2 = 0 OR pgincr.internal_on() THEN -- AT_REWRITE_DEFAULT_VAL
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
    previous := COALESCE(NULLIF(pgincr.unseal('pgincr.rewrites'), ''), '[]');
    PERFORM pgincr.set_sealed('pgincr.rewrites',
      (previous::jsonb || pg_catalog.jsonb_build_array(ident || ' (' || cols || ')'))::text);
  END IF;
END
$fn$;

-- Nothing for PUBLIC; everything else with a fixed search_path.
REVOKE INSERT ON pgincr.ddl_history FROM PUBLIC;
REVOKE USAGE ON SEQUENCE pgincr.ddl_history_id_seq FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pgincr FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgincr FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgincr FROM PUBLIC;
REVOKE ALL ON SCHEMA pgincr FROM PUBLIC;
DO $do$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid FROM pg_catalog.pg_proc p
     WHERE p.pronamespace = 'pgincr'::regnamespace
       AND p.proname NOT IN ('on_ddl_command_start', 'on_ddl_command_end')
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
  LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
  END LOOP;
END
$do$;
`;
