/**
 * One health check of a profile: its chain, the capture workflow's state (from Temporal when it
 * answers), then every check of runHealthCheck. Shared by the health-check activity and
 * `pgincr check`, which loads only this (no activities, no worker) so it starts fast.
 */
import { basename, join } from 'node:path';
import type { Client } from '@temporalio/client';
import { durationMs, type Config } from '../config';
import type { Logger } from '../logger';
import type { HealthReport } from '../core/monitor/health';
import { chainDirFor } from '../activities/chain-dir';
import { profileByName } from '../activities/profiles';
import { askCaptureState } from './capture-state';
import { runHealthCheck } from './check';
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
    ...(config.objectStore ? { loadCatalog: (dir: string) => bucketCatalog(config, dir), uploads: true } : {}),
  });
  return { report, chain };
}
