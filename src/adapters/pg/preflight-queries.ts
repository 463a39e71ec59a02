/**
 * The facts preflight needs, one query each. Judging them is pure (`core/preflight/checks.ts`).
 */
import type { Client } from 'pg';
import { parseListSetting, type FullIdentityTable, type PreflightFacts, type PreflightOptions } from '../../core/preflight/checks';

/** Captured tables: ordinary tables and partitions, permanent, outside system schemas and pgincr. */
export const CAPTURED_TABLE_FILTER = `
  c.relkind = 'r' AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'pgincr')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'`;

/** `"schema"."table"` with embedded quotes doubled, computed by the server. */
export const QUOTED_NAME = `'"' || replace(n.nspname, '"', '""') || '"."' || replace(c.relname, '"', '""') || '"'`;

async function one<T>(client: Client, sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await client.query(sql, params);
  return rows[0] as T;
}

async function settings(client: Client): Promise<Record<string, string>> {
  const { rows } = await client.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_catalog.pg_settings
     WHERE name IN ('server_version_num', 'server_version', 'wal_level', 'max_replication_slots',
                    'max_wal_senders', 'max_slot_wal_keep_size', 'output_plugin_libraries', 'event_triggers')`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
}

export async function tablesWithoutIdentity(client: Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT ${QUOTED_NAME} AS name
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE ${CAPTURED_TABLE_FILTER}
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
       AND (c.relreplident IN ('d', 'n')
            OR (c.relreplident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)))
     ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

/**
 * The best index `REPLICA IDENTITY USING INDEX` can use on table `c` (unique, immediate, valid,
 * not partial, no expressions, NOT NULL columns; fewest key columns first), quoted; the same
 * choice as the capture schema's `pgincr.identity_index`, which preflight cannot assume exists.
 */
const USABLE_INDEX = `(SELECT '"' || replace(ic.relname, '"', '""') || '"'
   FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
   WHERE i.indrelid = c.oid AND i.indisunique AND i.indimmediate AND i.indisvalid AND i.indislive
     AND i.indpred IS NULL AND i.indexprs IS NULL
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(i.indkey::int2[]) AS k(attnum)
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     WHERE NOT a.attnotnull)
   ORDER BY i.indnkeyatts, ic.relname LIMIT 1)`;

/** Captured tables with REPLICA IDENTITY FULL that have a primary key or a usable unique index. */
export async function fullIdentityWithKey(client: Client): Promise<FullIdentityTable[]> {
  const { rows } = await client.query<{ name: string; has_pk: boolean; index: string | null }>(
    `SELECT name, has_pk, index FROM (
       SELECT ${QUOTED_NAME} AS name,
              EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_pk,
              ${USABLE_INDEX} AS index
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE ${CAPTURED_TABLE_FILTER} AND c.relreplident = 'f') t
     WHERE has_pk OR index IS NOT NULL
     ORDER BY 1`,
  );
  return rows.map((r) => ({ table: r.name, index: r.has_pk ? null : r.index }));
}

export async function unloggedTables(client: Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT ${QUOTED_NAME} AS name
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'u' ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

async function slotFacts(client: Client, slot: string | undefined, serverVersionNum: number): Promise<PreflightFacts['slot']> {
  if (!slot) return null;
  // pg_replication_slots.failover exists from PostgreSQL 17 (failover slots).
  const failover = serverVersionNum >= 170000 ? 'failover' : 'NULL::boolean AS failover';
  const row = await one<{ plugin: string | null; database: string | null; slot_type: string; failover: boolean | null } | undefined>(
    client,
    `SELECT plugin, database, slot_type, ${failover} FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  return row ? { name: slot, plugin: row.plugin, database: row.database, slotType: row.slot_type, failover: row.failover } : null;
}

/**
 * Proves an output plugin loads by creating and dropping a temporary slot with it. Skipped
 * (null) when that cannot work anyway (not logical, no privilege, no free slot), since other
 * checks report those. Creating a slot waits for running transactions: bounded by a timeout.
 */
export async function tryLoadDecoder(client: Client, plugin: string): Promise<{ ok: boolean; error?: string }> {
  const name = `pgincr_preflight_${process.pid}_${Date.now() % 100000}`;
  try {
    await client.query("SET statement_timeout = '15s'");
    await client.query('SELECT pg_catalog.pg_create_logical_replication_slot($1, $2, true)', [name, plugin]);
    await client.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [name]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    await client.query('RESET statement_timeout').catch(() => undefined);
  }
}

export async function gatherPreflightFacts(client: Client, options: PreflightOptions): Promise<PreflightFacts> {
  const s = await settings(client);
  const role = await one<{ rolname: string; rolsuper: boolean; rolreplication: boolean; db: string }>(
    client,
    'SELECT rolname, rolsuper, rolreplication, current_database() AS db FROM pg_catalog.pg_roles WHERE rolname = current_user',
  );
  const counts = await one<{ slots: number; senders: number; los: number }>(
    client,
    `SELECT
      (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int AS slots,
      (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walsender')::int AS senders,
      (SELECT count(*) FROM pg_catalog.pg_largeobject_metadata)::int AS los`,
  );
  const facts: PreflightFacts = {
    serverVersionNum: Number(s.server_version_num),
    serverVersion: s.server_version ?? '?',
    database: role.db,
    walLevel: s.wal_level ?? '?',
    maxReplicationSlots: Number(s.max_replication_slots),
    usedReplicationSlots: counts.slots,
    maxWalSenders: Number(s.max_wal_senders),
    usedWalSenders: counts.senders,
    slot: await slotFacts(client, options.slot, Number(s.server_version_num)),
    superuser: role.rolsuper,
    replication: role.rolreplication,
    roleName: role.rolname,
    maxSlotWalKeepSize: s.max_slot_wal_keep_size ?? '-1',
    tablesWithoutIdentity: await tablesWithoutIdentity(client),
    fullIdentityWithKey: await fullIdentityWithKey(client),
    unloggedTables: await unloggedTables(client),
    largeObjects: counts.los,
    outputPluginLibraries: s.output_plugin_libraries ?? null,
    decoderLoad: null,
    eventTriggers: s.event_triggers ?? null,
  };
  const allowListed = facts.outputPluginLibraries === null || parseListSetting(facts.outputPluginLibraries).includes(options.decoder);
  const canTry =
    facts.walLevel === 'logical' && (facts.superuser || facts.replication) && facts.usedReplicationSlots < facts.maxReplicationSlots && allowListed;
  if (options.decoder === 'decoder_raw' && canTry) facts.decoderLoad = await tryLoadDecoder(client, options.decoder);
  return facts;
}
