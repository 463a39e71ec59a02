/**
 * createActivities(deps): every activity, built from the worker's dependencies. The CLI's direct
 * commands (preflight --direct, check, list, slot admin) call the same functions without Temporal.
 */
import type { CliOnlyActivities, PgincrActivities } from './types';
import type { ActivityDeps } from './context';
import { setupActivities } from '../setup/setup-activities';
import { baseActivities } from '../base/base-activities';
import { captureActivities } from '../capture/capture-activities';
import { coverageActivities } from '../catalog/coverage-activities';
import { restoreActivities } from '../restore/restore-activities';
import { verifyActivities } from '../verify/verify-activities';
import { monitorActivities } from '../monitor/monitor-activities';
import { retentionActivities } from '../retention/retention-activities';
import { catalogActivities } from '../catalog/catalog-activities';
import { withObjectStore } from './object-store-activities';

export type { ActivityDeps };

export function createActivities(deps: ActivityDeps): PgincrActivities & CliOnlyActivities {
  return withObjectStore(deps, {
    ...setupActivities(deps),
    ...baseActivities(deps),
    ...captureActivities(deps),
    ...coverageActivities(deps),
    ...catalogActivities(deps),
    ...restoreActivities(deps),
    ...verifyActivities(deps),
    ...monitorActivities(deps),
    ...retentionActivities(deps),
  });
}
