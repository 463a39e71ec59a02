/**
 * A pgincr test environment: a throwaway cluster, a repository in a temp dir, a config whose
 * `default` profile is the cluster's database, and the real activities for an in-process worker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from '../../src/config';
import { createLogger } from '../../src/logger';
import { createActivities } from '../../src/activities';
import type { PgCluster } from './pg-cluster';
import { TEST_NAMESPACE } from './test-namespace';
import type { TemporalTestContext } from './temporal';
import type { SetupResult } from '../../src/workflows/setup';

export interface PgincrTestEnv {
  config: Config;
  repository: string;
  activities: ReturnType<typeof createActivities>;
  cleanup(): void;
}

export function pgincrTestEnv(pg: PgCluster, dbname: string, overrides: Record<string, unknown> = {}): PgincrTestEnv {
  const repository = mkdtempSync(join(tmpdir(), 'pgincr-repo-'));
  const raw = {
    repository,
    profiles: { default: pg.profile(dbname), admin: pg.profile('postgres') },
    ...overrides,
    // This jest worker's namespace, where its in-process workers poll (test-namespace.ts).
    temporal: { namespace: TEST_NAMESPACE, ...(overrides.temporal as object | undefined) },
    capture: { heartbeatInterval: '1s', segmentMaxAge: '1h', sequenceInterval: '2s', ...(overrides.capture as object | undefined) },
  };
  const config = parseConfig(raw, {}, 'test config');
  const logger = createLogger({ level: process.env.PGINCR_TEST_LOG_LEVEL ?? 'warn', pretty: false });
  return {
    config,
    repository,
    activities: createActivities({ config, logger }),
    cleanup: () => rmSync(repository, { recursive: true, force: true }),
  };
}

/** Polls `probe` until it returns true, or fails after `timeoutMs` naming `what`. */
export { waitFor } from './wait';

/** Runs setupWorkflow (no capture started) for `profile` on the test's task queue; returns its result. */
export async function runSetupWorkflow(temporal: TemporalTestContext, options: { profile?: string; label?: string } = {}): Promise<SetupResult> {
  return (await temporal.client.workflow.execute('setupWorkflow', {
    taskQueue: temporal.taskQueue,
    workflowId: temporal.workflowId(options.label ?? 'setup'),
    args: [{ profile: options.profile ?? 'default', startCapture: false }],
  })) as SetupResult;
}
