/**
 * The setup steps (issue 3) as separate idempotent functions; the workflow makes each an
 * activity. Each takes `(deps, input)`; inputs name a profile, never credentials. Order:
 * preflight (./preflight.ts) → installCaptureSchema → fixReplicaIdentity → ensurePublication → takeBase
 * → dumpGlobals → writeMetadata. The base steps live in src/base/ (re-exported here for the order).
 */
import { describeProfile } from '../adapters/pg/connect';
import { migrate, uninstallSchema, type MigrateResult } from '../adapters/pg/migrations';
import { ensureRawCaptureObjects } from '../adapters/pg/raw-capture-objects';
import { dropPublication, ensurePublication as ensurePublicationSql } from '../adapters/pg/publication';
import { fixReplicaIdentity as fixReplicaIdentitySql, type ReplicaIdentityRow } from '../adapters/pg/replica-identity';
import { dropSlot, slotInfo } from '../adapters/pg/slot';
import { findBaseForSlot } from '../base/base-files';
import { profileByName, withProfileClient, type ProfileInput, type SetupDeps } from '../activities/profiles';

export type { ProfileInput, SetupDeps } from '../activities/profiles';

import { chainInfo } from '../activities/chain-dir';
import type { ChainInfo } from '../activities/types';

export { chainInfo };

/** Installs or upgrades the pgincr capture schema (a no-op when current). */
export async function installCaptureSchema(deps: SetupDeps, input: ProfileInput): Promise<MigrateResult> {
  return withProfileClient(deps, input.profile, async (client) => {
    const result = await migrate(client);
    deps.logger.info({ profile: input.profile, ...result }, 'capture schema installed');
    return result;
  });
}

/** Sets a replica identity on every captured table that lacks one (unless setup.fixReplicaIdentity is off). */
export async function fixReplicaIdentity(deps: SetupDeps, input: ProfileInput & { apply?: boolean }): Promise<ReplicaIdentityRow[]> {
  const apply = input.apply ?? deps.config.setup.fixReplicaIdentity;
  return withProfileClient(deps, input.profile, async (client) => {
    const rows = await fixReplicaIdentitySql(client, { apply });
    const changed = rows.filter((r) => r.changed);
    deps.logger.info({ profile: input.profile, apply, changed: changed.map((r) => `${r.table}: ${r.action}`) }, 'replica identity');
    return rows;
  });
}

/** Creates the FOR ALL TABLES publication the pgoutput decoder reads (decoder_raw needs none). */
export async function ensurePublication(deps: SetupDeps, input: ProfileInput): Promise<{ publication: string; created: boolean; skipped: boolean }> {
  const publication = deps.config.capture.publication;
  if (deps.config.capture.decoder !== 'pgoutput') {
    // decoder_raw needs no publication, but its per-table triggers must exist before the base,
    // or a TRUNCATE between the base and the first capture run would be missed.
    await withProfileClient(deps, input.profile, (client) => ensureRawCaptureObjects(client));
    return { publication, created: false, skipped: true };
  }
  return withProfileClient(deps, input.profile, async (client) => {
    const created = await ensurePublicationSql(client, publication);
    return { publication, created, skipped: false };
  });
}

/** Whether the chain is set up: the capture slot exists and a base was taken from it. */
export async function inspectSetup(
  deps: SetupDeps,
  input: ProfileInput,
): Promise<ChainInfo & { alreadySetUp: boolean; slotLost: boolean; slot: string; publication: string; baseId: string | null }> {
  const chain = await chainInfo(deps, input);
  const slot = deps.config.capture.slot;
  const info = await withProfileClient(deps, input.profile, async (client) => slotInfo(client, slot));
  const base = info ? await findBaseForSlot(chain.chainDir, slot) : null;
  // An invalidated slot cannot stream again: its chain is broken, so setup starts a new one.
  const slotLost = info?.walStatus === 'lost';
  return {
    ...chain,
    alreadySetUp: info !== null && !slotLost && base !== null,
    slotLost,
    slot,
    publication: deps.config.capture.publication,
    baseId: base?.id ?? null,
  };
}

/** Drops the capture slot (before a new chain). Returns whether it existed. */
export async function dropChainSlot(deps: SetupDeps, input: ProfileInput): Promise<boolean> {
  return withProfileClient(deps, input.profile, (client) => dropSlot(client, deps.config.capture.slot));
}

/**
 * Removes everything pgincr put into the source database: the slot, the publication, the
 * event triggers and the pgincr schema. The repository is left alone.
 */
export async function uninstall(
  deps: SetupDeps,
  input: ProfileInput & { slot?: string; publication?: string },
): Promise<{ slot: boolean; publication: boolean }> {
  const slot = input.slot ?? deps.config.capture.slot;
  const publication = input.publication ?? deps.config.capture.publication;
  return withProfileClient(deps, input.profile, async (client) => {
    const droppedSlot = await dropSlot(client, slot);
    const droppedPublication = await dropPublication(client, publication);
    await uninstallSchema(client);
    deps.logger.info({ profile: describeProfile(profileByName(deps.config, input.profile)), droppedSlot, droppedPublication }, 'pgincr uninstalled');
    return { slot: droppedSlot, publication: droppedPublication };
  });
}

export { takeBase, writeMetadata } from '../base/take-base';
export { dumpGlobals } from '../base/dump-globals';
