/**
 * Migration 6: the replica identity follows the schema.
 *
 * Before, a table created without a primary key got `REPLICA IDENTITY FULL` (or `USING INDEX`)
 * and kept it after `ALTER TABLE … ADD PRIMARY KEY` (pgbench -i, pg_restore, many ORMs and bulk
 * loads add their keys after the data): every UPDATE then logged the whole old row on the
 * source and the restore matched it by every column. Now:
 *
 * - `pgincr.managed_identity`: the tables whose identity pgincr set, and to what.
 * - `pgincr.follow_replica_identity(rel, apply)`: the one rule, used by the DDL trigger and by
 *   setup for existing tables. A table pgincr manages gets DEFAULT when it has a primary key,
 *   else `USING INDEX` the best usable index (`pgincr.identity_index`: unique, immediate,
 *   valid, not partial, no expressions, NOT NULL columns; a usable index it already uses is
 *   kept), else FULL. A table pgincr does not manage is left alone while its identity works
 *   (DEFAULT with a primary key, FULL, USING INDEX with its index, NOTHING, which only a user
 *   sets); without one (DEFAULT without a primary key, USING INDEX whose index was dropped)
 *   pgincr takes it over as above. A managed table whose identity letter is no longer what
 *   pgincr set was changed by someone else: it is the user's from then on. Each ALTER goes
 *   through `pgincr.record_internal_ddl`, so it runs with the internal switch on (not recorded
 *   a second time by the trigger) and is recorded in ddl_history, in the transaction of the DDL
 *   that caused it: the restore replays it at its place in the stream. A failed ALTER is
 *   reported (`would fail`, the error), not raised.
 * - Upgrades: a table the new-table guard of migrations 1-5 set (its ALTER recorded in the
 *   CREATE's transaction, in the guard's own words, no later `REPLICA IDENTITY` DDL naming it)
 *   and still so is entered in managed_identity; setup's next pass (right after the migration)
 *   then gives it its key's DEFAULT if it has one.
 * - `pgincr.guard_replica_identity(tag)`, called at the end of the `ddl_command_end` trigger:
 *   applies that rule to the tables the firing touched (CREATE TABLE [AS], SELECT INTO, ALTER
 *   TABLE, CREATE/ALTER INDEX; the leaf partitions of a partitioned table), and, for a DROP
 *   that can take a key or an index away (DROP INDEX, and those that cascade to one: DROP TYPE,
 *   SCHEMA, OWNED, EXTENSION, …; the objects are gone by then, an index no longer names its
 *   table), to every managed table and every table whose identity index is gone. Every DROP
 *   removes the managed_identity rows of dropped tables. A user's own
 *   `ALTER TABLE … REPLICA IDENTITY` (the statement text names it) removes the tables it alters
 *   from managed_identity and they are not touched.
 */
export const version = 6;
export const description = 'replica identity follows the schema: managed_identity, follow_replica_identity, guard for keys added or dropped';

