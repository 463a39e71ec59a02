/**
 * One health check of a profile: its chain, the capture workflow's state (from Temporal when it
 * answers), then every check of runHealthCheck. Shared by the health-check activity and
 * `pgincr check`, which loads only this (no activities, no worker) so it starts fast.
 */
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { durationMs, type Config } from '../config';
import type { Logger } from '../logger';
import type { HealthReport } from '../core/monitor/health';
import { chainDirFor } from '../activities/chain-dir';
import { profileByName } from '../activities/profiles';
import { askCaptureState } from './capture-state';
import { runHealthCheck } from './check';

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
  });
  return { report, chain };
}
