/**
 * Slot administration for the emergency procedure (docs/monitoring.md): drop or advance the
 * capture slot. Both break (drop) or skip part of (advance) the backup chain, so both refuse to
 * run unless `confirm` repeats the slot name. `maybeAutoDrop` does the drop on its own only when
 * `alerts.autoDropSlot` is on and the slot itself is the emergency.
 */
import type { ClientBase } from 'pg';
import type { Profile } from '../config';
import { ConfigError, SlotMissingError } from '../errors';
import { connectProfile } from '../adapters/pg/connect';
import type { HealthReport } from '../core/monitor/health';
import { parseLsn } from '../core/lsn';
import { emitAlert, type AlertLogger, type EmittedAlert } from './alerts';

type Queryable = Pick<ClientBase, 'query'>;

export interface AdminOptions {
  /** Must equal the slot name. */
  confirm: string | undefined;
  env?: NodeJS.ProcessEnv;
}

function requireConfirm(slot: string, confirm: string | undefined, action: string): void {
  if (confirm !== slot) {
    throw new ConfigError(`refusing to ${action} replication slot ${slot}: --confirm ${JSON.stringify(confirm ?? '')} does not name it`, {
      hint: `this breaks the backup chain; pass --confirm ${slot} to proceed`,
    });
  }
}

async function slotActivePid(client: Queryable, slot: string): Promise<{ exists: boolean; pid: number | null }> {
  const { rows } = await client.query<{ active_pid: number | null }>('SELECT active_pid FROM pg_catalog.pg_replication_slots WHERE slot_name = $1', [slot]);
  return rows[0] ? { exists: true, pid: rows[0].active_pid } : { exists: false, pid: null };
}

async function terminateBackend(client: Queryable, pid: number): Promise<void> {
  await client.query('SELECT pg_catalog.pg_terminate_backend($1)', [pid]);
}

async function dropReplicationSlot(client: Queryable, slot: string): Promise<void> {
  await client.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [slot]);
}

/** Stops the process holding the slot (the capture) and waits until it lets go. */
async function releaseSlot(client: Queryable, slot: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { pid } = await slotActivePid(client, slot);
    if (pid === null) return;
    if (Date.now() > deadline) throw new Error(`replication slot ${slot} is still held by pid ${pid} after ${timeoutMs} ms`);
    await terminateBackend(client, pid);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Drops the slot, first terminating the process that holds it. Returns false when the slot
 * did not exist (dropping is idempotent).
 */
export async function dropSlot(profile: Profile, slot: string, opts: AdminOptions): Promise<{ dropped: boolean }> {
  requireConfirm(slot, opts.confirm, 'drop');
  const client = await connectProfile(profile, { application_name: 'pgincr-slot-admin' }, opts.env);
  try {
    if (!(await slotActivePid(client, slot)).exists) return { dropped: false };
    await releaseSlot(client, slot);
    await dropReplicationSlot(client, slot);
    return { dropped: true };
  } finally {
    await client.end();
  }
}

/**
 * Moves the slot's confirmed position forward to `lsn` (`X/Y`, or `current` for
 * pg_current_wal_lsn()), discarding the changes in between from the backup. Returns the
 * position PostgreSQL actually reached.
 */
export async function advanceSlot(profile: Profile, slot: string, lsn: string, opts: AdminOptions): Promise<{ endLsn: string }> {
  requireConfirm(slot, opts.confirm, 'advance');
  if (lsn !== 'current') parseLsn(lsn);
  const client = await connectProfile(profile, { application_name: 'pgincr-slot-admin' }, opts.env);
  try {
    if (!(await slotActivePid(client, slot)).exists) {
      throw new SlotMissingError(`replication slot ${slot} does not exist`, { hint: 'run `pgincr setup --new-chain` to start a new chain' });
    }
    const { rows } = await client.query<{ end_lsn: string }>(
      `SELECT end_lsn::text AS end_lsn FROM pg_catalog.pg_replication_slot_advance($1,
         CASE WHEN $2 = 'current' THEN pg_catalog.pg_current_wal_lsn() ELSE $2::pg_lsn END)`,
      [slot, lsn],
    );
    return { endLsn: rows[0]!.end_lsn };
  } finally {
    await client.end();
  }
}

export interface AutoDropConfig {
  alerts: { autoDropSlot: boolean; webhookUrl?: string | undefined };
  profile: Profile;
  env?: NodeJS.ProcessEnv;
}

export interface AutoDropResult {
  dropped: boolean;
  reason: string;
  alert?: EmittedAlert;
}

/** Emergencies that the slot itself causes (and dropping it ends). */
const DROPPABLE = new Set(['slot.restart_lag', 'slot.wal_status']);

/**
 * Drops the slot when `alerts.autoDropSlot` is true and the report has an emergency about the
 * slot (restart lag over the emergency level, or already lost). Logs at fatal and alerts that
 * a new chain is needed. Never throws: a failed drop is logged and reported.
 */
export async function maybeAutoDrop(report: HealthReport, config: AutoDropConfig, logger: AlertLogger): Promise<AutoDropResult> {
  if (!config.alerts.autoDropSlot) return { dropped: false, reason: 'alerts.autoDropSlot is off' };
  if (report.status !== 'emergency') return { dropped: false, reason: `status is ${report.status}` };
  const cause = report.findings.find((f) => f.severity === 'emergency' && DROPPABLE.has(f.check));
  if (!cause || !report.observations.slot) return { dropped: false, reason: 'the emergency is not one a drop ends' };
  const slot = report.slotName;
  try {
    await dropSlot(config.profile, slot, { confirm: slot, ...(config.env ? { env: config.env } : {}) });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logger.fatal({ event: 'pgincr.slot.auto_drop_failed', slot, error: message }, `automatic drop of replication slot ${slot} failed: ${message}`);
    return { dropped: false, reason: `drop failed: ${message}` };
  }
  const alert = emitAlert(
    logger,
    {
      check: 'slot.auto_drop',
      severity: 'emergency',
      message: `replication slot ${slot} was dropped automatically (${cause.message}): the backup chain is broken; a new chain is needed: run pgincr setup --new-chain`,
      hint: 'run `pgincr setup --new-chain` to take a new base backup and start a new chain',
    },
    { slot, webhookUrl: config.alerts.webhookUrl },
  );
  return { dropped: true, reason: cause.message, alert };
}