export const sql = String.raw`
CREATE TABLE pgincr.managed_identity (
  relid oid PRIMARY KEY,
  identity "char" NOT NULL CONSTRAINT managed_identity_identity_check CHECK (identity IN ('d', 'i', 'f')),
  table_name text NOT NULL,
  index_name name,
  set_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
REVOKE ALL ON pgincr.managed_identity FROM PUBLIC;

INSERT INTO pgincr.managed_identity (relid, identity, table_name, index_name)
SELECT DISTINCT ON (c.oid) c.oid, c.relreplident, h.object_identities[1],
       (SELECT ic.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisreplident)
  FROM pgincr.ddl_history h
  JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(h.object_identities[1])
 WHERE h.command_tag = 'ALTER TABLE' AND h.phase = 'end' AND pg_catalog.cardinality(h.object_identities) = 1
   AND ((c.relreplident = 'f' AND h.query = 'ALTER TABLE ' || h.object_identities[1] || ' REPLICA IDENTITY FULL;')
        OR (c.relreplident = 'i' AND h.query = 'ALTER TABLE ' || h.object_identities[1] || ' REPLICA IDENTITY USING INDEX '
              || (SELECT pg_catalog.quote_ident(ic.relname) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                   WHERE i.indrelid = c.oid AND i.indisreplident) || ';'))
   AND EXISTS (SELECT 1 FROM pgincr.ddl_history cr
                WHERE cr.xid = h.xid AND cr.id < h.id AND cr.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
                  AND h.object_identities[1] = ANY (cr.object_identities))
   AND NOT EXISTS (SELECT 1 FROM pgincr.ddl_history l
                    WHERE l.id > h.id AND h.object_identities[1] = ANY (l.object_identities) AND l.query ~* 'replica\s+identity')
 ORDER BY c.oid, h.id DESC;

CREATE FUNCTION pgincr.follow_replica_identity(rel oid, apply boolean)
RETURNS TABLE (action text, changed boolean, error text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  t record;
  has_pk boolean;
  current_idx oid;
  current_name name;
  managed boolean;
  recorded "char";
  best name;
  want "char";
  clause text;
  ident text;
BEGIN
  SELECT c.relreplident, n.nspname, c.relname INTO t
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = rel AND c.relkind = 'r' AND c.relpersistence = 'p'
     AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'pgincr')
     AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%';
  IF NOT FOUND THEN
    RETURN; -- not a captured table (or gone)
  END IF;
  has_pk := EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = rel AND i.indisprimary);
  SELECT i.indexrelid, ic.relname INTO current_idx, current_name
    FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
   WHERE i.indrelid = rel AND i.indisreplident;
  SELECT m.identity INTO recorded FROM pgincr.managed_identity m WHERE m.relid = rel;
  managed := FOUND;
  IF managed AND recorded <> t.relreplident THEN
    managed := false; -- changed by someone else since pgincr set it: the user's choice now
    IF apply THEN
      DELETE FROM pgincr.managed_identity WHERE relid = rel;
    END IF;
  END IF;
  IF NOT managed THEN
    action := CASE
      WHEN t.relreplident = 'f' THEN 'full'
      WHEN t.relreplident = 'n' THEN 'nothing'
      WHEN t.relreplident = 'i' AND current_idx IS NOT NULL THEN 'using index ' || current_name
      WHEN t.relreplident = 'd' AND has_pk THEN 'primary key' END;
    IF action IS NOT NULL THEN
      changed := false;
      RETURN NEXT;
      RETURN;
    END IF;
    -- no usable identity (DEFAULT without a primary key, or its identity index dropped): take it over
  END IF;
  IF has_pk THEN
    want := 'd';
    action := 'primary key';
    clause := 'DEFAULT';
  ELSIF t.relreplident = 'i' AND current_idx IS NOT NULL THEN
    want := 'i'; -- a usable index pgincr chose before: kept (no ALTER for a new candidate)
    action := 'using index ' || current_name;
  ELSE
    best := pgincr.identity_index(rel);
    IF best IS NULL THEN
      want := 'f';
      action := 'full';
      clause := 'FULL';
    ELSE
      want := 'i';
      action := 'using index ' || best;
      clause := pg_catalog.format('USING INDEX %I', best);
    END IF;
  END IF;
  IF want = t.relreplident AND (want <> 'i' OR current_idx IS NOT NULL) THEN
    changed := false;
    IF apply AND NOT managed THEN
      INSERT INTO pgincr.managed_identity (relid, identity, table_name, index_name)
      VALUES (rel, want, pg_catalog.format('%I.%I', t.nspname, t.relname), current_name);
    END IF;
    RETURN NEXT;
    RETURN;
  END IF;
  changed := true;
  IF NOT apply THEN
    RETURN NEXT;
    RETURN;
  END IF;
  ident := pg_catalog.format('%I.%I', t.nspname, t.relname);
  BEGIN
    PERFORM pgincr.record_internal_ddl('ALTER TABLE', ident, pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY %s', ident, clause));
    INSERT INTO pgincr.managed_identity AS m (relid, identity, table_name, index_name)
    VALUES (rel, want, ident, CASE WHEN want = 'i' THEN best END)
    ON CONFLICT (relid) DO UPDATE
      SET identity = EXCLUDED.identity, table_name = EXCLUDED.table_name, index_name = EXCLUDED.index_name,
          set_at = pg_catalog.clock_timestamp();
  EXCEPTION WHEN OTHERS THEN
    action := 'would fail';
    changed := false;
    error := SQLERRM;
  END;
  RETURN NEXT;
END
$fn$;
REVOKE ALL ON FUNCTION pgincr.follow_replica_identity(oid, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION pgincr.guard_replica_identity(tag text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  dropping boolean := tag LIKE 'DROP %';
  -- a DROP that can take away another table's key or identity index (by CASCADE, too)
  dropping_keys boolean := tag LIKE 'DROP %' AND tag NOT IN (
    'DROP TABLE', 'DROP VIEW', 'DROP MATERIALIZED VIEW', 'DROP SEQUENCE', 'DROP FUNCTION', 'DROP PROCEDURE',
    'DROP ROUTINE', 'DROP AGGREGATE', 'DROP TRIGGER', 'DROP POLICY', 'DROP RULE', 'DROP FOREIGN TABLE',
    'DROP STATISTICS', 'DROP PUBLICATION', 'DROP SUBSCRIPTION', 'DROP EVENT TRIGGER');
  user_choice boolean;
  r record;
  f record;
BEGIN
  IF NOT dropping AND tag NOT IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'CREATE INDEX', 'ALTER INDEX') THEN
    RETURN;
  END IF;
  -- The user's own ALTER TABLE … REPLICA IDENTITY: what it sets is theirs. (The text may name
  -- it in another statement of the same query string: then pgincr leaves a table alone that
  -- it could have managed, never the other way round.)
  user_choice := tag = 'ALTER TABLE' AND pg_catalog.current_query() ~* 'replica\s+identity';
  IF dropping THEN
    DELETE FROM pgincr.managed_identity m WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = m.relid);
  END IF;
  FOR r IN
    WITH direct AS (
      SELECT DISTINCT CASE WHEN d.object_type = 'index'
                           THEN (SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = d.objid)
                           ELSE d.objid END AS relid
        FROM pg_catalog.pg_event_trigger_ddl_commands() d
       WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.object_type IN ('table', 'index')
    )
    SELECT direct.relid FROM direct WHERE direct.relid IS NOT NULL
    UNION -- a partitioned table's leaves (pg_partition_tree gives no rows for a table outside a partition tree)
    SELECT p.relid FROM direct, pg_catalog.pg_partition_tree(direct.relid) p WHERE direct.relid IS NOT NULL AND p.isleaf
    UNION
    SELECT m.relid FROM pgincr.managed_identity m WHERE dropping_keys
    UNION
    SELECT c.oid FROM pg_catalog.pg_class c
     WHERE dropping_keys AND c.relkind = 'r' AND c.relreplident = 'i'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)
  LOOP
    IF user_choice THEN
      DELETE FROM pgincr.managed_identity WHERE relid = r.relid;
      CONTINUE;
    END IF;
    FOR f IN SELECT * FROM pgincr.follow_replica_identity(r.relid, true) WHERE error IS NOT NULL LOOP
      RAISE WARNING 'pgincr: could not set a replica identity on %: %', r.relid::regclass, f.error
        USING HINT = 'updates and deletes of this table cannot be captured (and fail under the publication) until it has a primary key or a replica identity';
    END LOOP;
  END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION pgincr.guard_replica_identity(text) FROM PUBLIC;
`;
