import { quick } from './activity-options';
import { healthInput, type HealthInput } from './inputs';
import { parseInput } from './validate';
import type { HealthResult } from '../activities/types';

/** Slot lag, WAL status, capture liveness, backup age, disk: alerts on thresholds. */
export async function healthCheckWorkflow(raw: HealthInput): Promise<HealthResult> {
  const input = parseInput(healthInput, raw, 'healthCheckWorkflow');
  return quick.healthCheck({ profile: input.profile });
}
