/**
 * createActivities(deps): every activity, built from the worker's dependencies. The CLI's direct
 * commands (preflight --direct, check, list, slot admin) call the same functions without Temporal.
 */
import type { PgincrActivities } from './types';
import type { ActivityDeps } from './context';
import { setupActivities } from '../setup/setup-activities';
import { captureActivities } from '../capture/capture-activities';
import { coverageActivities } from '../catalog/coverage-activities';
import { restoreActivities } from '../restore/restore-activities';
import { monitorActivities, type CliOnlyActivities } from '../monitor/monitor-activities';

export type { ActivityDeps };

export function createActivities(deps: ActivityDeps): PgincrActivities & CliOnlyActivities {
  return {
    ...setupActivities(deps),
    ...captureActivities(deps),
    ...coverageActivities(deps),
    ...restoreActivities(deps),
    ...monitorActivities(deps),
  };
}
