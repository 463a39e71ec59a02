/**
 * What the applier asks the target before merging statements (core/restore/merge-changes.ts):
 * the shapes of the tables a run of statements names, and whether any INSERT trigger or rule can
 * fire. Shared by whole batches (apply-segments.ts) and a large transaction's pieces (apply-large.ts).
 */
import type { Client } from 'pg';
import { batchTables, mergeBatch, parseBatch, type BatchBody } from '../core/restore/merge-changes';
import type { MergedBatch } from '../core/restore/merge-sql';
import type { TableShapes } from './table-shapes';

/** True when an INSERT could fire a trigger or rule under `session_replication_role = replica`. */
export async function insertTriggersFire(client: Client): Promise<boolean> {
  const r = await client.query<{ fires: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgenabled IN ('A', 'R') AND (tgtype & 4) <> 0)
         OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite WHERE ev_enabled IN ('A', 'R') AND ev_type = '3') AS fires`,
  );
  return r.rows[0]?.fires !== false;
}

/**
 * The merged SQL of `bodies`, reading shapes of tables not seen since the last DDL. `idle` waits
 * for whatever runs on the connection: never a catalog query inside a batch that is still running.
 */
export async function mergedSql(
  client: Client,
  shapes: TableShapes,
  bodies: readonly BatchBody[],
  options: { insertRuns: boolean; copy: boolean },
  idle: () => Promise<void>,
): Promise<MergedBatch> {
  const lines = parseBatch(bodies);
  const tables = batchTables(lines);
  if (shapes.missing(tables)) {
    await idle();
    await shapes.load(client, tables);
  }
  return mergeBatch(lines, (table) => shapes.get(table), options);
}
