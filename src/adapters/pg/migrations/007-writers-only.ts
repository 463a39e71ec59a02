/**
 * Migration 7: rows of `pgincr.ddl_history` and `pgincr.sequence_positions` come from pgincr's
 * writers only (docs/security.md, "Signed rows").
 *
 * Migration 5 signs every row in a BEFORE INSERT trigger, so a trusted role's direct INSERT was
 * signed too. Now the writers say so first: `pgincr.write_ddl_row` (only inside an event
 * trigger: it asks `pg_event_trigger_ddl_commands()`, which raises anywhere else; or called by
 * `pgincr.record_internal_ddl`, which setup uses for its replica-identity ALTERs) and
 * `pgincr.record_sequence_positions()` put a sealed setting `pgincr.writing` (a MAC of the
 * transaction id with the key, migration 5) naming their table, and the stamp triggers refuse
 * any row inserted without it. A row that bypasses the trigger altogether
 * (`session_replication_role = replica`, a disabled trigger: superusers only) has no signature
 * and is refused by the capture.
 */
import { SETTING_COLUMNS } from './004-ddl-session-settings';

export const version = 7;
export const description = 'capture rows from pgincr writers only: writers mark their insert, stamp triggers refuse any other';

const COLUMNS = SETTING_COLUMNS.map(([c]) => c).join(', ');
const VALUES = SETTING_COLUMNS.map(([, g]) => `pg_catalog.current_setting('${g}')`).join(', ');
const FIXED = 'SECURITY DEFINER SET search_path = pg_catalog, pg_temp';

export const sql = String.raw`
-- Raises unless a writer of this table marked the insert (sealed, bound to this transaction).
CREATE FUNCTION pgincr.require_writer(tbl text) RETURNS void LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
BEGIN
  IF pgincr.unseal('pgincr.writing') IS DISTINCT FROM tbl THEN
    RAISE EXCEPTION 'pgincr.% is written only by pgincr''s own writers', tbl
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'rows of the capture schema are replayed by restores: they come from pgincr''s event triggers and sequence recorder, never from a session';
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION pgincr.stamp_ddl_history() RETURNS trigger LANGUAGE plpgsql ${FIXED} AS $fn$
BEGIN
  PERFORM pgincr.require_writer('ddl_history');
  NEW.xid := pg_catalog.pg_current_xact_id()::text::bigint;
  NEW.sig := pgincr.mac(pgincr.ddl_history_canonical(NEW));
  RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION pgincr.stamp_sequence_positions() RETURNS trigger LANGUAGE plpgsql ${FIXED} AS $fn$
BEGIN
  PERFORM pgincr.require_writer('sequence_positions');
  NEW.sig := pgincr.mac(pgincr.canonical_field(NEW.positions::text));
  RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION pgincr.write_ddl_row(tag text, types text[], identities text[], query text, caller_search_path text,
                                                phase text, ordinal int, rewrites text[]) RETURNS void LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
BEGIN
  -- Raises "can only be called in an event trigger function" anywhere but during DDL, unless
  -- pgincr.record_internal_ddl (setup's replica-identity ALTERs, owner only) is the caller.
  IF pgincr.unseal('pgincr.internal_write') IS DISTINCT FROM 'on' THEN
    PERFORM pg_catalog.count(*) FROM pg_catalog.pg_event_trigger_ddl_commands();
  END IF;
  PERFORM pgincr.set_sealed('pgincr.writing', 'ddl_history');
  INSERT INTO pgincr.ddl_history (xid, occurred_at, role_name, session_user_name, search_path, command_tag, object_types,
                                  object_identities, query, schema_version, phase, statement_ordinal, volatile_rewrites, ${COLUMNS})
  VALUES (0, pg_catalog.clock_timestamp(), pgincr.ddl_role(), SESSION_USER, caller_search_path, tag, types,
          identities, query, 7, phase, ordinal, rewrites, ${VALUES});
  PERFORM pg_catalog.set_config('pgincr.writing', '', true);
END
$fn$;

-- Migration 5's, marking its write (it runs pgincr's own statement, then records it).
CREATE OR REPLACE FUNCTION pgincr.record_internal_ddl(command_tag text, object_identity text, stmt text) RETURNS void
LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
DECLARE
  previous text := COALESCE(pg_catalog.current_setting('pgincr.internal', true), '');
BEGIN
  PERFORM pg_catalog.set_config('pgincr.internal', pgincr.internal_token(), true);
  EXECUTE stmt;
  PERFORM pg_catalog.set_config('pgincr.internal', previous, true);
  PERFORM pgincr.set_sealed('pgincr.internal_write', 'on');
  PERFORM pgincr.write_ddl_row(command_tag, ARRAY['table'], ARRAY[object_identity], stmt || ';',
                               pg_catalog.current_setting('search_path'), 'end', 0, NULL);
  PERFORM pg_catalog.set_config('pgincr.internal_write', '', true);
END
$fn$;

DROP FUNCTION pgincr.record_sequence_positions();
CREATE FUNCTION pgincr.record_sequence_positions() RETURNS bigint LANGUAGE plpgsql VOLATILE ${FIXED} AS $fn$
DECLARE
  new_id bigint;
BEGIN
  PERFORM pgincr.set_sealed('pgincr.writing', 'sequence_positions');
  INSERT INTO pgincr.sequence_positions (recorded_at, positions)
  SELECT pg_catalog.clock_timestamp(),
         COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                    'schema', s.schemaname, 'name', s.sequencename,
                    'last_value', COALESCE(s.last_value, s.start_value)::text,
                    'is_called', s.last_value IS NOT NULL)
                  ORDER BY s.schemaname, s.sequencename), '[]'::jsonb)
  FROM pg_catalog.pg_sequences s
  WHERE s.schemaname <> 'pgincr' AND s.schemaname NOT LIKE 'pg\_temp\_%'
  RETURNING sequence_positions.id INTO new_id;
  PERFORM pg_catalog.set_config('pgincr.writing', '', true);
  RETURN new_id;
END
$fn$;
REVOKE ALL ON FUNCTION pgincr.record_sequence_positions() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgincr.require_writer(text) FROM PUBLIC;
`;
