/**
 * Replica identity for every captured table (ordinary tables and leaf partitions; partitioned
 * parents have no rows of their own, so their leaves are handled). Without a primary key or a
 * replica identity, updates and deletes are not decodable and, under a publication, fail on the
 * primary. Choice: the primary key if any; else USING INDEX the best unique, non-partial,
 * immediate index over NOT NULL columns; else FULL.
 */
import { escapeIdentifier, type Client } from 'pg';
import { CAPTURED_TABLE_FILTER, QUOTED_NAME } from './preflight-queries';

export interface ReplicaIdentityRow {
  /** `"schema"."table"` */
  table: string;
  /** `primary key`, `using index <name>`, `full`, or `would fail` (the ALTER failed: see error). */
  action: string;
  /** Whether an ALTER TABLE was (or, without apply, would be) run. */
  changed: boolean;
  error?: string;
}

interface TableState {
  schema: string;
  name: string;
  quoted: string;
  replident: 'd' | 'n' | 'f' | 'i';
  has_pk: boolean;
  current_index: string | null;
  best_index: string | null;
}

const STATE_SQL = `
SELECT n.nspname AS schema, c.relname AS name, ${QUOTED_NAME} AS quoted, c.relreplident AS replident,
  EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_pk,
  (SELECT ic.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
   WHERE i.indrelid = c.oid AND i.indisreplident) AS current_index,
  (SELECT ic.relname
   FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
   WHERE i.indrelid = c.oid AND i.indisunique AND i.indimmediate AND i.indisvalid AND i.indislive
     AND i.indpred IS NULL AND i.indexprs IS NULL
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(i.indkey::int2[]) AS k(attnum)
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     WHERE NOT a.attnotnull)
   ORDER BY i.indnkeyatts, ic.relname LIMIT 1) AS best_index
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE ${CAPTURED_TABLE_FILTER}
ORDER BY n.nspname, c.relname`;

/** What to do with one table: the action label and the ALTER clause, if one is needed. */
function plan(t: TableState): { action: string; clause: string | null } {
  if (t.has_pk) return { action: 'primary key', clause: t.replident === 'd' ? null : 'DEFAULT' };
  if (t.replident === 'f') return { action: 'full', clause: null };
  if (t.replident === 'i' && t.current_index) return { action: `using index ${t.current_index}`, clause: null };
  if (t.best_index) return { action: `using index ${t.best_index}`, clause: `USING INDEX ${escapeIdentifier(t.best_index)}` };
  return { action: 'full', clause: 'FULL' };
}

/**
 * Reports (and with `apply`, sets) the replica identity of every captured table. Idempotent:
 * a second run changes nothing. A failed ALTER is reported as `would fail`, not thrown.
 */
export async function fixReplicaIdentity(client: Client, options: { apply: boolean }): Promise<ReplicaIdentityRow[]> {
  const { rows } = await client.query<TableState>(STATE_SQL);
  const report: ReplicaIdentityRow[] = [];
  for (const t of rows) {
    const { action, clause } = plan(t);
    if (!clause) {
      report.push({ table: t.quoted, action, changed: false });
      continue;
    }
    if (!options.apply) {
      report.push({ table: t.quoted, action, changed: true });
      continue;
    }
    try {
      await client.query(`ALTER TABLE ${escapeIdentifier(t.schema)}.${escapeIdentifier(t.name)} REPLICA IDENTITY ${clause}`);
      report.push({ table: t.quoted, action, changed: true });
    } catch (err) {
      report.push({ table: t.quoted, action: 'would fail', changed: false, error: (err as Error).message });
    }
  }
  return report;
}
