/**
 * One health check of a profile: its chain, the capture workflow's state (from Temporal when it
 * answers), then every check of runHealthCheck. Shared by the health-check activity and
 * `pgincr check`, which loads only this (no activities, no worker) so it starts fast.
 */
import { basename, join } from 'node:path';
import type { Client } from '@temporalio/client';
import { durationMs, type Config } from '../config';
import type { Logger } from '../logger';
import type { HealthObservations, HealthReport } from '../core/monitor/health';
import { chainDirFor } from '../activities/chain-dir';
import { profileByName } from '../activities/profiles';
import { askCaptureState } from './capture-state';
import { describeError, runHealthCheck } from './check';
import { CATALOG_FILE } from '../core/repository/paths';
import type { CatalogLike } from '../core/monitor/catalog-facts';

/** With an object store the catalog is the bucket's, read directly: no download, no local folder needed. */
async function bucketCatalog(config: Config, chainDir: string): Promise<CatalogLike> {
  // Loaded here only: the AWS SDK is no part of a local repository's `pgincr check` start-up.
  const { objectStoreOf } = require('../activities/object-store') as typeof import('../activities/object-store');
  const { loadStoredCatalog } = require('../adapters/s3/chain-mirror') as typeof import('../adapters/s3/chain-mirror');
  const store = objectStoreOf(config)!;
  const catalog = await loadStoredCatalog(store, basename(chainDir));
  if (!catalog) throw new Error(`no catalog at ${store.describe(`${basename(chainDir)}/${CATALOG_FILE}`)} (has \`pgincr setup\` run?)`);
  return catalog;
}

/** Two repositories: the local chain folder against the bucket's copy (loaded here only: no AWS SDK in a one-repository check's start-up). */
async function compareCopy(config: Config, chainDir: string): Promise<NonNullable<HealthObservations['repositoryCopy']>> {
  const { objectStoreOf } = require('../activities/object-store') as typeof import('../activities/object-store');
  const { compareChain } = require('../adapters/s3/chain-mirror') as typeof import('../adapters/s3/chain-mirror');
  const store = objectStoreOf(config)!;
  const copy = store.describe(basename(chainDir));
  try {
    const d = await compareChain(store, chainDir);
    return { copy, onlyLocal: d.onlyLocal, onlyInCopy: d.onlyInStore, different: d.different };
  } catch (error) {
    return { copy, error: describeError(error) };
  }
}

export async function checkProfile(config: Config, logger: Logger, profile: string, client?: Client): Promise<{ report: HealthReport; chain: string }> {
  const chain = await chainDirFor({ config, logger }, profile).catch(() => join(config.repository, 'unknown'));
  const capture = await askCaptureState(config, profile, client ? { client } : {});
  const report = await runHealthCheck({
    profile: profileByName(config, profile),
    slot: config.capture.slot,
    chainDir: chain,
    alerts: config.alerts,
    ...capture,
    maxBaseAgeMs: 2 * 86_400_000,
    segmentAgeWarningMs: 4 * durationMs(config.capture.segmentMaxAge),
    // Two repositories: the local repository's catalog (it is a repository, and answers while the bucket does not).
    ...(config.objectStore && !config.objectStore.copy ? { loadCatalog: (dir: string) => bucketCatalog(config, dir) } : {}),
    ...(config.objectStore ? { uploads: true } : {}),
    ...(config.objectStore?.copy ? { compareCopy: () => compareCopy(config, chain) } : {}),
  });
  return { report, chain };
}
