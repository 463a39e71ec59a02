/**
 * Logical replication slots: creation with an exported snapshot (the no-gap/no-overlap point of
 * a base backup), and catalog queries. The snapshot lives only while the replication connection
 * that created the slot stays open and idle, so `createSlotWithSnapshot` hands back `close()`
 * and runs nothing else on that connection.
 */
import type { Client } from 'pg';
import type { Profile } from '../../config';
import { parseLsn, type Lsn } from '../../core/lsn';
import { ConfigError, NotReadyError } from '../../errors';
import { connectProfile, openReplicationConnection } from './connect';

export interface SlotInfo {
  slotName: string;
  plugin: string | null;
  slotType: string;
  database: string | null;
  temporary: boolean;
  active: boolean;
  activePid: number | null;
  restartLsn: string | null;
  confirmedFlushLsn: string | null;
  walStatus: string | null;
}

export interface CreatedSlot {
  slotName: string;
  plugin: string;
  consistentLsn: Lsn;
  snapshotName: string;
  /** Ends the replication connection: the snapshot ends, and a temporary slot is dropped. */
  close(): Promise<void>;
}

const NAME = /^[a-z0-9_]{1,63}$/;

function checkName(kind: string, name: string): void {
  if (!NAME.test(name)) throw new ConfigError(`invalid ${kind} name ${JSON.stringify(name)}`, { hint: 'use a-z, 0-9 and _ (at most 63)' });
}

export async function slotInfo(client: Client, slot: string): Promise<SlotInfo | null> {
  const { rows } = await client.query(
    `SELECT slot_name, plugin, slot_type, database, temporary, active, active_pid,
            restart_lsn::text, confirmed_flush_lsn::text, wal_status
     FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    slotName: r.slot_name,
    plugin: r.plugin,
    slotType: r.slot_type,
    database: r.database,
    temporary: r.temporary,
    active: r.active,
    activePid: r.active_pid,
    restartLsn: r.restart_lsn,
    confirmedFlushLsn: r.confirmed_flush_lsn,
    walStatus: r.wal_status,
  };
}

/** Drops a slot if it exists; returns whether it did. An active slot is an error (55006). */
export async function dropSlot(client: Client, slot: string): Promise<boolean> {
  const info = await slotInfo(client, slot);
  if (!info) return false;
  if (info.active) {
    throw new NotReadyError(`slot ${slot} is active (pid ${info.activePid ?? '?'}) and cannot be dropped`, {
      hint: 'stop the capture that uses it first (pgincr capture stop)',
    });
  }
  await client.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [slot]);
  return true;
}

function translateCreateError(err: unknown, slot: string): Error {
  const e = err as Error & { code?: string };
  switch (e.code) {
    case '42710':
      return new NotReadyError(`slot ${slot} already exists`, { cause: err, hint: 'drop it if unused, or choose another capture.slot' });
    case '53400':
      return new NotReadyError(`cannot create slot ${slot}: all replication slots are in use (${e.message})`, {
        cause: err,
        hint: 'raise max_replication_slots in postgresql.conf and restart, or drop unused slots',
      });
    case '53300':
      return new NotReadyError(`cannot open a replication connection for slot ${slot}: ${e.message}`, {
        cause: err,
        hint: 'raise max_wal_senders in postgresql.conf and restart',
      });
    case '58P01':
    case '42704':
      return new NotReadyError(`cannot create slot ${slot}: ${e.message}`, { cause: err, hint: 'install the output plugin or use capture.decoder = pgoutput' });
    default:
      return e;
  }
}

/** Describes the slot that holds the name (on a normal connection: walsenders take simple queries only). */
async function slotTakenError(profile: Profile, slot: string, cause: unknown): Promise<Error> {
  let detail = '';
  try {
    const client = await connectProfile(profile);
    try {
      const s = await slotInfo(client, slot);
      if (s) detail = ` (${s.slotType}, plugin ${s.plugin ?? '(none)'}, database ${s.database ?? '(none)'}${s.active ? ', active' : ''})`;
    } finally {
      await client.end();
    }
  } catch {
    /* the description is a courtesy */
  }
  return new NotReadyError(`slot ${slot} already exists${detail}`, {
    cause,
    hint: `drop it if it is unused (pgincr slot drop ${slot} --confirm ${slot}), or choose another capture.slot`,
  });
}

/** The command text; PostgreSQL 15 has the option-list form, 13/14 the keyword form. */
export function createSlotCommand(slot: string, plugin: string, temporary: boolean, serverVersionNum: number): string {
  const temp = temporary ? ' TEMPORARY' : '';
  const snapshot = serverVersionNum >= 150000 ? "(SNAPSHOT 'export')" : 'EXPORT_SNAPSHOT';
  return `CREATE_REPLICATION_SLOT ${slot}${temp} LOGICAL ${plugin} ${snapshot}`;
}

/**
 * Creates a logical slot and exports its snapshot. Fails with a clear error when the name is
 * taken (by any slot: the caller decides whether to drop it) or no slot/WAL sender is free.
 * The returned connection stays open and idle until `close()`.
 */
export async function createSlotWithSnapshot(profile: Profile, options: { slot: string; plugin: string; temporary: boolean }): Promise<CreatedSlot> {
  checkName('slot', options.slot);
  checkName('output plugin', options.plugin);
  let repl: Client;
  try {
    repl = await openReplicationConnection(profile);
  } catch (err) {
    throw translateCreateError(err, options.slot);
  }
  try {
    const { rows: v } = await repl.query<{ server_version_num: string }>('SHOW server_version_num');
    const command = createSlotCommand(options.slot, options.plugin, options.temporary, Number(v[0]!.server_version_num));
    let row: { slot_name: string; consistent_point: string; snapshot_name: string };
    try {
      row = (await repl.query(command)).rows[0];
    } catch (err) {
      if ((err as { code?: string }).code === '42710') throw await slotTakenError(profile, options.slot, err);
      throw translateCreateError(err, options.slot);
    }
    let closed = false;
    return {
      slotName: row.slot_name,
      plugin: options.plugin,
      consistentLsn: parseLsn(row.consistent_point),
      snapshotName: row.snapshot_name,
      async close() {
        if (closed) return;
        closed = true;
        await repl.end();
      },
    };
  } catch (err) {
    await repl.end().catch(() => undefined);
    throw err;
  }
}
