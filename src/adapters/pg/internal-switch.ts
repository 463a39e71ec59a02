/**
 * pgincr's own sessions keep their DDL out of `pgincr.ddl_history` with the transaction-local
 * setting `pgincr.internal` (docs/security.md): from capture schema version 5 it counts only as
 * `pgincr.internal_token()`, a value only the schema's owner can compute.
 */
import type { Client } from 'pg';

/**
 * Turns recording off for the rest of the current transaction: sets `pgincr.internal` to
 * `pgincr.internal_token()` (schema version 5), or to `on` for an older schema.
 */
export async function setInternal(client: Client): Promise<void> {
  const { rows } = await client.query<{ has: boolean }>("SELECT pg_catalog.to_regprocedure('pgincr.internal_token()') IS NOT NULL AS has");
  if (rows[0]?.has) await client.query("SELECT pg_catalog.set_config('pgincr.internal', pgincr.internal_token(), true)");
  else await client.query("SELECT pg_catalog.set_config('pgincr.internal', 'on', true)");
}
