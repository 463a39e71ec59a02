/**
 * Replica identity for every captured table (ordinary tables and leaf partitions; partitioned
 * parents have no rows of their own, so their leaves are handled). Without a primary key or a
 * replica identity, updates and deletes are not decodable and, under a publication, fail on the
 * primary. The rule is the capture schema's `pgincr.follow_replica_identity` (migration 6), the
 * same function the DDL trigger runs, so setup and the capture agree: an identity that works
 * (DEFAULT with a primary key, FULL, USING INDEX, NOTHING) is left as the user chose it; a table
 * without one gets the primary key's DEFAULT, else USING INDEX the best unique, non-partial,
 * immediate index over NOT NULL columns, else FULL, and is recorded in
 * `pgincr.managed_identity`, so the trigger moves it to DEFAULT or USING INDEX when a key appears.
 */
import type { Client } from 'pg';
import { CAPTURED_TABLE_FILTER, QUOTED_NAME } from './preflight-queries';

export interface ReplicaIdentityRow {
  /** `"schema"."table"` */
  table: string;
  /** `primary key`, `using index <name>`, `full`, `nothing`, or `would fail` (the ALTER failed: see error). */
  action: string;
  /** Whether an ALTER TABLE was (or, without apply, would be) run. */
  changed: boolean;
  error?: string;
}

const TABLES_SQL = `
SELECT c.oid::text AS oid, ${QUOTED_NAME} AS quoted
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE ${CAPTURED_TABLE_FILTER}
ORDER BY n.nspname, c.relname`;

/**
 * Reports (and with `apply`, sets) the replica identity of every captured table, one table per
 * statement (each ALTER commits on its own, as a DBA would run them). Needs the capture schema.
 * Idempotent: a second run changes nothing. A failed ALTER is reported as `would fail`, not thrown.
 */
export async function fixReplicaIdentity(client: Client, options: { apply: boolean }): Promise<ReplicaIdentityRow[]> {
  const { rows: tables } = await client.query<{ oid: string; quoted: string }>(TABLES_SQL);
  const report: ReplicaIdentityRow[] = [];
  for (const t of tables) {
    const { rows } = await client.query<{ action: string; changed: boolean; error: string | null }>(
      'SELECT action, changed, error FROM pgincr.follow_replica_identity($1::oid, $2)',
      [t.oid, options.apply],
    );
    const r = rows[0];
    if (!r) continue; // dropped meanwhile
    report.push(
      r.error === null ? { table: t.quoted, action: r.action, changed: r.changed } : { table: t.quoted, action: r.action, changed: r.changed, error: r.error },
    );
  }
  return report;
}
